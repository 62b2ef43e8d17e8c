/**
 * Schema versions of the embedded store, applied in order, each once, in a transaction.
 * Never edit a released migration: add the next one.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    name        TEXT,
    role        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  );

  CREATE TABLE event_types (
    name             TEXT PRIMARY KEY,
    description      TEXT NOT NULL,
    schema           TEXT NOT NULL,
    tenant_pointer   TEXT NOT NULL,
    project_pointer  TEXT NOT NULL,
    created_at       INTEGER NOT NULL
  );

  CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    name                TEXT,
    url                 TEXT NOT NULL,
    secret              TEXT NOT NULL,
    tenant_id           TEXT,
    project_id          TEXT,
    method              TEXT NOT NULL,
    content_type        TEXT NOT NULL,
    max_attempts        INTEGER NOT NULL,
    active              INTEGER NOT NULL,
    base64_ca           TEXT,
    proxy_url           TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_event_name     TEXT,
    last_status         TEXT,
    last_status_code    INTEGER,
    last_dispatched_at  INTEGER,
    -- deliveries kept for the history; pruning runs when it passes the limit plus a margin
    history_count       INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id, project_id);

  -- one row per subscribed event name: the fan-out looks webhooks up by event name
  CREATE TABLE webhook_events (
    event_name  TEXT NOT NULL,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (event_name, webhook_id)
  );
  CREATE INDEX webhook_events_by_webhook ON webhook_events (webhook_id);

  CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    event_name  TEXT NOT NULL,
    body        TEXT NOT NULL,
    tenant_id   TEXT,
    project_id  TEXT,
    created_at  INTEGER NOT NULL
  );
  CREATE INDEX events_by_created ON events (created_at);

  CREATE TABLE deliveries (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    webhook_id        TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL,
    event_name        TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- while pending: when it is due; while claimed: when the claim lapses
    next_attempt_at   INTEGER,
    claimed_by        TEXT,
    status_code       INTEGER,
    error_code        TEXT,
    error_message     TEXT,
    duration_ms       INTEGER,
    dispatched_at     INTEGER,
    request_headers   TEXT,
    response_body     TEXT,
    created_at        INTEGER NOT NULL
  );
  CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
  CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);
  CREATE INDEX deliveries_by_event ON deliveries (event_id);

  CREATE TABLE attempts (
    delivery_id     TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt_number  INTEGER NOT NULL,
    started_at      INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    status_code     INTEGER,
    error_code      TEXT,
    error_message   TEXT,
    PRIMARY KEY (delivery_id, attempt_number)
  );

  CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
  );
  `,
  // Access control: tokens with a role and a reach, that can expire and be revoked; a webhook
  // secret being rotated keeps its predecessor valid until a deadline.
  `
  ALTER TABLE tokens ADD COLUMN tenant_id TEXT;
  ALTER TABLE tokens ADD COLUMN project_id TEXT;
  ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
  ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
  ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
  ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at INTEGER;
  `,
  // Webhook secrets encrypted at rest: the installation's own values, such as the check value
  // that tells at start-up whether the configured key is the one the secrets were encrypted with.
  `
  CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  );
  `,
  // Operations: deliveries queued again name the one they came from; a webhook keeps its run of
  // failures, and why and when Herald set it inactive by itself.
  `
  ALTER TABLE deliveries ADD COLUMN resent_from TEXT;
  ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
  ALTER TABLE webhooks ADD COLUMN disabled_at INTEGER;
  ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;
  ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
  `,
  // Claims look per webhook when the oldest due work all belongs to webhooks that cannot take
  // more (see claim-plan.ts): each webhook's earliest pending delivery is one index probe away.
  `
  CREATE INDEX deliveries_pending_by_webhook ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
  `,
  // A webhook's history count is of its finished deliveries: outcomes count them and prune,
  // publishes never touch the webhook's row (see the stores' recordAttempts).
  `
  UPDATE webhooks SET history_count =
    (SELECT count(*) FROM deliveries d WHERE d.webhook_id = webhooks.id AND d.status <> 'pending');
  `,
  // A claim is its own column: claiming writes lease_until beside next_attempt_at instead of
  // moving next_attempt_at to the lease's end, so the row keeps its place in the pending-by-
  // webhook index (one entry per webhook, spread over the file) and only its due-index entry,
  // next to the other claims of the batch, is rewritten. Claimed rows stay in the due index,
  // skipped by their lease without reading the row.
  `
  ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
  DROP INDEX deliveries_due;
  CREATE INDEX deliveries_due ON deliveries (next_attempt_at, lease_until) WHERE status = 'pending';
  `,
];
