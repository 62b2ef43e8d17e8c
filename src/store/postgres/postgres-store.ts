import pg from 'pg';
import type { EventTypeDefinition } from '../../core/catalog.js';
import { newId, newIdStem } from '../../core/ids.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { WebhookWithSecret } from '../../core/types.js';
import {
  PATCHABLE_COLUMNS,
  groupByWebhook,
  latestRecord,
  outcomeColumns,
  toDeliveryDetail,
  toDeliverySummary,
  toEventType,
  toToken,
  toTokenExport,
  toWebhook,
  withoutLastEvent,
  type Row,
} from '../rows.js';
import { newSnapshot, type Snapshot } from '../snapshot.js';
import { boolArray, int4Array, int8Array, textArray } from './binary-arrays.js';
import { PreparedClient } from './prepared-client.js';
import {
  KEY_CHECK_SETTING,
  assertKeyMatches,
  hydrateClaims,
  encryptPlainRows,
  newKeyCheck,
  secretAssignments,
} from '../secret-columns.js';
import {
  HISTORY_LIMIT,
  type AttemptRecord,
  type AutoDisablePolicy,
  type ClaimRequest,
  type ClaimedBatch,
  type ClaimedBatchPage,
  type ClaimedDelivery,
  type DeliveryDetail,
  type DeliveryListFilter,
  type DeliverySummary,
  type DirectDeliveryRequest,
  type HandOffMessage,
  type NewEvent,
  type PublishOutcome,
  type PublishRequest,
  type PublishedEvent,
  type ResendRequest,
  type QueueStats,
  type Store,
  type StoredWebhook,
  type TokenRecord,
  type WebhookCountFilter,
  type WebhookListFilter,
  type WebhookPatch,
} from '../types.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { WorkNotifier } from './notifier.js';
import { HISTORY_PRUNE_MARGIN } from '../tuning.js';
import { afterClaimed, ClaimRoute, headWindow, perWebhookLookFollows, planSlots, type SlotPlan } from '../claim-plan.js';
import { failureRunOf, nextFailureRun, sameFailureRun } from '../failure-run.js';

/** Any constant works: it only has to be the same in every Herald process. */
const MIGRATION_LOCK_KEY = 7_041_968_233;
/** Deadlocks and serialisation failures are retried this many times before giving up. */
const TRANSACTION_TRIES = 5;
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

const INT8_OID = 20;
/** Timestamps are bigint milliseconds: well inside the range a JS number holds exactly. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresStoreOptions {
  connectionString: string;
  /** The schema Herald's tables live in; created when missing. */
  schema: string;
  poolSize?: number;
  /** Encrypts webhook secrets at rest; every process on one database needs the same key. */
  secrets: SecretBox;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The delivery sessions' settings (see deliveryPool). The queue's statistics are always behind:
 * a fan-out or a batch adds thousands of due rows between two analyses, and a planner that
 * still counts a few rows then reads every due row to sort them at each claim, or scans the
 * whole table to match a batch of outcomes. Every delivery statement is an index walk by
 * design, so these sessions are never offered anything else.
 */
export const DELIVERY_SESSION_SETTINGS = ' -c synchronous_commit=off -c enable_seqscan=off -c enable_bitmapscan=off';

