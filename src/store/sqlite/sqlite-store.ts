import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { EventTypeDefinition } from '../../core/catalog.js';
import { newId } from '../../core/ids.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { WebhookWithSecret } from '../../core/types.js';
import {
  HISTORY_LIMIT,
  type AttemptRecord,
  type AutoDisablePolicy,
  type ClaimRequest,
  type ClaimedDelivery,
  type DeliveryDetail,
  type DeliveryListFilter,
  type DeliverySummary,
  type DirectDeliveryRequest,
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
import {
  KEY_CHECK_SETTING,
  assertKeyMatches,
  hydrateClaims,
  encryptPlainRows,
  newKeyCheck,
  secretAssignments,
} from '../secret-columns.js';
import { HISTORY_PRUNE_MARGIN } from '../tuning.js';
import { afterClaimed, ClaimRoute, headWindow, perWebhookLookFollows, planSlots, WINDOW_PASSED_OVER_MAX, type SlotPlan } from '../claim-plan.js';
import { failureRunOf, nextFailureRun, sameFailureRun } from '../failure-run.js';
import { ClaimBook } from './claim-book.js';
import { acquireDataDirLock, releaseDataDirLock } from './lock.js';
import { SQLITE_MIGRATIONS } from './migrations.js';

/** The database's file name in the data folder. */
export const DATABASE_FILE = 'herald.db';

/**
 * The embedded store: one SQLite file in WAL mode, written by one Herald process (a lock file
 * in the data folder enforces it). better-sqlite3 is synchronous; the async methods keep the
 * contract the same as for a networked database.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly listeners = new Set<() => void>();
  /** Chooses each claim's first step; see claim-plan.ts. */
  private readonly claimRoute = new ClaimRoute();
  private readonly claims = new ClaimBook();
  private statements: Statements | null = null;

  private constructor(
    private readonly dataDir: string | null,
    db: Database.Database,
    private readonly secrets: SecretBox,
  ) {
    this.db = db;
  }

  /**
   * Opens (creating when needed) `herald.db` in `dataDir`, takes the folder's lock, migrates,
   * and checks that `secrets` holds the key the stored webhook secrets were encrypted with.
   * `shared` is for short commands (tokens, export) beside a running Herald: no lock, and the
   * claims of the running dispatcher are left alone. `checkpointsElsewhere`: this connection
   * never copies the WAL back into the database; a WalCheckpointer does.
   */
  static async open(
    dataDir: string,
    secrets: SecretBox,
    options: { shared?: boolean; checkpointsElsewhere?: boolean } = {},
  ): Promise<SqliteStore> {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!options.shared) acquireDataDirLock(dataDir);
    let db: Database.Database | null = null;
    try {
      db = new Database(path.join(dataDir, DATABASE_FILE));
      const store = new SqliteStore(dataDir, db, secrets);
      store.configure(options.checkpointsElsewhere === true);
      await store.migrate();
      store.protectSecrets();
      if (!options.shared) store.releaseAllClaims();
      return store;
    } catch (error) {
      // A refused key, say: the file must not stay open behind the released lock.
      db?.close();
      releaseDataDirLock(dataDir);
      throw error;
    }
  }

  private configure(checkpointsElsewhere: boolean): void {
    this.db.pragma('journal_mode = WAL');
    if (checkpointsElsewhere) this.db.pragma('wal_autocheckpoint = 0');
    // NORMAL in WAL mode keeps every committed transaction across a process crash; only an
    // operating-system crash can lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  async migrate(): Promise<void> {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (let version = current; version < SQLITE_MIGRATIONS.length; version++) {
      this.db.transaction(() => {
        this.db.exec(SQLITE_MIGRATIONS[version]);
        this.db.pragma(`user_version = ${version + 1}`);
      }).immediate();
    }
    this.statements = prepareStatements(this.db);
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.db.close();
    if (this.dataDir) releaseDataDirLock(this.dataDir);
  }

  async ping(): Promise<void> {
    this.sql.ping.get();
  }

  private get sql(): Statements {
    if (!this.statements) throw new Error('the store is not migrated yet');
    return this.statements;
  }

  /** Checks the key against the stored check value (recording one on the first start), then
   * encrypts the secrets of rows written before they were encrypted; a second run finds none. */
  private protectSecrets(): void {
    const encrypted = this.db.transaction(() => {
      const check = this.db.prepare('SELECT value FROM settings WHERE name = ?').get(KEY_CHECK_SETTING) as Row | undefined;
      if (check) assertKeyMatches(this.secrets, check.value as string);
      else this.db.prepare('INSERT INTO settings (name, value) VALUES (?, ?)').run(KEY_CHECK_SETTING, newKeyCheck(this.secrets));
      const rows = this.db.prepare('SELECT id, secret, previous_secret FROM webhooks').all() as Row[];
      const update = this.db.prepare('UPDATE webhooks SET secret = @secret, previous_secret = @previousSecret WHERE id = @id');
      const plain = encryptPlainRows(rows, this.secrets);
      for (const row of plain) update.run(row);
      return plain.length;
    }).immediate();
    // The plain text stays behind in freed pages and in the WAL until they are rewritten: once,
    // on the start that encrypted it, the file is rebuilt and the WAL emptied.
    if (encrypted > 0) {
      this.db.exec('VACUUM');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    }
  }

  /** Claims live in memory (see ClaimBook); rows still marked claimed were written by an
   * earlier version's run, which is dead, since only this process uses the file (the lock says
   * so). (A claim made before lease_until existed moved next_attempt_at to its lease's end.) */
  private releaseAllClaims(): void {
    this.db
      .prepare(`UPDATE deliveries SET claimed_by = NULL, lease_until = NULL, next_attempt_at = min(next_attempt_at, ?)
        WHERE claimed_by IS NOT NULL`)
      .run(Date.now());
  }

  // ---- tokens ----

  async countTokens(): Promise<number> {
    return (this.sql.countTokens.get() as { n: number }).n;
  }

  async insertToken(token: TokenRecord & { tokenHash: string }): Promise<void> {
    this.sql.insertToken.run(tokenParams(token));
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    const row = this.sql.findTokenByHash.get(tokenHash) as Row | undefined;
    return row ? toToken(row) : null;
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const row = this.sql.getToken.get(id) as Row | undefined;
    return row ? toToken(row) : null;
  }

  async listTokens(filter: { tenantId?: string }): Promise<TokenRecord[]> {
    const rows = (filter.tenantId === undefined
      ? this.sql.listTokens.all()
      : this.sql.listTenantTokens.all(filter.tenantId)) as Row[];
    return rows.map(toToken);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    return this.sql.revokeToken.run(now, id).changes === 1;
  }

  // ---- event types ----

  async listCustomEventTypes(): Promise<EventTypeDefinition[]> {
    return (this.sql.listEventTypes.all() as Row[]).map(toEventType);
  }

  async insertEventType(definition: EventTypeDefinition, now: number): Promise<boolean> {
    const result = this.sql.insertEventType.run({
      name: definition.name,
      description: definition.description,
      schema: JSON.stringify(definition.schema),
      tenantPointer: definition.tenantIdPointer,
      projectPointer: definition.projectIdPointer,
      createdAt: now,
    });
    return result.changes === 1;
  }

  // ---- webhooks ----

  async insertWebhook(webhook: WebhookWithSecret): Promise<void> {
    this.db.transaction(() => {
      this.sql.insertWebhook.run({ ...webhookParams(webhook), secret: this.secrets.encrypt(webhook.secret) });
      this.replaceSubscriptions(webhook.id, webhook.events);
    })();
  }

  async getWebhook(id: string): Promise<StoredWebhook | null> {
    const row = this.sql.getWebhook.get(id) as Row | undefined;
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(filter: WebhookListFilter): Promise<StoredWebhook[]> {
    const { where, params } = webhookConditions(filter);
    const sql = `SELECT w.*, ${EVENTS_OF_WEBHOOK} FROM webhooks w ${where} ORDER BY w.id LIMIT @limit`;
    return (this.db.prepare(sql).all({ ...params, limit: filter.limit }) as Row[]).map(toWebhook);
  }

  async countWebhooks(filter: WebhookCountFilter): Promise<number> {
    const { where, params } = webhookConditions(filter);
    return (this.db.prepare(`SELECT count(*) AS n FROM webhooks w ${where}`).get(params) as { n: number }).n;
  }

  async updateWebhook(id: string, patch: WebhookPatch, now: number): Promise<StoredWebhook | null> {
    const assignments: string[] = ['updated_at = @now'];
    const params: Record<string, unknown> = { id, now };
    for (const [field, column] of PATCHABLE_COLUMNS) {
      if (patch[field] === undefined) continue;
      assignments.push(`${column} = @${field}`);
      const value = patch[field];
      params[field] = typeof value === 'boolean' ? Number(value) : value;
    }
    const bind = (value: unknown) => {
      const name = `secret${Object.keys(params).length}`;
      params[name] = value;
      return `@${name}`;
    };
    assignments.push(...secretAssignments(this.secrets, patch, now, bind));
    // Set active again: the reason goes, and the run of failures starts over. (The right-hand
    // sides read the row as it was before this update.)
    if (patch.active === true) assignments.push(...reenableAssignments('active = 1'));
    const updated = this.db.transaction(() => {
      const result = this.db.prepare(`UPDATE webhooks SET ${assignments.join(', ')} WHERE id = @id`).run(params);
      if (result.changes === 0) return false;
      if (patch.events) this.replaceSubscriptions(id, patch.events);
      return true;
    })();
    // Deliveries held while it was inactive are due again.
    if (updated && patch.active === true) this.notifyDeliveriesQueued();
    return updated ? this.getWebhook(id) : null;
  }

  async deleteWebhook(id: string): Promise<boolean> {
    // Deliveries, their attempts and the subscriptions go with the webhook (ON DELETE CASCADE);
    // a dispatcher still sending one finds its claim gone and records nothing.
    return this.sql.deleteWebhook.run(id).changes === 1;
  }

  private replaceSubscriptions(webhookId: string, events: string[]): void {
    this.sql.deleteSubscriptions.run(webhookId);
    for (const eventName of events) this.sql.insertSubscription.run(eventName, webhookId);
  }

  // ---- events ----

  async publishEvents(request: PublishRequest): Promise<PublishOutcome> {
    const outcome = this.db.transaction((): PublishOutcome => {
      if (request.idempotency) {
        const previous = this.sql.getIdempotencyKey.get(request.idempotency.key) as Row | undefined;
        if (previous) {
          if (previous.fingerprint !== request.idempotency.fingerprint) return { kind: 'key-reused' };
          return { kind: 'replayed', events: JSON.parse(previous.response as string) as PublishedEvent[] };
        }
      }
      // A batch's events mostly share a few (name, tenant, project) scopes: each is looked up once.
      const subscribersByScope = new Map<string, Array<{ id: string }>>();
      const events = request.events.map((event) => this.insertEventWithDeliveries(event, request.now, subscribersByScope));
      if (request.idempotency) {
        this.sql.insertIdempotencyKey.run(
          request.idempotency.key,
          request.idempotency.fingerprint,
          JSON.stringify(events),
          request.now,
        );
      }
      return { kind: 'published', events };
    }).immediate();
    if (outcome.kind === 'published' && outcome.events.some((event) => event.deliveries > 0)) {
      this.notifyDeliveriesQueued();
    }
    return outcome;
  }

  private insertEventWithDeliveries(
    event: PublishRequest['events'][number],
    now: number,
    subscribersByScope: Map<string, Array<{ id: string }>>,
  ): PublishedEvent {
    const sql = this.sql;
    sql.insertEvent.run(event.id, event.eventName, event.body, event.tenantId, event.projectId, now);
    const scope = JSON.stringify([event.eventName, event.tenantId, event.projectId]);
    let subscribers = subscribersByScope.get(scope);
    if (!subscribers) {
      subscribers = sql.findSubscribers.all({
        eventName: event.eventName,
        tenantId: event.tenantId,
        projectId: event.projectId,
      }) as Array<{ id: string }>;
      subscribersByScope.set(scope, subscribers);
    }
    for (const { id: webhookId } of subscribers) {
      sql.insertDelivery.run(newId('dlv'), webhookId, event.id, event.eventName, now, now);
    }
    return { id: event.id, deliveries: subscribers.length };
  }

  // ---- one webhook's deliveries ----

  async enqueueDirectDelivery(request: DirectDeliveryRequest): Promise<string | null> {
    const { event, now, webhookId } = request;
    const deliveryId = this.db.transaction(() => {
      if (!this.sql.webhookExists.get(webhookId)) return null;
      this.sql.insertEvent.run(event.id, event.eventName, event.body, event.tenantId, event.projectId, now);
      const id = newId('dlv');
      this.sql.insertDelivery.run(id, webhookId, event.id, event.eventName, now, now);
      return id;
    }).immediate();
    if (deliveryId) this.notifyDeliveriesQueued();
    return deliveryId;
  }

  async resendDeliveries(request: ResendRequest): Promise<string[]> {
    const { webhookId, now } = request;
    const ids = this.db.transaction(() => {
      const originals = (request.deliveryId !== undefined
        ? this.sql.getDeliveryOfWebhook.all(request.deliveryId, webhookId)
        : request.failedSince !== undefined
          ? this.sql.failedSince.all({ webhookId, since: request.failedSince, limit: HISTORY_LIMIT })
          : []) as Row[];
      const created: string[] = [];
      for (const original of originals) {
        const id = newId('dlv');
        this.sql.insertResend.run(id, webhookId, original.event_id, original.event_name, now, now, original.id);
        created.push(id);
      }
      return created;
    }).immediate();
    if (ids.length > 0) this.notifyDeliveriesQueued();
    return ids;
  }

  // ---- deliveries ----

  async claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const claimed = this.rowsToClaim(request);
    this.claims.take(claimed, request.workerId, request.now + request.leaseMs);
    return this.hydrateClaims(claimed, request.now);
  }

  /** The rows a claim takes: read, not written (see ClaimBook). */
  private rowsToClaim(request: ClaimRequest): Row[] {
    const plan = planSlots(request);
    if (this.claimRoute.perWebhookFirst(request.inFlightByWebhook.size)) return this.claimPerWebhook(request, plan, request.limit);
    const window = headWindow(request.limit);
    const rows = this.sql.claimHead.iterate({ now: request.now, held: this.claims.liveAt(request.now), window }) as Iterable<Row>;
    const { chosen: head, read } = chooseFromHead(rows, plan, request);
    if (head.length >= request.limit || !perWebhookLookFollows(read, head.length, window)) return head;
    const claimedFrom = head.map((row) => row.webhook_id as string);
    const rest = this.claimPerWebhook(
      request,
      afterClaimed(plan, claimedFrom, request.maxInFlightPerWebhook),
      request.limit - head.length,
      head,
    );
    return [...head, ...rest];
  }

  /** Oldest due webhook first, each up to its free slots; `chosen` are taken already. */
  private claimPerWebhook(request: ClaimRequest, plan: SlotPlan, limit: number, chosen: readonly Row[] = []): Row[] {
    const held = this.claims.liveAt(request.now, chosen);
    const ready = this.sql.readyWebhooks.all({ now: request.now, held, saturated: JSON.stringify(plan.saturated) }) as Row[];
    this.claimRoute.sawDueWebhooks(ready.length);
    const claimed: Row[] = [];
    for (const { webhook_id: webhookId } of ready) {
      const free = Math.min(request.maxInFlightPerWebhook - (plan.busy[webhookId as string] ?? 0), limit - claimed.length);
      if (free <= 0) continue;
      const rows = this.sql.claimOfWebhook.all({ webhookId, now: request.now, held, limit: free });
      claimed.push(...(rows as Row[]));
      if (claimed.length >= limit) break;
    }
    return claimed;
  }

  /** Adds the event bodies and webhook settings, each read once per claim batch. */
  private hydrateClaims(claimed: Row[], now: number): ClaimedDelivery[] {
    if (claimed.length === 0) return [];
    const webhookIds = [...new Set(claimed.map((row) => row.webhook_id as string))];
    const eventIds = [...new Set(claimed.map((row) => row.event_id as string))];
    const targets = this.sql.getTargets.all({ ids: JSON.stringify(webhookIds), now }) as Row[];
    const bodies = this.sql.getEventBodies.all(JSON.stringify(eventIds)) as Row[];
    return hydrateClaims(this.secrets, claimed, targets, bodies);
  }

  /**
   * A webhook's last event, history count and run of failures after a batch of its outcomes:
   * one statement updates the first two and reads the third; the run is written only where it
   * changed. The history is pruned back to its newest HISTORY_LIMIT finished deliveries once
   * the count passes the margin; pending deliveries are never pruned, since an accepted event
   * is delivered or given up on first.
   */
  private recordWebhookOutcomes(webhookId: string, outcomes: AttemptRecord[], autoDisable?: AutoDisablePolicy): void {
    const last = latestRecord(outcomes);
    const row = this.sql.recordWebhookOutcomes.get({
      webhookId,
      eventName: last.eventName,
      status: last.next.kind === 'delivered' ? 'success' : 'error',
      statusCode: last.statusCode,
      dispatchedAt: last.startedAt,
      finished: outcomes.filter((record) => record.next.kind !== 'retry').length,
    }) as Row | undefined;
    if (!row) return;
    if ((row.history_count as number) > HISTORY_LIMIT + HISTORY_PRUNE_MARGIN) {
      // What was deleted comes off the count: the one writer changed nothing else meanwhile.
      const pruned = this.sql.pruneHistory.run({ webhookId, excess: (row.history_count as number) - HISTORY_LIMIT }).changes;
      this.sql.lowerHistoryCount.run({ webhookId, pruned });
    }
    const before = failureRunOf(row);
    const after = nextFailureRun(before, outcomes, autoDisable);
    if (!sameFailureRun(before, after)) this.sql.setFailureRun.run({ ...after, active: after.active ? 1 : 0, id: webhookId });
  }

  async recordAttempts(workerId: string, records: AttemptRecord[], autoDisable?: AutoDisablePolicy): Promise<void> {
    const sql = this.sql;
    const settled: string[] = [];
    this.db.transaction(() => {
      const kept: AttemptRecord[] = [];
      for (const record of records) {
        // A claim another worker took over after it lapsed: that worker's outcome counts.
        if (!this.claims.holds(record.deliveryId, workerId)) continue;
        settled.push(record.deliveryId);
        const columns = outcomeColumns(record);
        const completed = sql.completeAttempt.run(
          columns.status,
          columns.next_attempt_at,
          columns.status_code,
          columns.error_code,
          columns.error_message,
          columns.duration_ms,
          columns.dispatched_at,
          JSON.stringify(columns.request_headers),
          columns.response_body,
          columns.id,
        );
        if (completed.changes === 0) continue; // its webhook was deleted meanwhile
        kept.push(record);
        // A last attempt stays on the delivery's row alone (see rows.ts toDeliveryDetail).
        if (record.next.kind !== 'retry') continue;
        sql.insertAttempt.run(
          columns.dispatched_at,
          columns.duration_ms,
          columns.status_code,
          columns.error_code,
          columns.error_message,
          columns.id,
        );
      }
      for (const [webhookId, outcomes] of groupByWebhook(kept)) this.recordWebhookOutcomes(webhookId, outcomes, autoDisable);
    })();
    // Only once committed: a write that failed is made again, and must find its claims.
    this.claims.drop(settled);
  }

  async releaseClaims(workerId: string, deliveryIds: string[], now: number): Promise<void> {
    const released = deliveryIds.filter((id) => this.claims.holds(id, workerId));
    this.db.transaction(() => {
      for (const id of released) this.sql.releaseClaim.run(now, id);
    })();
    this.claims.drop(released);
    if (released.length > 0) this.notifyDeliveriesQueued();
  }

  async nextDueAt(skipWebhookIds: readonly string[] = []): Promise<number | null> {
    if (!this.claimRoute.perWebhookFirst(skipWebhookIds.length)) {
      const skipped = new Set(skipWebhookIds);
      const head = this.sql.headDue.all({ held: this.claims.all(), window: NEXT_DUE_WINDOW }) as Row[];
      const first = head.find((row) => row.active === 1 && !skipped.has(row.webhook_id as string));
      if (first) return first.at as number;
      if (head.length < NEXT_DUE_WINDOW) return null;
    }
    // The window holds only held-back work, or few webhooks have any: look per webhook.
    const row = this.sql.nextDuePerWebhook.get({ held: this.claims.all(), saturated: JSON.stringify(skipWebhookIds) }) as {
      at: number | null;
    };
    return row.at;
  }

  async queueStats(now: number): Promise<QueueStats> {
    const row = this.sql.queueStats.get({ now, held: this.claims.liveAt(now) }) as {
      pending: number;
      oldestDueAt: number | null;
      disabledWebhooks: number;
    };
    return { pending: row.pending, oldestDueAt: row.oldestDueAt ?? null, disabledWebhooks: row.disabledWebhooks };
  }

  async listDeliveries(webhookId: string, filter: DeliveryListFilter): Promise<DeliverySummary[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { webhookId, limit: HISTORY_LIMIT };
    if (filter.eventName !== undefined) {
      where.push('event_name = @eventName');
      params.eventName = filter.eventName;
    }
    if (filter.status !== undefined) {
      where.push('status = @status');
      params.status = filter.status;
    }
    if (filter.statusCode !== undefined) {
      where.push('status_code = @statusCode');
      params.statusCode = filter.statusCode;
    }
    // The history is the webhook's newest HISTORY_LIMIT deliveries; filters narrow that window.
    const sql = `SELECT * FROM (
        SELECT * FROM deliveries WHERE webhook_id = @webhookId ORDER BY seq DESC LIMIT @limit
      ) ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq ${filter.sort === 'oldest' ? 'ASC' : 'DESC'}`;
    return (this.db.prepare(sql).all(params) as Row[]).map(toDeliverySummary);
  }

  async getDelivery(webhookId: string, deliveryId: string): Promise<DeliveryDetail | null> {
    const row = this.sql.getDelivery.get(deliveryId, webhookId) as Row | undefined;
    if (!row) return null;
    const attempts = this.sql.listAttempts.all(deliveryId) as Row[];
    return toDeliveryDetail(row, attempts);
  }

  async pruneOrphans(now: number, olderThanMs: number): Promise<void> {
    const cutoff = now - olderThanMs;
    this.db.transaction(() => {
      this.sql.deleteOrphanEvents.run(cutoff);
      this.sql.deleteOldIdempotencyKeys.run(cutoff);
      this.sql.dropExpiredPreviousSecrets.run(now);
    })();
  }

  async exportSnapshot(): Promise<Snapshot> {
    const webhooks = (this.db.prepare(`SELECT w.*, ${EVENTS_OF_WEBHOOK} FROM webhooks w ORDER BY w.id`).all() as Row[]).map(
      // Plain secrets: the file is for another installation, which encrypts them with its own key.
      (row) => ({ ...withoutLastEvent(toWebhook(row)), secret: this.secrets.decrypt(row.secret as string) }),
    );
    const tokens = (this.db.prepare('SELECT * FROM tokens ORDER BY id').all() as Row[]).map(toTokenExport);
    return newSnapshot({ webhooks, eventTypes: await this.listCustomEventTypes(), tokens });
  }

  onDeliveriesQueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notifyDeliveriesQueued(): void {
    for (const listener of this.listeners) listener();
  }
}

