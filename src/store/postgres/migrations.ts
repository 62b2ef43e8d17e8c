/**
 * Schema versions of the PostgreSQL store, applied in order, each once, under an advisory lock
 * so that several Herald processes starting together migrate exactly once. Never edit a
 * released migration: add the next one.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id          text PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    name        text,
    role        text NOT NULL,
    created_at  bigint NOT NULL
  );

  CREATE TABLE event_types (
    name             text PRIMARY KEY,
    description      text NOT NULL,
    schema           text NOT NULL,
    tenant_pointer   text NOT NULL,
    project_pointer  text NOT NULL,
    created_at       bigint NOT NULL
  );

  CREATE TABLE webhooks (
    id                  text PRIMARY KEY,
    name                text,
    url                 text NOT NULL,
    secret              text NOT NULL,
    tenant_id           text,
    project_id          text,
    method              text NOT NULL,
    content_type        text NOT NULL,
    max_attempts        integer NOT NULL,
    active              boolean NOT NULL,
    base64_ca           text,
    proxy_url           text,
    created_at          bigint NOT NULL,
    updated_at          bigint NOT NULL,
    last_event_name     text,
    last_status         text,
    last_status_code    integer,
    last_dispatched_at  bigint,
    history_count       integer NOT NULL DEFAULT 0
  );
  CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id, project_id);

  CREATE TABLE webhook_events (
    event_name  text NOT NULL,
    webhook_id  text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (event_name, webhook_id)
  );
  CREATE INDEX webhook_events_by_webhook ON webhook_events (webhook_id);

  CREATE TABLE events (
    id          text PRIMARY KEY,
    event_name  text NOT NULL,
    body        text NOT NULL,
    tenant_id   text,
    project_id  text,
    created_at  bigint NOT NULL
  );
  CREATE INDEX events_by_created ON events (created_at);

  CREATE TABLE deliveries (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                text NOT NULL UNIQUE,
    webhook_id        text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id          text NOT NULL,
    event_name        text NOT NULL,
    status            text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    -- while pending: when it is due; while claimed: when the claim lapses
    next_attempt_at   bigint,
    claimed_by        text,
    status_code       integer,
    error_code        text,
    error_message     text,
    duration_ms       integer,
    dispatched_at     bigint,
    request_headers   text,
    response_body     text,
    created_at        bigint NOT NULL
  );
  CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
  CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);
  CREATE INDEX deliveries_by_event ON deliveries (event_id);

  CREATE TABLE attempts (
    delivery_id     text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt_number  integer NOT NULL,
    started_at      bigint NOT NULL,
    duration_ms     integer NOT NULL,
    status_code     integer,
    error_code      text,
    error_message   text,
    PRIMARY KEY (delivery_id, attempt_number)
  );

  CREATE TABLE idempotency_keys (
    key          text PRIMARY KEY,
    fingerprint  text NOT NULL,
    response     text NOT NULL,
    created_at   bigint NOT NULL
  );
  `,
  // Access control: tokens with a role and a reach, that can expire and be revoked; a webhook
  // secret being rotated keeps its predecessor valid until a deadline.
  `
  ALTER TABLE tokens ADD COLUMN tenant_id text;
  ALTER TABLE tokens ADD COLUMN project_id text;
  ALTER TABLE tokens ADD COLUMN expires_at bigint;
  ALTER TABLE tokens ADD COLUMN revoked_at bigint;
  ALTER TABLE webhooks ADD COLUMN previous_secret text;
  ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at bigint;
  `,
  // Webhook secrets encrypted at rest: the installation's own values, such as the check value
  // that tells at start-up whether the configured key is the one the secrets were encrypted with.
  `
  CREATE TABLE settings (
    name   text PRIMARY KEY,
    value  text NOT NULL
  );
  `,
  // Operations: deliveries queued again name the one they came from; a webhook keeps its run of
  // failures, and why and when Herald set it inactive by itself.
  `
  ALTER TABLE deliveries ADD COLUMN resent_from text;
  ALTER TABLE webhooks ADD COLUMN disabled_reason text;
  ALTER TABLE webhooks ADD COLUMN disabled_at bigint;
  ALTER TABLE webhooks ADD COLUMN failing_since bigint;
  ALTER TABLE webhooks ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
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
  // Deliveries and attempts lose their foreign keys: a key is checked, or cascaded, by a query
  // per row (a delivery row cost 13 µs to insert with it, 8 without; one pruned with its attempts
  // cost 5.7 µs by the cascade, 1.8 by one statement for the batch). The store does the same once
  // per statement instead: a publish locks its subscribers' rows (KEY SHARE, as the key did),
  // deleting a webhook deletes its deliveries and their attempts, and pruning its attempts.
  `
  ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_webhook_id_fkey;
  ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_delivery_id_fkey;
  `,
  // Ids compare byte by byte: only their equality and a stable order matter, never a language's
  // sorting, and under the database's collation (en_US.UTF-8, C.UTF-8) every comparison in
  // their indexes went through the locale's string comparison, several for each index entry a
  // delivery adds.
  `
  ALTER TABLE webhooks ALTER COLUMN id TYPE text COLLATE "C";
  ALTER TABLE webhook_events ALTER COLUMN webhook_id TYPE text COLLATE "C";
  ALTER TABLE events ALTER COLUMN id TYPE text COLLATE "C";
  ALTER TABLE deliveries ALTER COLUMN id TYPE text COLLATE "C", ALTER COLUMN webhook_id TYPE text COLLATE "C",
    ALTER COLUMN event_id TYPE text COLLATE "C";
  ALTER TABLE attempts ALTER COLUMN delivery_id TYPE text COLLATE "C";
  `,
  // Deliveries are not indexed by event: every write of a delivery row (queued, claimed,
  // completed) added an entry to that index too, about a tenth of the database's work per
  // delivery, for the one reader that used it, the janitor looking for events without
  // deliveries every few minutes. It reads the deliveries in one pass instead (pruneOrphans).
  `
  DROP INDEX IF EXISTS deliveries_by_event;
  `,
  // Every batch of outcomes rewrites its webhooks' rows (last event, history count). With room
  // left on the row's page the new version goes there without new index entries (a heap-only
  // update); on a full page (webhooks are written once and packed) it went to another page,
  // with an entry in each of the table's indexes. Half a page of room costs a few megabytes for
  // 10,000 webhooks; it applies to pages written from now on.
  `
  ALTER TABLE webhooks SET (fillfactor = 50);
  `,
  // Deliveries are found by id (unique) and listed by webhook in seq order; no statement looks
  // one up by seq alone, yet its primary key's index took an entry at every write of a row
  // (queued, claimed, completed), as the index by event did. seq stays the insertion order. The
  // unique id identifies a row for logical replication, as the key did.
  `
  ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_pkey;
  ALTER TABLE deliveries REPLICA IDENTITY USING INDEX deliveries_id_key;
  `,
];