/**
 * The scale-out store: several Herald processes share one PostgreSQL database. Claims use
 * `FOR UPDATE SKIP LOCKED`, so two processes never claim the same delivery, and a claim is a
 * lease that lapses by time, so a dead process's deliveries are taken over. LISTEN/NOTIFY wakes
 * idle dispatchers in every process as soon as work is queued.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly notifier: WorkNotifier;
  /** Chooses each claim's first step; see claim-plan.ts. */
  private readonly claimRoute = new ClaimRoute();

  private constructor(
    private readonly pool: pg.Pool,
    /** Claims and outcomes. Their commits do not wait for the disk: a claim lost in a database
     * crash only lapses, and a lost outcome means the delivery is sent again, which
     * at-least-once allows. Accepted events go through `pool`, whose commits do wait. */
    private readonly deliveryPool: pg.Pool,
    private readonly options: PostgresStoreOptions,
  ) {
    this.notifier = new WorkNotifier(options.connectionString, channelName(options.schema));
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    assertSchemaName(options.schema);
    const newPool = (max: number, settings: string) =>
      new pg.Pool({
        connectionString: options.connectionString,
        Client: PreparedClient,
        max,
        types,
        // Set in the connection's start-up packet: every query on it sees Herald's schema.
        options: `-c search_path=${quoteIdentifier(options.schema)}${settings}`,
      });
    const pool = newPool(options.poolSize ?? 10, '');
    const deliveryPool = newPool(4, DELIVERY_SESSION_SETTINGS);
    // An idle connection that breaks must not take the process down; the pool replaces it.
    pool.on('error', () => undefined);
    deliveryPool.on('error', () => undefined);
    const store = new PostgresStore(pool, deliveryPool, options);
    try {
      await store.migrate();
      await store.protectSecrets();
      await store.notifier.start();
    } catch (error) {
      await Promise.all([pool.end(), deliveryPool.end()]);
      throw error;
    }
    return store;
  }

  async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.options.schema)}`);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      const { rows } = await client.query('SELECT coalesce(max(version), 0) AS version FROM schema_migrations');
      for (let version = rows[0].version as number; version < POSTGRES_MIGRATIONS.length; version++) {
        await client.query(POSTGRES_MIGRATIONS[version]);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [version + 1, Date.now()]);
      }
    });
  }

  /**
   * Checks the key against the stored check value (the first process to start records it), then
   * encrypts the secrets of rows written before they were encrypted. Under the migration lock,
   * so processes starting together agree on one key and encrypt each row once.
   */
  private async protectSecrets(): Promise<void> {
    const secrets = this.options.secrets;
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
        KEY_CHECK_SETTING,
        newKeyCheck(secrets),
      ]);
      const [check] = await this.rows('SELECT value FROM settings WHERE name = $1', [KEY_CHECK_SETTING], client);
      assertKeyMatches(secrets, check.value as string);
      const plain = encryptPlainRows(await this.rows('SELECT id, secret, previous_secret FROM webhooks', [], client), secrets);
      if (plain.length === 0) return;
      await client.query(
        `UPDATE webhooks w SET secret = p.secret, previous_secret = p.previous_secret
         FROM unnest($1::text[], $2::text[], $3::text[]) AS p (id, secret, previous_secret) WHERE w.id = p.id`,
        [plain.map((row) => row.id), plain.map((row) => row.secret), plain.map((row) => row.previousSecret)],
      );
    });
  }

  async close(): Promise<void> {
    await this.notifier.stop();
    await Promise.all([this.pool.end(), this.deliveryPool.end()]);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Runs `work` in one transaction, again from the start after a deadlock. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>, pool = this.pool): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (error as { code?: string }).code ?? '';
        if (attempt >= TRANSACTION_TRIES || !RETRYABLE_SQLSTATES.has(code)) throw error;
      } finally {
        client.release();
      }
    }
  }

  private async rows(sql: string, params: unknown[] = [], client: Queryable = this.pool): Promise<Row[]> {
    return (await client.query(sql, params)).rows as Row[];
  }

  // ---- tokens ----

  async countTokens(): Promise<number> {
    const [row] = await this.rows('SELECT count(*)::int AS n FROM tokens');
    return row.n as number;
  }

  async insertToken(token: TokenRecord & { tokenHash: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO tokens (id, token_hash, name, role, tenant_id, project_id, created_at, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [token.id, token.tokenHash, token.name, token.role, token.tenantId, token.projectId, token.createdAt, token.expiresAt, token.revokedAt],
    );
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    const [row] = await this.rows('SELECT * FROM tokens WHERE token_hash = $1', [tokenHash]);
    return row ? toToken(row) : null;
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const [row] = await this.rows('SELECT * FROM tokens WHERE id = $1', [id]);
    return row ? toToken(row) : null;
  }

  async listTokens(filter: { tenantId?: string }): Promise<TokenRecord[]> {
    const rows =
      filter.tenantId === undefined
        ? await this.rows('SELECT * FROM tokens ORDER BY id DESC')
        : await this.rows('SELECT * FROM tokens WHERE tenant_id = $1 ORDER BY id DESC', [filter.tenantId]);
    return rows.map(toToken);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    const result = await this.pool.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id]);
    return result.rowCount === 1;
  }

  // ---- event types ----

  async listCustomEventTypes(): Promise<EventTypeDefinition[]> {
    const rows = await this.rows('SELECT * FROM event_types ORDER BY name');
    return rows.map(toEventType);
  }

  async insertEventType(definition: EventTypeDefinition, now: number): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO event_types (name, description, schema, tenant_pointer, project_pointer, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
      [
        definition.name,
        definition.description,
        JSON.stringify(definition.schema),
        definition.tenantIdPointer,
        definition.projectIdPointer,
        now,
      ],
    );
    return result.rowCount === 1;
  }

  // ---- webhooks ----

  async insertWebhook(webhook: WebhookWithSecret): Promise<void> {
    await this.transaction(async (client) => {
      await client.query(
        `INSERT INTO webhooks (id, name, url, secret, tenant_id, project_id, method, content_type, max_attempts,
           active, base64_ca, proxy_url, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
        [
          webhook.id,
          webhook.name,
          webhook.url,
          this.options.secrets.encrypt(webhook.secret),
          webhook.tenantId,
          webhook.projectId,
          webhook.method,
          webhook.contentType,
          webhook.maxAttempts,
          webhook.active,
          webhook.base64CA,
          webhook.proxyUrl,
          webhook.createdAt,
          webhook.updatedAt,
        ],
      );
      await replaceSubscriptions(client, webhook.id, webhook.events);
    });
  }

  async getWebhook(id: string): Promise<StoredWebhook | null> {
    const [row] = await this.rows(`SELECT w.*, ${EVENTS_OF_WEBHOOK} FROM webhooks w WHERE w.id = $1`, [id]);
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(filter: WebhookListFilter): Promise<StoredWebhook[]> {
    const { where, params } = webhookConditions(filter);
    const sql = `SELECT w.*, ${EVENTS_OF_WEBHOOK} FROM webhooks w ${where} ORDER BY w.id LIMIT $${params.push(filter.limit)}`;
    return (await this.rows(sql, params)).map(toWebhook);
  }

  async countWebhooks(filter: WebhookCountFilter): Promise<number> {
    const { where, params } = webhookConditions(filter);
    const [{ n }] = await this.rows(`SELECT count(*)::int AS n FROM webhooks w ${where}`, params);
    return n as number;
  }

  async updateWebhook(id: string, patch: WebhookPatch, now: number): Promise<StoredWebhook | null> {
    const params: unknown[] = [id, now];
    const assignments = ['updated_at = $2'];
    for (const [field, column] of PATCHABLE_COLUMNS) {
      if (patch[field] === undefined) continue;
      params.push(patch[field]);
      assignments.push(`${column} = $${params.length}`);
    }
    assignments.push(...secretAssignments(this.options.secrets, patch, now, (value) => `$${params.push(value)}`));
    // Set active again: the reason goes, and the run of failures starts over. (The right-hand
    // sides read the row as it was before this update.)
    if (patch.active === true) {
      assignments.push(
        'disabled_reason = CASE WHEN active THEN disabled_reason END',
        'disabled_at = CASE WHEN active THEN disabled_at END',
        'failing_since = CASE WHEN active THEN failing_since END',
        'consecutive_failures = CASE WHEN active THEN consecutive_failures ELSE 0 END',
      );
    }
    const updated = await this.transaction(async (client) => {
      const result = await client.query(`UPDATE webhooks SET ${assignments.join(', ')} WHERE id = $1`, params);
      if (result.rowCount === 0) return false;
      if (patch.events) await replaceSubscriptions(client, id, patch.events);
      return true;
    });
    // Deliveries held while it was inactive are due again.
    if (updated && patch.active === true) this.notifier.announce();
    return updated ? this.getWebhook(id) : null;
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return this.transaction(async (client) => {
      // The webhook's row first: deleting it waits for the publishes and outcome writes that
      // hold it (KEY SHARE), so the deliveries deleted next include theirs.
      const { rowCount } = await client.query('DELETE FROM webhooks WHERE id = $1', [id]);
      if (rowCount !== 1) return false;
      await client.query(
        `WITH gone AS (DELETE FROM deliveries WHERE webhook_id = $1 RETURNING id)
         DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone)`,
        [id],
      );
      return true;
    });
  }

  // ---- events ----

  async publishEvents(request: PublishRequest): Promise<PublishOutcome> {
    const outcome: PublishOutcome = request.idempotency
      ? await this.transaction((client) => this.publishOnce(client, request, request.idempotency!))
      : await this.insertEventsWithDeliveries(this.pool, request);
    // Other processes are woken only for what this one did not claim for itself.
    if (outcome.kind === 'published' && deliveriesIn(outcome.events) > (outcome.claimed?.count ?? 0)) this.notifier.announce();
    return outcome;
  }

  /** A publish under an idempotency key: two processes given the same key at once, the second
   * waits for the first's transaction, then replays its answer. */
  private async publishOnce(
    client: pg.PoolClient,
    request: PublishRequest,
    idempotency: NonNullable<PublishRequest['idempotency']>,
  ): Promise<PublishOutcome> {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [idempotency.key]);
    const [previous] = await this.rows('SELECT fingerprint, response FROM idempotency_keys WHERE key = $1', [idempotency.key], client);
    if (previous) {
      if (previous.fingerprint !== idempotency.fingerprint) return { kind: 'key-reused' };
      return { kind: 'replayed', events: JSON.parse(previous.response as string) as PublishedEvent[] };
    }
    const published = await this.insertEventsWithDeliveries(client, request);
    await client.query('INSERT INTO idempotency_keys (key, fingerprint, response, created_at) VALUES ($1, $2, $3, $4)', [
      idempotency.key,
      idempotency.fingerprint,
      JSON.stringify(published.events),
      request.now,
    ]);
    return published;
  }

  /**
   * One statement: the events, their matching webhooks and the deliveries, committed together
   * in one round trip (a statement is its own transaction when no BEGIN came before it). The
   * events go as binary arrays (see binary-arrays.ts): as text literals or a JSON document,
   * every body was escaped in JavaScript and read back character by character by PostgreSQL.
   * Delivery ids are made in SQL, as many as there are matches: the batch's own id prefix (time
   * and sequence, unique in this process), a 7-digit hex position (0x1000000 + n keeps the
   * width fixed) and 5 random hex digits against another process's batch in the same
   * millisecond. In id order, a batch's deliveries are in the publish's order.
   * With `claimFor`, the deliveries a claim would take now (each webhook's first ones, up to its
   * free slots; the first `limit` of those) are created claimed, due again when the lease ends.
   */
  private async insertEventsWithDeliveries(
    client: Queryable,
    request: PublishRequest,
  ): Promise<Extract<PublishOutcome, { kind: 'published' }>> {
    const { events, now, claimFor } = request;
    const idStem = newIdStem('dlv');
    const plan = claimFor ? planSlots(claimFor) : { saturated: [], busy: {} };
    const leaseEndsAt = claimFor ? now + claimFor.leaseMs : now;
    // The scope rule of core/types.ts `webhookHearsEvent`, in SQL, for the whole batch at once,
    // in the batch's order: a webhook's history lists deliveries in the order events came.
    const counts = await this.rows(
      `WITH batch AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
           WITH ORDINALITY AS e (id, event_name, body, tenant_id, project_id, position)
       ),
       stored AS (
         INSERT INTO events (id, event_name, body, tenant_id, project_id, created_at)
         SELECT id, event_name, body, tenant_id, project_id, $6 FROM batch
       ),
       -- Each active subscription to a name in the batch.
       subscribed AS (
         SELECT w.id, w.tenant_id, w.project_id, s.event_name FROM webhooks w
         JOIN webhook_events s ON s.webhook_id = w.id
         WHERE w.active AND s.event_name IN (SELECT event_name FROM batch)
       ),
       -- The rule's three cases apart (all tenants; one tenant; one of its projects), each an
       -- equality join: as one condition it compared every event with every subscriber.
       matches AS (
         SELECT event_id, event_name, webhook_id, row_number() OVER (ORDER BY position, webhook_id) AS n FROM (
           SELECT e.position, e.id AS event_id, e.event_name, w.id AS webhook_id FROM batch e JOIN subscribed w
             ON w.event_name = e.event_name AND w.tenant_id IS NULL
           UNION ALL
           SELECT e.position, e.id, e.event_name, w.id FROM batch e JOIN subscribed w
             ON w.event_name = e.event_name AND w.tenant_id = e.tenant_id AND w.project_id IS NULL
           UNION ALL
           SELECT e.position, e.id, e.event_name, w.id FROM batch e JOIN subscribed w
             ON w.event_name = e.event_name AND w.tenant_id = e.tenant_id AND w.project_id = e.project_id
         ) heard
       ),
       -- The webhooks that hear an event, locked once each (KEY SHARE, as a foreign key would for
       -- every row): one being deleted is either left out or deleted after this commits,
       -- deliveries and all.
       kept AS (
         SELECT id FROM webhooks WHERE id IN (SELECT webhook_id FROM matches) FOR KEY SHARE
       ),
       -- Which deliveries are created claimed: as a claim would choose them (none when $11 is 0).
       eligible AS (
         SELECT m.*, (m.webhook_id <> ALL ($8::text[])
             AND row_number() OVER (PARTITION BY m.webhook_id ORDER BY m.n) <= $10 - coalesce(busy.value::int, 0))::int AS fits
         FROM matches m LEFT JOIN jsonb_each_text($9::jsonb) AS busy ON busy.key = m.webhook_id
         WHERE m.webhook_id IN (SELECT id FROM kept)
       ),
       chosen AS (
         SELECT *, fits = 1 AND sum(fits) OVER (ORDER BY n) <= $11 AS claimed FROM eligible
       ),
       queued AS (
         INSERT INTO deliveries (id, webhook_id, event_id, event_name, status, attempts, next_attempt_at, created_at, claimed_by)
         SELECT $7 || to_hex(16777216 + n) || substr(md5(random()::text), 1, 5), webhook_id, event_id, event_name,
           'pending', 0, CASE WHEN claimed THEN $13 ELSE $6 END, $6, CASE WHEN claimed THEN $12 END
         FROM chosen ORDER BY n
         RETURNING event_id, claimed_by
       )
       SELECT event_id, count(*)::int AS n, count(claimed_by)::int AS claimed FROM queued GROUP BY event_id`,
      [
        textArray(events.map((event) => event.id)),
        textArray(events.map((event) => event.eventName)),
        textArray(events.map((event) => event.body)),
        textArray(events.map((event) => event.tenantId)),
        textArray(events.map((event) => event.projectId)),
        now,
        idStem,
        textArray(plan.saturated),
        JSON.stringify(plan.busy),
        claimFor?.maxInFlightPerWebhook ?? 0,
        claimFor?.limit ?? 0,
        claimFor?.workerId ?? null,
        leaseEndsAt,
      ],
      client,
    );
    const perEvent = new Map(counts.map((row) => [row.event_id as string, row.n as number]));
    const claimed = counts.reduce((sum, row) => sum + (row.claimed as number), 0);
    return {
      kind: 'published',
      events: events.map((event) => ({ id: event.id, deliveries: perEvent.get(event.id) ?? 0 })),
      ...(claimed > 0 ? { claimed: { workerId: claimFor!.workerId, idStem, count: claimed, leaseEndsAt } } : {}),
    };
  }

  // ---- one webhook's deliveries ----

  async enqueueDirectDelivery(request: DirectDeliveryRequest): Promise<string | null> {
    const { event, now, webhookId } = request;
    const deliveryId = await this.transaction(async (client) => {
      if (!(await keepWebhook(client, webhookId))) return null;
      await client.query(
        'INSERT INTO events (id, event_name, body, tenant_id, project_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [event.id, event.eventName, event.body, event.tenantId, event.projectId, now],
      );
      const id = newId('dlv');
      await client.query(
        `INSERT INTO deliveries (id, webhook_id, event_id, event_name, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)`,
        [id, webhookId, event.id, event.eventName, now],
      );
      return id;
    });
    if (deliveryId) this.notifier.announce();
    return deliveryId;
  }

  async resendDeliveries(request: ResendRequest): Promise<string[]> {
    const { webhookId, now } = request;
    const queued = await this.transaction(async (client) => {
      if (!(await keepWebhook(client, webhookId))) return [];
      let originals: Row[] = [];
      if (request.deliveryId !== undefined) {
        originals = await this.rows(
          'SELECT id, event_id, event_name FROM deliveries WHERE id = $1 AND webhook_id = $2',
          [request.deliveryId, webhookId],
          client,
        );
      } else if (request.failedSince !== undefined) {
        // Given up on since a time (that of the last attempt), among the webhook's history, oldest first.
        originals = await this.rows(
          `SELECT id, event_id, event_name FROM (
             SELECT seq, id, event_id, event_name, status, dispatched_at FROM deliveries WHERE webhook_id = $1
             ORDER BY seq DESC LIMIT $2
           ) AS recent WHERE status = 'error' AND dispatched_at >= $3 ORDER BY seq`,
          [webhookId, HISTORY_LIMIT, request.failedSince],
          client,
        );
      }
      if (originals.length === 0) return [];
      const ids = originals.map(() => newId('dlv'));
      await client.query(
        `INSERT INTO deliveries (id, webhook_id, event_id, event_name, status, attempts, next_attempt_at, created_at, resent_from)
         SELECT id, $5, event_id, event_name, 'pending', 0, $6, $6, resent_from
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
           AS d (id, event_id, event_name, resent_from, position)
         ORDER BY position`,
        [ids, originals.map((row) => row.event_id), originals.map((row) => row.event_name), originals.map((row) => row.id), webhookId, now],
      );
      return ids;
    });
    if (queued.length > 0) this.notifier.announce();
    return queued;
  }

  // ---- deliveries ----

  async claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const plan = planSlots(request);
    const claimed = this.claimRoute.perWebhookFirst(request.inFlightByWebhook.size)
      ? await this.claimPerWebhook(request, plan, request.limit)
      : await this.claimHeadFirst(request, plan);
    return claimed.length === 0 ? [] : hydrateClaimRows(this.options.secrets, claimed);
  }

  /** The window of the oldest due deliveries, then per webhook if it may have left due work behind. */
  private async claimHeadFirst(request: ClaimRequest, plan: SlotPlan): Promise<Row[]> {
    const window = headWindow(request.limit);
    // SKIP LOCKED: rows another process is claiming right now are passed over, not waited for.
    // The claim pushes next_attempt_at to the end of the lease, so a claim whose process died
    // falls due again by itself.
    const head = await this.rows(
      `WITH head AS (
         SELECT id, seq, webhook_id, next_attempt_at FROM deliveries
         WHERE status = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at LIMIT $2
         FOR UPDATE SKIP LOCKED
       ),
       ranked AS (
         SELECT head.id, head.webhook_id,
           row_number() OVER (PARTITION BY head.webhook_id ORDER BY head.next_attempt_at, head.seq) AS rank
         FROM head JOIN webhooks w ON w.id = head.webhook_id AND w.active
         WHERE NOT (head.webhook_id = ANY ($3::text[]))
       ),
       chosen AS (
         SELECT ranked.id FROM ranked LEFT JOIN jsonb_each_text($4::jsonb) AS busy ON busy.key = ranked.webhook_id
         WHERE ranked.rank <= $5 - coalesce(busy.value::int, 0)
         LIMIT $6
       ),
       claimed AS (
         UPDATE deliveries d SET claimed_by = $7, next_attempt_at = $8
         FROM chosen WHERE d.id = chosen.id
         RETURNING ${CLAIMED_COLUMNS}, (SELECT count(*)::int FROM head) AS window_rows
       )
       ${withBodiesAndTargets('$1')}`,
      [
        request.now,
        window,
        textArray(plan.saturated),
        JSON.stringify(plan.busy),
        request.maxInFlightPerWebhook,
        request.limit,
        request.workerId,
        request.now + request.leaseMs,
      ],
      this.deliveryPool,
    );
    if (head.length >= request.limit) return head;
    // Claiming nothing, the statement returned no count of its window: the due rows stand in.
    const read = head.length > 0 ? (head[0].window_rows as number) : await this.countDue(request.now, window);
    if (!perWebhookLookFollows(read, head.length, window)) return head;
    const claimedFrom = head.map((row) => row.webhook_id as string);
    const after = afterClaimed(plan, claimedFrom, request.maxInFlightPerWebhook);
    return [...head, ...(await this.claimPerWebhook(request, after, request.limit - head.length))];
  }

  /** Due deliveries, counted up to `limit`. */
  private async countDue(now: number, limit: number): Promise<number> {
    const [{ n }] = await this.rows(
      `SELECT count(*)::int AS n FROM (
         SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT $2) due`,
      [now, limit],
      this.deliveryPool,
    );
    return n as number;
  }

  /** Oldest due webhook first, each up to its free slots (see claim-plan.ts). */
  private async claimPerWebhook(request: ClaimRequest, plan: SlotPlan, limit: number): Promise<Row[]> {
    const claimed = await this.rows(
      `${pendingWebhooksDue(DUE_OR_LAPSED)},
       ready AS (
         SELECT webhook_id, at, count(*) OVER () AS ready_count FROM due WHERE at <= $2 ORDER BY at LIMIT $3
       ),
       chosen AS (
         SELECT c.id, ready.ready_count FROM ready CROSS JOIN LATERAL (
           SELECT id FROM deliveries d
           WHERE d.webhook_id = ready.webhook_id AND d.status = 'pending' AND d.next_attempt_at <= $2
           ORDER BY d.next_attempt_at, d.seq
           LIMIT greatest($4 - coalesce(($5::jsonb ->> ready.webhook_id)::int, 0), 0)
           FOR UPDATE SKIP LOCKED
         ) c
         ORDER BY ready.at
         LIMIT $3
       ),
       claimed AS (
         UPDATE deliveries d SET claimed_by = $6, next_attempt_at = $7
         FROM chosen WHERE d.id = chosen.id
         RETURNING ${CLAIMED_COLUMNS}, chosen.ready_count
       )
       ${withBodiesAndTargets('$2')}`,
      [
        textArray(plan.saturated),
        request.now,
        limit,
        request.maxInFlightPerWebhook,
        JSON.stringify(plan.busy),
        request.workerId,
        request.now + request.leaseMs,
      ],
      this.deliveryPool,
    );
    this.claimRoute.sawDueWebhooks(claimed.length === 0 ? 0 : Number(claimed[0].ready_count));
    return claimed;
  }

  /**
   * One transaction of three statements whatever the batch: keep the webhooks from being
   * deleted, complete the deliveries with their attempts, update the webhooks' last event and
   * history count (which locks them and reads their runs of failures); then, only where needed,
   * prune their histories and write their runs of failures.
   */
  async recordAttempts(workerId: string, records: AttemptRecord[], autoDisable?: AutoDisablePolicy): Promise<void> {
    if (records.length === 0) return;
    await this.transaction(async (client) => {
      // The webhooks' rows are locked for update last, just before the short writes to them:
      // workers recording outcomes of the same webhooks wait for each other's lock until commit,
      // and taken first it would be held through the batch's delivery writes as well. KEY SHARE
      // meanwhile keeps the webhooks from being deleted (which waits for it instead of taking
      // the webhook, then the delivery rows this transaction is writing: a circle).
      await keepWebhooks(client, webhookIdsOf(records));
      const kept = await completeDeliveries(client, workerId, records);
      if (kept.length === 0) return;
      const updated = await updateWebhookOutcomes(client, kept);
      await pruneHistories(client, updated);
      await updateFailureRuns(client, updated, kept, autoDisable);
    }, this.deliveryPool);
  }

  /**
   * A claimed batch's rows, in order, by a range of the id index: they are read, not written,
   * since the publish claimed them already. Rows of a webhook deleted since are gone with it.
   * The range may also hold rows the same worker claimed the ordinary way (those the publish
   * left unclaimed): the lease's end tells them apart (see ClaimedBatch). It is compared as an
   * expression (`+ 0`) so no plan reads it from the due index: that finds the whole batch, every
   * row at the same time, and sorts it for each page.
   */
  async readClaimedBatch(
    workerId: string,
    batch: ClaimedBatch,
    afterId: string | null,
    limit: number,
    now: number,
  ): Promise<ClaimedBatchPage> {
    const rows = await this.rows(
      `WITH claimed AS (
         SELECT ${CLAIMED_COLUMNS}, (SELECT w.active FROM webhooks w WHERE w.id = d.webhook_id) AS active
         FROM deliveries d
         WHERE d.id > $1 AND d.id < $2 AND d.claimed_by = $3 AND d.next_attempt_at + 0 = $6 AND d.status = 'pending'
         ORDER BY d.id LIMIT $4
       )
       ${withBodiesAndTargets('$5')}`,
      [afterId ?? batch.idStem, batchIdEnd(batch), workerId, limit, now, batch.leaseEndsAt],
      this.deliveryPool,
    );
    // An event's body comes on its first row, which may be an inactive webhook's: all are read.
    const inactive = new Set(rows.filter((row) => !row.active).map((row) => row.id as string));
    const deliveries = rows.length === 0 ? [] : hydrateClaimRows(this.options.secrets, rows);
    return {
      deliveries: deliveries.filter((delivery) => !inactive.has(delivery.id)),
      inactive: [...inactive],
      lastId: rows.reduce<string | null>((last, row) => (last === null || (row.id as string) > last ? (row.id as string) : last), null),
      read: rows.length,
    };
  }

  async releaseClaimedBatch(workerId: string, batch: ClaimedBatch, afterId: string | null, now: number): Promise<void> {
    await this.deliveryPool.query(
      `UPDATE deliveries SET claimed_by = NULL, next_attempt_at = $1
       WHERE id > $2 AND id < $3 AND claimed_by = $4 AND next_attempt_at = $5 AND status = 'pending'`,
      [now, afterId ?? batch.idStem, batchIdEnd(batch), workerId, batch.leaseEndsAt],
    );
  }

  async releaseClaims(workerId: string, deliveryIds: string[], now: number): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.deliveryPool.query(
      `UPDATE deliveries SET claimed_by = NULL, next_attempt_at = $1
       WHERE id = ANY ($2::text[]) AND claimed_by = $3 AND status = 'pending'`,
      [now, textArray(deliveryIds), workerId],
    );
    this.notifier.announce();
  }

  async nextDueAt(skipWebhookIds: readonly string[] = []): Promise<number | null> {
    if (!this.claimRoute.perWebhookFirst(skipWebhookIds.length)) {
      const skipped = new Set(skipWebhookIds);
      const head = await this.rows(
        `SELECT d.webhook_id, d.next_attempt_at AS at, w.active FROM deliveries d
         JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.status = 'pending' AND ${NOT_CLAIMED} ORDER BY d.next_attempt_at LIMIT $1`,
        [NEXT_DUE_WINDOW],
        this.deliveryPool,
      );
      const first = head.find((row) => row.active === true && !skipped.has(row.webhook_id as string));
      if (first) return first.at as number;
      if (head.length < NEXT_DUE_WINDOW) return null;
    }
    // The window holds only held-back work, or few webhooks have any: look per webhook.
    const [row] = await this.rows(
      `${pendingWebhooksDue(NOT_CLAIMED)} SELECT min(at) AS at FROM due`,
      [textArray(skipWebhookIds)],
      this.deliveryPool,
    );
    return (row.at as number | null) ?? null;
  }

  async queueStats(now: number): Promise<QueueStats> {
    const [row] = await this.rows(
      `SELECT
         (SELECT count(*)::int FROM deliveries WHERE status = 'pending') AS pending,
         (SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1) AS oldest_due_at,
         (SELECT count(*)::int FROM webhooks WHERE NOT active) AS disabled_webhooks`,
      [now],
    );
    return {
      pending: row.pending as number,
      oldestDueAt: row.oldest_due_at === null ? null : Number(row.oldest_due_at),
      disabledWebhooks: row.disabled_webhooks as number,
    };
  }

  async listDeliveries(webhookId: string, filter: DeliveryListFilter): Promise<DeliverySummary[]> {
    const params: unknown[] = [webhookId, HISTORY_LIMIT];
    const where: string[] = [];
    const bind = (value: unknown) => `$${params.push(value)}`;
    if (filter.eventName !== undefined) where.push(`event_name = ${bind(filter.eventName)}`);
    if (filter.status !== undefined) where.push(`status = ${bind(filter.status)}`);
    if (filter.statusCode !== undefined) where.push(`status_code = ${bind(filter.statusCode)}`);
    // The history is the webhook's newest HISTORY_LIMIT deliveries; filters narrow that window.
    const sql = `SELECT * FROM (
        SELECT * FROM deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2
      ) AS recent ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq ${filter.sort === 'oldest' ? 'ASC' : 'DESC'}`;
    return (await this.rows(sql, params)).map(toDeliverySummary);
  }

  async getDelivery(webhookId: string, deliveryId: string): Promise<DeliveryDetail | null> {
    const [row] = await this.rows(
      'SELECT d.*, e.body FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1 AND d.webhook_id = $2',
      [deliveryId, webhookId],
    );
    if (!row) return null;
    const attempts = await this.rows('SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY attempt_number', [deliveryId]);
    return toDeliveryDetail(row, attempts);
  }

  async pruneOrphans(now: number, olderThanMs: number): Promise<void> {
    const cutoff = now - olderThanMs;
    // Deliveries have no index by event (see migrations.ts): this is one pass over them, joined
    // with the old events by hash or by merge, a second or two for a million deliveries.
    await this.pool.query(
      `DELETE FROM events WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`,
      [cutoff],
    );
    await this.pool.query('DELETE FROM idempotency_keys WHERE created_at < $1', [cutoff]);
    // A rotated-out secret is not kept a moment longer than it is used. In a transaction for its
    // retry: these row locks are not taken in id order, so a deadlock is possible if rare.
    await this.transaction((client) =>
      client.query(
        'UPDATE webhooks SET previous_secret = NULL, previous_secret_expires_at = NULL WHERE previous_secret_expires_at <= $1',
        [now],
      ),
    );
  }

  async exportSnapshot(): Promise<Snapshot> {
    const webhooks = (await this.rows(`SELECT w.*, ${EVENTS_OF_WEBHOOK} FROM webhooks w ORDER BY w.id`)).map((row) => ({
      ...withoutLastEvent(toWebhook(row)),
      // Plain secrets: the file is for another installation, which encrypts them with its own key.
      secret: this.options.secrets.decrypt(row.secret as string),
    }));
    const tokens = (await this.rows('SELECT * FROM tokens ORDER BY id')).map(toTokenExport);
    return newSnapshot({ webhooks, eventTypes: await this.listCustomEventTypes(), tokens });
  }

  onDeliveriesQueued(listener: () => void): () => void {
    return this.notifier.subscribe(listener);
  }

  sendHandOffMessage(message: HandOffMessage): void {
    this.notifier.send(JSON.stringify(message));
  }

  onHandOffMessage(listener: (message: HandOffMessage) => void): () => void {
    return this.notifier.subscribeMessages((payload) => {
      const message = parseHandOffMessage(payload);
      if (message) listener(message);
    });
  }
}