type Statements = ReturnType<typeof prepareStatements>;

/** A webhook set active again: when it was inactive, its reason and its run of failures go. */
function reenableAssignments(wasActive: string): string[] {
  return [
    `disabled_reason = CASE WHEN ${wasActive} THEN disabled_reason END`,
    `disabled_at = CASE WHEN ${wasActive} THEN disabled_at END`,
    `failing_since = CASE WHEN ${wasActive} THEN failing_since END`,
    `consecutive_failures = CASE WHEN ${wasActive} THEN consecutive_failures ELSE 0 END`,
  ];
}

const EVENTS_OF_WEBHOOK = `(SELECT json_group_array(event_name) FROM
  (SELECT event_name FROM webhook_events WHERE webhook_id = w.id ORDER BY event_name)) AS events`;

const CLAIMED_COLUMNS = 'seq, id, webhook_id, event_id, event_name, attempts';

/**
 * Takes rows of the due window, oldest first, while their webhook is active, not saturated and
 * has a free slot, until the claim is full; stops reading there, so a claim reads about as many
 * rows as it takes rather than the whole window, and once it has passed over enough rows for the
 * per-webhook look to follow (see claim-plan.ts). `read` counts the rows looked at, taken or not.
 */
export function chooseFromHead(rows: Iterable<Row>, plan: SlotPlan, request: ClaimRequest): { chosen: Row[]; read: number } {
  const saturated = new Set(plan.saturated);
  const taken = new Map<string, number>();
  const chosen: Row[] = [];
  let read = 0;
  for (const row of rows) {
    read++;
    const webhookId = row.webhook_id as string;
    const inFlight = taken.get(webhookId) ?? plan.busy[webhookId] ?? 0;
    if (row.active !== 1 || saturated.has(webhookId) || inFlight >= request.maxInFlightPerWebhook) {
      // Enough passed over for the per-webhook look to follow: reading on would not change that.
      if (read - chosen.length >= WINDOW_PASSED_OVER_MAX) break;
      continue;
    }
    taken.set(webhookId, inFlight + 1);
    chosen.push(row);
    if (chosen.length >= request.limit) break;
  }
  return { chosen, read };
}