/** A hand-off message as sent by sendHandOffMessage; null for anything else on the channel. */
function parseHandOffMessage(payload: string): HandOffMessage | null {
  try {
    const message = JSON.parse(payload) as HandOffMessage;
    return message.kind === 'offer' || message.kind === 'batch' ? message : null;
  } catch {
    return null;
  }
}

const EVENTS_OF_WEBHOOK = `ARRAY(SELECT event_name FROM webhook_events WHERE webhook_id = w.id ORDER BY event_name) AS events`;

async function replaceSubscriptions(client: Queryable, webhookId: string, events: string[]): Promise<void> {
  await client.query('DELETE FROM webhook_events WHERE webhook_id = $1', [webhookId]);
  await client.query('INSERT INTO webhook_events (event_name, webhook_id) SELECT unnest($1::text[]), $2', [events, webhookId]);
}

const CLAIMED_COLUMNS = 'd.id, d.webhook_id, d.event_id, d.event_name, d.attempts';

/**
 * Ends a claim statement whose `claimed` CTE returns the claimed rows: each row with, on the
 * first row of its event, the event's body and, on the first row of its webhook, the webhook's
 * target; read in the claim's own round trip, each once however many rows share it. The
 * previous secret only while its grace period runs at `now` (a parameter of the statement).
 */
const withBodiesAndTargets = (now: string) => `,
  numbered AS (
    SELECT claimed.*,
      row_number() OVER (PARTITION BY claimed.event_id) AS nth_of_event,
      row_number() OVER (PARTITION BY claimed.webhook_id) AS nth_of_webhook
    FROM claimed
  )
  SELECT numbered.*, e.body, w.url, w.method, w.content_type, w.max_attempts, w.secret, w.base64_ca, w.proxy_url,
    CASE WHEN w.previous_secret_expires_at > ${now} THEN w.previous_secret END AS previous_secret
  FROM numbered
  LEFT JOIN events e ON numbered.nth_of_event = 1 AND e.id = numbered.event_id
  LEFT JOIN webhooks w ON numbered.nth_of_webhook = 1 AND w.id = numbered.webhook_id`;

/** The claimed deliveries of claim statements ending in withBodiesAndTargets. */
function hydrateClaimRows(secrets: SecretBox, claimed: Row[]): ClaimedDelivery[] {
  const targets = claimed.filter((row) => row.url !== null).map((row) => ({ ...row, id: row.webhook_id }));
  const bodies = claimed.filter((row) => row.body !== null).map((row) => ({ id: row.event_id, body: row.body }));
  return hydrateClaims(secrets, claimed, targets, bodies);
}