/** Rows of the due index nextDueAt reads before it looks per webhook (see claim-plan.ts). */
const NEXT_DUE_WINDOW = 32;

/** Not held by a claim in @held, the JSON array of claimed seqs the ClaimBook gives: those
 * live at @now for a claim, every one for nextDueAt, which has no clock (a claim that lapses is
 * found by the dispatcher's next claim, which it makes at least once a second). The due index
 * holds the seq, so the test needs no read of the row there. */
const NOT_HELD = 'd.seq NOT IN (SELECT value FROM json_each(@held))';

/**
 * `due`: each active webhook with pending deliveries, outside @saturated, with its earliest
 * next_attempt_at among the rows @held leaves out. The webhooks are found by skipping
 * through the pending-by-webhook index, one probe per webhook, however long each one's backlog
 * is; within a webhook the look passes over its claimed rows only.
 */
const PENDING_WEBHOOKS_DUE = `WITH RECURSIVE pending(webhook_id) AS (
    SELECT min(webhook_id) FROM deliveries WHERE status = 'pending'
    UNION ALL
    SELECT (SELECT min(d.webhook_id) FROM deliveries d WHERE d.status = 'pending' AND d.webhook_id > p.webhook_id)
    FROM pending p WHERE p.webhook_id IS NOT NULL
  ),
  due AS (
    SELECT p.webhook_id,
      -- In index order, stopping at the first row no claim holds (min() would read them all).
      (SELECT d.next_attempt_at FROM deliveries d WHERE d.status = 'pending' AND d.webhook_id = p.webhook_id
        AND ${NOT_HELD} ORDER BY d.next_attempt_at LIMIT 1) AS at
    FROM pending p JOIN webhooks w ON w.id = p.webhook_id AND w.active = 1
    WHERE p.webhook_id NOT IN (SELECT value FROM json_each(@saturated))
  )`;