/** Above every id of a claimed batch (stem, then hex digits only) and below any other stem's. */
function batchIdEnd(batch: ClaimedBatch): string {
  return `${batch.idStem}g`;
}

function deliveriesIn(events: readonly PublishedEvent[]): number {
  return events.reduce((sum, event) => sum + event.deliveries, 0);
}

/** Rows of the due index nextDueAt reads before it looks per webhook (see claim-plan.ts). */
const NEXT_DUE_WINDOW = 32;

/** Every pending row: a claimed one is due when its lease lapses (its next_attempt_at). */
const DUE_OR_LAPSED = 'true';
/** Not claimed: nextDueAt has no clock, and a claim that lapses is found by the dispatcher's
 * next claim, which it makes at least once a second. */
const NOT_CLAIMED = 'd.claimed_by IS NULL';

/**
 * `due`: each active webhook with pending deliveries, outside $1 (text[]), with its earliest
 * next_attempt_at among the rows `unclaimed` lets through. The webhooks are found by skipping
 * through the pending-by-webhook index, one probe per webhook, however long each one's backlog
 * is. A claim moves next_attempt_at to its lease's end, so claimed rows come last.
 */
const pendingWebhooksDue = (unclaimed: string) => `WITH RECURSIVE pending AS (
    (SELECT webhook_id FROM deliveries WHERE status = 'pending' ORDER BY webhook_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.webhook_id FROM deliveries d WHERE d.status = 'pending' AND d.webhook_id > p.webhook_id
            ORDER BY d.webhook_id LIMIT 1)
    FROM pending p WHERE p.webhook_id IS NOT NULL
  ),
  due AS (
    SELECT p.webhook_id,
      (SELECT d.next_attempt_at FROM deliveries d WHERE d.status = 'pending' AND d.webhook_id = p.webhook_id
        AND ${unclaimed} ORDER BY d.next_attempt_at LIMIT 1) AS at
    FROM pending p JOIN webhooks w ON w.id = p.webhook_id AND w.active
    WHERE NOT (p.webhook_id = ANY ($1::text[]))
  )`;