/** A batch's newest attempt replaces the webhook's last event unless a later one is there. */
const NEWER_LAST_EVENT = '(last_dispatched_at IS NULL OR last_dispatched_at <= @dispatchedAt)';

function prepareStatements(db: Database.Database) {
  return {
    countTokens: db.prepare('SELECT count(*) AS n FROM tokens'),
    insertToken: db.prepare(`INSERT INTO tokens
      (id, token_hash, name, role, tenant_id, project_id, created_at, expires_at, revoked_at)
      VALUES (@id, @tokenHash, @name, @role, @tenantId, @projectId, @createdAt, @expiresAt, @revokedAt)`),
    findTokenByHash: db.prepare('SELECT * FROM tokens WHERE token_hash = ?'),
    getToken: db.prepare('SELECT * FROM tokens WHERE id = ?'),
    listTokens: db.prepare('SELECT * FROM tokens ORDER BY id DESC'),
    listTenantTokens: db.prepare('SELECT * FROM tokens WHERE tenant_id = ? ORDER BY id DESC'),
    revokeToken: db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    listEventTypes: db.prepare('SELECT * FROM event_types ORDER BY name'),
    insertEventType: db.prepare(`INSERT OR IGNORE INTO event_types
      (name, description, schema, tenant_pointer, project_pointer, created_at)
      VALUES (@name, @description, @schema, @tenantPointer, @projectPointer, @createdAt)`),
    insertWebhook: db.prepare(`INSERT INTO webhooks
      (id, name, url, secret, tenant_id, project_id, method, content_type, max_attempts, active,
       base64_ca, proxy_url, created_at, updated_at)
      VALUES (@id, @name, @url, @secret, @tenantId, @projectId, @method, @contentType, @maxAttempts,
       @active, @base64CA, @proxyUrl, @createdAt, @updatedAt)`),
    getWebhook: db.prepare(`SELECT w.*, ${EVENTS_OF_WEBHOOK} FROM webhooks w WHERE w.id = ?`),
    deleteWebhook: db.prepare('DELETE FROM webhooks WHERE id = ?'),
    deleteSubscriptions: db.prepare('DELETE FROM webhook_events WHERE webhook_id = ?'),
    insertSubscription: db.prepare('INSERT INTO webhook_events (event_name, webhook_id) VALUES (?, ?)'),
    insertEvent: db.prepare(
      'INSERT INTO events (id, event_name, body, tenant_id, project_id, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    // The scope rule of core/types.ts `webhookHearsEvent`, in SQL.
    findSubscribers: db.prepare(`SELECT w.id FROM webhook_events e JOIN webhooks w ON w.id = e.webhook_id
      WHERE e.event_name = @eventName AND w.active = 1
        AND (w.tenant_id IS NULL OR (w.tenant_id = @tenantId
          AND (w.project_id IS NULL OR w.project_id = @projectId)))`),
    insertDelivery: db.prepare(`INSERT INTO deliveries
      (id, webhook_id, event_id, event_name, status, attempts, next_attempt_at, created_at)
      VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)`),
    webhookExists: db.prepare('SELECT 1 FROM webhooks WHERE id = ?'),
    // The oldest finished deliveries beyond the limit, by the webhook's count of them (see
    // HISTORY_PRUNE_MARGIN): read from the old end of the webhook's index, never past the pending
    // backlog that sits at its new end.
    pruneHistory: db.prepare(`DELETE FROM deliveries WHERE seq IN (
      SELECT seq FROM deliveries WHERE webhook_id = @webhookId AND status != 'pending' ORDER BY seq LIMIT @excess)`),
    lowerHistoryCount: db.prepare('UPDATE webhooks SET history_count = history_count - @pruned WHERE id = @webhookId'),
    getIdempotencyKey: db.prepare('SELECT fingerprint, response FROM idempotency_keys WHERE key = ?'),
    insertIdempotencyKey: db.prepare(
      'INSERT INTO idempotency_keys (key, fingerprint, response, created_at) VALUES (?, ?, ?, ?)',
    ),
    // The oldest due deliveries (a bounded window), read one at a time until the claim is full:
    // chooseFromHead leaves out inactive webhooks and those without a free slot. The claim
    // itself is booked in memory (see ClaimBook).
    claimHead: db.prepare(`SELECT d.seq, d.id, d.webhook_id, d.event_id, d.event_name, d.attempts, w.active FROM deliveries d
      JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= @now AND ${NOT_HELD}
      ORDER BY d.next_attempt_at LIMIT @window`),
    readyWebhooks: db.prepare(`${PENDING_WEBHOOKS_DUE}
      SELECT webhook_id FROM due WHERE at <= @now ORDER BY at`),
    claimOfWebhook: db.prepare(`SELECT ${CLAIMED_COLUMNS} FROM deliveries d
      WHERE webhook_id = @webhookId AND status = 'pending' AND next_attempt_at <= @now AND ${NOT_HELD}
      ORDER BY next_attempt_at, seq LIMIT @limit`),
    headDue: db.prepare(`SELECT d.webhook_id, d.next_attempt_at AS at, w.active FROM deliveries d
      JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.status = 'pending' AND ${NOT_HELD}
      ORDER BY d.next_attempt_at LIMIT @window`),
    nextDuePerWebhook: db.prepare(`${PENDING_WEBHOOKS_DUE} SELECT min(at) AS at FROM due`),
    // The previous secret only while its grace period runs at the claim's time.
    getTargets: db.prepare(`SELECT id, url, method, content_type, max_attempts, secret, base64_ca, proxy_url,
        CASE WHEN previous_secret_expires_at > @now THEN previous_secret END AS previous_secret
      FROM webhooks WHERE id IN (SELECT value FROM json_each(@ids))`),
    getEventBodies: db.prepare('SELECT id, body FROM events WHERE id IN (SELECT value FROM json_each(?))'),
    // Bound by position: a batch runs it once per outcome, and binding eleven values by name
    // cost a tenth of the outcome write. No RETURNING: SQLite collects returned rows in a
    // table of their own first, which made the write 25% dearer (7.6 µs a row against 5.9).
    completeAttempt: db.prepare(`UPDATE deliveries SET
        status = ?, attempts = attempts + 1, next_attempt_at = ?,
        status_code = ?, error_code = ?, error_message = ?, duration_ms = ?, dispatched_at = ?,
        request_headers = ?, response_body = ?
      WHERE id = ? AND status = 'pending'`),
    // Numbered as the delivery's row counts its attempts, just written (a retry's only).
    insertAttempt: db.prepare(`INSERT INTO attempts
      (delivery_id, attempt_number, started_at, duration_ms, status_code, error_code, error_message)
      SELECT id, attempts, ?, ?, ?, ?, ? FROM deliveries WHERE id = ?`),
    // On the right of SET a column is the row's old value: "newer" compares with the last event
    // as it was, for all four columns alike. RETURNING gives the new history count and the run
    // of failures, which this statement leaves as it is.
    recordWebhookOutcomes: db.prepare(`UPDATE webhooks SET
        last_event_name = CASE WHEN ${NEWER_LAST_EVENT} THEN @eventName ELSE last_event_name END,
        last_status = CASE WHEN ${NEWER_LAST_EVENT} THEN @status ELSE last_status END,
        last_status_code = CASE WHEN ${NEWER_LAST_EVENT} THEN @statusCode ELSE last_status_code END,
        last_dispatched_at = CASE WHEN ${NEWER_LAST_EVENT} THEN @dispatchedAt ELSE last_dispatched_at END,
        history_count = history_count + @finished
      WHERE id = @webhookId
      RETURNING history_count, active, failing_since, consecutive_failures, disabled_reason, disabled_at`),
    releaseClaim: db.prepare(
      "UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'",
    ),
    ping: db.prepare('SELECT 1'),
    queueStats: db.prepare(`SELECT
        (SELECT count(*) FROM deliveries WHERE status = 'pending') AS pending,
        (SELECT min(next_attempt_at) FROM deliveries d WHERE status = 'pending' AND next_attempt_at <= @now AND ${NOT_HELD})
          AS oldestDueAt,
        (SELECT count(*) FROM webhooks WHERE active = 0) AS disabledWebhooks`),
    getDelivery: db.prepare(`SELECT d.*, e.body FROM deliveries d JOIN events e ON e.id = d.event_id
      WHERE d.id = ? AND d.webhook_id = ?`),
    getDeliveryOfWebhook: db.prepare('SELECT id, event_id, event_name FROM deliveries WHERE id = ? AND webhook_id = ?'),
    // Given up on since a time (that of the last attempt), among the webhook's history, oldest first.
    failedSince: db.prepare(`SELECT id, event_id, event_name FROM (
        SELECT seq, id, event_id, event_name, status, dispatched_at FROM deliveries WHERE webhook_id = @webhookId
        ORDER BY seq DESC LIMIT @limit
      ) WHERE status = 'error' AND dispatched_at >= @since ORDER BY seq`),
    insertResend: db.prepare(`INSERT INTO deliveries
      (id, webhook_id, event_id, event_name, status, attempts, next_attempt_at, created_at, resent_from)
      VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`),
    setFailureRun: db.prepare(`UPDATE webhooks SET active = @active, failing_since = @failingSince,
        consecutive_failures = @consecutiveFailures, disabled_reason = @disabledReason, disabled_at = @disabledAt
      WHERE id = @id`),
    listAttempts: db.prepare('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY attempt_number'),
    deleteOrphanEvents: db.prepare(`DELETE FROM events WHERE created_at < ?
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`),
    deleteOldIdempotencyKeys: db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?'),
    // A rotated-out secret is not kept a moment longer than it is used.
    dropExpiredPreviousSecrets: db.prepare(`UPDATE webhooks SET previous_secret = NULL, previous_secret_expires_at = NULL
      WHERE previous_secret_expires_at <= ?`),
  };
}

function tokenParams(token: TokenRecord & { tokenHash: string }): Record<string, unknown> {
  return {
    id: token.id,
    tokenHash: token.tokenHash,
    name: token.name,
    role: token.role,
    tenantId: token.tenantId,
    projectId: token.projectId,
    createdAt: token.createdAt,
    expiresAt: token.expiresAt,
    revokedAt: token.revokedAt,
  };
}

function webhookParams(webhook: WebhookWithSecret): Record<string, unknown> {
  return {
    id: webhook.id,
    name: webhook.name,
    url: webhook.url,
    secret: webhook.secret,
    tenantId: webhook.tenantId,
    projectId: webhook.projectId,
    method: webhook.method,
    contentType: webhook.contentType,
    maxAttempts: webhook.maxAttempts,
    active: webhook.active ? 1 : 0,
    base64CA: webhook.base64CA,
    proxyUrl: webhook.proxyUrl,
    createdAt: webhook.createdAt,
    updatedAt: webhook.updatedAt,
  };
}

/** The WHERE clause of a webhook listing or count, with its named parameters. */
function webhookConditions(filter: WebhookCountFilter & { after?: string }): { where: string; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.tenantId !== undefined) {
    where.push('w.tenant_id = @tenantId');
    params.tenantId = filter.tenantId;
  }
  if (filter.projectId !== undefined) {
    where.push('w.project_id = @projectId');
    params.projectId = filter.projectId;
  }
  if (filter.scope === 'instance') where.push('w.tenant_id IS NULL');
  if (filter.scope === 'company') where.push('w.tenant_id IS NOT NULL AND w.project_id IS NULL');
  if (filter.scope === 'project') where.push('w.project_id IS NOT NULL');
  if (filter.event !== undefined) {
    where.push('EXISTS (SELECT 1 FROM webhook_events e WHERE e.webhook_id = w.id AND e.event_name = @event)');
    params.event = filter.event;
  }
  if (filter.after !== undefined) {
    where.push('w.id > @after');
    params.after = filter.after;
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}