/** The WHERE clause of a webhook listing or count, with its parameters. */
function webhookConditions(filter: WebhookCountFilter & { after?: string }): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  const where: string[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  if (filter.tenantId !== undefined) where.push(`w.tenant_id = ${bind(filter.tenantId)}`);
  if (filter.projectId !== undefined) where.push(`w.project_id = ${bind(filter.projectId)}`);
  if (filter.scope === 'instance') where.push('w.tenant_id IS NULL');
  if (filter.scope === 'company') where.push('w.tenant_id IS NOT NULL AND w.project_id IS NULL');
  if (filter.scope === 'project') where.push('w.project_id IS NOT NULL');
  if (filter.event !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM webhook_events e WHERE e.webhook_id = w.id AND e.event_name = ${bind(filter.event)})`);
  }
  if (filter.after !== undefined) where.push(`w.id > ${bind(filter.after)}`);
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

/**
 * Completes the claimed deliveries and adds the attempts a retry follows, in one statement;
 * returns the records that counted. A record whose claim was lost (lapsed, or the webhook
 * deleted) leaves no trace. The columns go as binary arrays (see binary-arrays.ts): read as
 * text literals or as a JSON document, each record's request headers cost PostgreSQL more than
 * writing its row. The headers are stored as the text JSON.stringify makes of them, as SQLite's.
 */
async function completeDeliveries(client: Queryable, workerId: string, records: AttemptRecord[]): Promise<AttemptRecord[]> {
  const columns = records.map(outcomeColumns);
  const { rows } = await client.query(
    `WITH completed AS (
       UPDATE deliveries d SET status = r.status, attempts = d.attempts + 1, next_attempt_at = r.next_attempt_at,
         claimed_by = NULL, status_code = r.status_code, error_code = r.error_code, error_message = r.error_message,
         duration_ms = r.duration_ms, dispatched_at = r.dispatched_at, request_headers = r.request_headers,
         response_body = r.response_body
       FROM unnest($1::text[], $2::text[], $3::int8[], $4::int4[], $5::text[], $6::text[], $7::int4[], $8::int8[],
         $9::text[], $10::text[])
         AS r (id, status, next_attempt_at, status_code, error_code, error_message, duration_ms, dispatched_at,
           request_headers, response_body)
       WHERE d.id = r.id AND d.claimed_by = $11
       RETURNING d.id, d.status, d.attempts, r.dispatched_at, r.duration_ms, r.status_code, r.error_code, r.error_message
     ),
     -- A last attempt stays on the delivery's row alone (see rows.ts toDeliveryDetail).
     added AS (
       INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, status_code, error_code, error_message)
       SELECT id, attempts, dispatched_at, duration_ms, status_code, error_code, error_message
       FROM completed WHERE status = 'pending'
     )
     SELECT id FROM completed`,
    [
      textArray(columns.map((c) => c.id)),
      textArray(columns.map((c) => c.status)),
      int8Array(columns.map((c) => c.next_attempt_at)),
      int4Array(columns.map((c) => c.status_code)),
      textArray(columns.map((c) => c.error_code)),
      textArray(columns.map((c) => c.error_message)),
      int4Array(columns.map((c) => c.duration_ms)),
      int8Array(columns.map((c) => c.dispatched_at)),
      textArray(columns.map((c) => JSON.stringify(c.request_headers))),
      textArray(columns.map((c) => c.response_body)),
      workerId,
    ],
  );
  const completed = new Set(rows.map((row) => row.id as string));
  return records.filter((record) => completed.has(record.deliveryId));
}

/** A batch's newest attempt replaces the webhook's last event unless a later one is there. */
const NEWER_LAST_EVENT = '(w.last_dispatched_at IS NULL OR w.last_dispatched_at <= r.dispatched_at)';

/**
 * Each webhook's last event becomes its newest attempt of the batch, and its history counts
 * the deliveries that finished; returns the history counts and the runs of failures as they
 * are under the row lock this takes (the statement leaves the runs alone). The rows are locked
 * in id order, the order every writer takes them in, so that writers touching several never
 * wait on each other in a circle: the plan walks the sorted list and finds each row by its key.
 * The lock is the one an update without a key change takes (NO KEY UPDATE): it does not wait for
 * the KEY SHARE locks a publish takes on its subscribers, so publishes never hold up outcomes.
 * Locking them first by a statement of its own wrote a lock record per webhook: the two
 * statements cost PostgreSQL about three quarters more than the update alone.
 */
async function updateWebhookOutcomes(client: Queryable, records: AttemptRecord[]): Promise<Row[]> {
  const byWebhook = [...groupByWebhook(records)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const latest = byWebhook.map(([, outcomes]) => latestRecord(outcomes));
  const { rows } = await client.query(
    // On the right of SET a column is the row's old value: "newer" compares with the last
    // event as it was, for all four columns alike.
    `UPDATE webhooks w SET
       last_event_name = CASE WHEN ${NEWER_LAST_EVENT} THEN r.event_name ELSE w.last_event_name END,
       last_status = CASE WHEN ${NEWER_LAST_EVENT} THEN r.status ELSE w.last_status END,
       last_status_code = CASE WHEN ${NEWER_LAST_EVENT} THEN r.status_code ELSE w.last_status_code END,
       last_dispatched_at = CASE WHEN ${NEWER_LAST_EVENT} THEN r.dispatched_at ELSE w.last_dispatched_at END,
       history_count = w.history_count + r.finished
     FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int4[])
       AS r (webhook_id, event_name, status, status_code, dispatched_at, finished)
     WHERE w.id = r.webhook_id
     RETURNING w.id, w.history_count, w.active, w.failing_since, w.consecutive_failures, w.disabled_reason, w.disabled_at`,
    [
      textArray(latest.map((r) => r.webhookId)),
      textArray(latest.map((r) => r.eventName)),
      textArray(latest.map((r) => (r.next.kind === 'delivered' ? 'success' : 'error'))),
      int4Array(latest.map((r) => r.statusCode)),
      int8Array(latest.map((r) => r.startedAt)),
      int4Array(byWebhook.map(([, outcomes]) => outcomes.filter((record) => record.next.kind !== 'retry').length)),
    ],
  );
  return rows as Row[];
}

/**
 * Deletes a webhook's ($1) oldest $2 finished deliveries and takes them off its history count;
 * read from the old end of its index, never past the pending backlog (see HISTORY_PRUNE_MARGIN).
 */
export const PRUNE_HISTORY_SQL = `WITH pruned AS (
    DELETE FROM deliveries WHERE id IN (
      SELECT id FROM deliveries WHERE webhook_id = $1 AND status <> 'pending' ORDER BY seq LIMIT $2)
    RETURNING id
  ),
  attempts_pruned AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM pruned))
  UPDATE webhooks SET history_count = history_count - (SELECT count(*) FROM pruned) WHERE id = $1`;

/** Prunes the histories that grew past the limit and its margin (see HISTORY_PRUNE_MARGIN). */
async function pruneHistories(client: Queryable, counted: Row[]): Promise<void> {
  for (const row of counted) {
    if ((row.history_count as number) <= HISTORY_LIMIT + HISTORY_PRUNE_MARGIN) continue;
    // What was deleted comes off the count: the webhook's row is locked (updateWebhookOutcomes),
    // so nothing else changed its finished deliveries meanwhile, and no recount is needed.
    await client.query(PRUNE_HISTORY_SQL, [row.id, (row.history_count as number) - HISTORY_LIMIT]);
  }
}

/** Each webhook's run of failures after the batch, written where it changed. */
async function updateFailureRuns(client: Queryable, runs: Row[], records: AttemptRecord[], policy?: AutoDisablePolicy): Promise<void> {
  const byWebhook = groupByWebhook(records);
  const changed = runs.flatMap((row) => {
    const outcomes = byWebhook.get(row.id as string);
    if (!outcomes) return [];
    const before = failureRunOf(row);
    const after = nextFailureRun(before, outcomes, policy);
    return sameFailureRun(before, after) ? [] : [{ id: row.id as string, ...after }];
  });
  if (changed.length === 0) return;
  await client.query(
    `UPDATE webhooks w SET active = r.active, failing_since = r.failing_since,
       consecutive_failures = r.consecutive_failures, disabled_reason = r.disabled_reason, disabled_at = r.disabled_at
     FROM unnest($1::text[], $2::bool[], $3::int8[], $4::int4[], $5::text[], $6::int8[])
       AS r (id, active, failing_since, consecutive_failures, disabled_reason, disabled_at)
     WHERE w.id = r.id`,
    [
      textArray(changed.map((run) => run.id)),
      boolArray(changed.map((run) => run.active)),
      int8Array(changed.map((run) => run.failingSince)),
      int4Array(changed.map((run) => run.consecutiveFailures)),
      textArray(changed.map((run) => run.disabledReason)),
      int8Array(changed.map((run) => run.disabledAt)),
    ],
  );
}

/** Whether the webhook exists; if so, it cannot be deleted before this transaction ends. */
async function keepWebhook(client: Queryable, webhookId: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM webhooks WHERE id = $1 FOR KEY SHARE', [webhookId]);
  return rowCount === 1;
}

/** keepWebhook for several: the ones that exist cannot be deleted before this transaction ends. */
async function keepWebhooks(client: Queryable, sortedIds: string[]): Promise<void> {
  await client.query('SELECT 1 FROM webhooks WHERE id = ANY ($1::text[]) ORDER BY id FOR KEY SHARE', [textArray(sortedIds)]);
}

/** The distinct webhooks of these records, sorted: the order every writer locks them in. */
function webhookIdsOf(records: readonly AttemptRecord[]): string[] {
  return [...new Set(records.map((record) => record.webhookId))].sort();
}

function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`"${schema}" is not a usable schema name (lowercase letters, digits and _)`);
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** One channel per schema, so Herald installations sharing a database do not wake each other. */
function channelName(schema: string): string {
  return `herald_work_${schema}`;
}
