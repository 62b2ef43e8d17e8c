import type { Role } from '../core/access.js';
import type { EventTypeDefinition } from '../core/catalog.js';
import type { Snapshot } from './snapshot.js';
import type {
  DeliveryError,
  DeliveryStatus,
  LastEvent,
  Scope,
  Webhook,
  WebhookMethod,
  WebhookWithSecret,
} from '../core/types.js';

/** Deliveries kept per webhook for its history; older finished ones are pruned. */
export const HISTORY_LIMIT = 200;

export interface TokenRecord {
  id: string;
  name: string | null;
  role: Role;
  tenantId: string | null;
  projectId: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface StoredWebhook extends Webhook {
  lastEvent: LastEvent | null;
  /** While a rotated-out secret still signs (see WebhookPatch), when it stops; else null. */
  previousSecretExpiresAt: number | null;
  /** Why Herald set the webhook inactive by itself (see AutoDisablePolicy); null otherwise. */
  disabledReason: string | null;
  disabledAt: number | null;
  /** When the first delivery given up on since the last success was; null after a success. */
  failingSince: number | null;
  /** Deliveries given up on in a row since the last success. */
  consecutiveFailures: number;
}

/**
 * When a webhook is set inactive by itself: no success for `afterMs` since the first delivery
 * given up on, and at least `afterFailures` deliveries given up on in a row.
 */
export interface AutoDisablePolicy {
  afterMs: number;
  /** 0 turns automatic disabling off. */
  afterFailures: number;
}

/** One delivery for one webhook, of a new event that goes to that webhook alone (a test event). */
export interface DirectDeliveryRequest {
  webhookId: string;
  event: NewEvent;
  now: number;
}

/** Queues deliveries of a webhook again as new deliveries of the same events. */
export interface ResendRequest {
  webhookId: string;
  now: number;
  /** That one delivery, whatever its status; or */
  deliveryId?: string;
  /** every delivery given up on (status error) whose last attempt was at or after this time,
   * among the webhook's newest HISTORY_LIMIT. */
  failedSince?: number;
}

export interface WebhookPatch {
  name?: string | null;
  url?: string;
  events?: string[];
  /** A new secret. Without `keepPreviousSecretForMs` the old one stops signing at once. */
  secret?: string;
  /** With `secret`: the old secret keeps signing beside the new one for this long, so
   * receivers can switch over without dropping requests. */
  keepPreviousSecretForMs?: number;
  tenantId?: string | null;
  projectId?: string | null;
  method?: WebhookMethod;
  contentType?: string;
  maxAttempts?: number;
  active?: boolean;
  base64CA?: string | null;
  proxyUrl?: string | null;
}

export interface WebhookListFilter {
  tenantId?: string;
  projectId?: string;
  scope?: Scope;
  event?: string;
  /** Webhooks after this id (ids sort by creation time). */
  after?: string;
  limit: number;
}

/** What a webhook count filters on: a listing's filter without its paging. */
export type WebhookCountFilter = Omit<WebhookListFilter, 'after' | 'limit'>;

export interface NewEvent {
  id: string;
  eventName: string;
  /** The serialised envelope: the exact bytes every receiver gets. */
  body: string;
  tenantId: string | null;
  projectId: string | null;
}

export interface PublishedEvent {
  id: string;
  deliveries: number;
}

export interface PublishRequest {
  events: NewEvent[];
  now: number;
  /** When given, a repeat with the same key and fingerprint returns the first result. */
  idempotency?: { key: string; fingerprint: string };
  /**
   * When given, a store that can (one with readClaimedBatch) creates the deliveries already
   * claimed for this worker, as many as the claim would take, `leaseMs` counted from `now`:
   * they are never written a second time just to be claimed (see PublishHandOff).
   */
  claimFor?: ClaimRequest;
}

/**
 * Deliveries a publish created already claimed: at most `count`, each id starting with
 * `idStem`, in the publish's order, held until `leaseEndsAt`. Of the rows with that stem, they
 * are those still claimed by the worker with their next attempt at exactly `leaseEndsAt`: the
 * worker's ordinary claims must never end their leases at that time.
 */
export interface ClaimedBatch {
  /** Whom the deliveries were claimed for. */
  workerId: string;
  idStem: string;
  count: number;
  leaseEndsAt: number;
}

/** The next part of a claimed batch, read in order after `lastId` (see readClaimedBatch). */
export interface ClaimedBatchPage {
  /** Ready to send, the webhook's target and secrets as of `now`. */
  deliveries: ClaimedDelivery[];
  /** Of webhooks set inactive since the publish: not to be sent, their claims to be given back. */
  inactive: string[];
  /** The last id this page read: the next page starts after it. */
  lastId: string | null;
  /** Rows this page read, whatever became of them; fewer than asked means the batch is done. */
  read: number;
}

/**
 * Who takes the deliveries a publish claimed: the dispatcher of the publishing process, or in
 * an API-only process a worker that offered to take them (see HandOffOffer). An event's
 * deliveries then go from the publish straight to the sending, each row written twice
 * (created, then completed) instead of three times with a claim between.
 */
export interface PublishHandOff {
  /** What to claim for the dispatcher now, or undefined when it takes nothing more. */
  claimFor(now: number): ClaimRequest | undefined;
  take(batch: ClaimedBatch): void;
}

/**
 * A worker's standing offer to API-only processes: publish up to `room` deliveries claimed for
 * me, with leases of `leaseMs` (a handed-off claim's, see the dispatcher). Renewed every
 * moment while the worker runs, so an offer that stops coming is soon ignored.
 */
export interface HandOffOffer {
  workerId: string;
  room: number;
  leaseMs: number;
  maxInFlightPerWebhook: number;
}

/** What processes of one database tell each other about hand-offs. */
export type HandOffMessage = { kind: 'offer'; offer: HandOffOffer } | { kind: 'batch'; batch: ClaimedBatch };

export type PublishOutcome =
  | { kind: 'published'; events: PublishedEvent[]; claimed?: ClaimedBatch }
  | { kind: 'replayed'; events: PublishedEvent[] }
  | { kind: 'key-reused' };

/** Everything a dispatcher needs to send one delivery, secret included. */
export interface ClaimedDelivery {
  id: string;
  eventId: string;
  eventName: string;
  attemptsMade: number;
  body: string;
  webhook: Pick<
    WebhookWithSecret,
    'id' | 'url' | 'method' | 'contentType' | 'maxAttempts' | 'secret' | 'base64CA' | 'proxyUrl'
  > & {
    /** The rotated-out secret while its grace period runs at the claim's `now`, else null. */
    previousSecret: string | null;
  };
}

export interface ClaimRequest {
  workerId: string;
  now: number;
  limit: number;
  /** A claim not completed by now + leaseMs is taken over by whoever claims next. */
  leaseMs: number;
  /** Deliveries already in flight per webhook in this worker. */
  inFlightByWebhook: ReadonlyMap<string, number>;
  maxInFlightPerWebhook: number;
}

export type AttemptNext =
  | { kind: 'delivered' }
  | { kind: 'retry'; at: number }
  | { kind: 'gave-up' };

export interface AttemptRecord {
  deliveryId: string;
  webhookId: string;
  eventName: string;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: DeliveryError | null;
  requestHeaders: Record<string, string>;
  responseBodyStart: string | null;
  next: AttemptNext;
}

export interface DeliveryListFilter {
  sort: 'newest' | 'oldest';
  eventName?: string;
  status?: DeliveryStatus;
  statusCode?: number;
}

export interface DeliverySummary {
  id: string;
  eventId: string;
  eventName: string;
  status: DeliveryStatus;
  statusCode: number | null;
  attempts: number;
  dispatchedAt: number | null;
  durationMs: number | null;
  error: DeliveryError | null;
  nextAttemptAt: number | null;
  createdAt: number;
  /** The delivery this one was queued again from; null for a delivery of a published event. */
  resentFrom: string | null;
}

export interface AttemptSummary {
  attempt: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: DeliveryError | null;
}

export interface DeliveryDetail extends DeliverySummary {
  requestBody: string;
  requestHeaders: Record<string, string> | null;
  responseBody: string | null;
  attemptLog: AttemptSummary[];
}

export interface QueueStats {
  pending: number;
  oldestDueAt: number | null;
  disabledWebhooks: number;
}

/**
 * The one interface between Herald's parts and its database. The API writes webhooks and
 * events through it; the dispatcher claims and completes deliveries through it; they never
 * meet anywhere else.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** A trivial query: resolves when the database answers (and the store is migrated). */
  ping(): Promise<void>;

  countTokens(): Promise<number>;
  insertToken(token: TokenRecord & { tokenHash: string }): Promise<void>;
  findTokenByHash(tokenHash: string): Promise<TokenRecord | null>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** Tokens newest first; with a tenantId, only those limited to that tenant. */
  listTokens(filter: { tenantId?: string }): Promise<TokenRecord[]>;
  /** Returns false when there is no such token or it was revoked already. */
  revokeToken(id: string, now: number): Promise<boolean>;

  listCustomEventTypes(): Promise<EventTypeDefinition[]>;
  /** Returns false when an event type of that name exists already. */
  insertEventType(definition: EventTypeDefinition, now: number): Promise<boolean>;

  insertWebhook(webhook: WebhookWithSecret): Promise<void>;
  getWebhook(id: string): Promise<StoredWebhook | null>;
  listWebhooks(filter: WebhookListFilter): Promise<StoredWebhook[]>;
  countWebhooks(filter: WebhookCountFilter): Promise<number>;
  /** Returns the updated webhook, or null when it does not exist. */
  updateWebhook(id: string, patch: WebhookPatch, now: number): Promise<StoredWebhook | null>;
  /** Deletes the webhook and its deliveries, pending ones included. */
  deleteWebhook(id: string): Promise<boolean>;

  /** Stores the events and one delivery per matching webhook, all in one transaction. */
  publishEvents(request: PublishRequest): Promise<PublishOutcome>;

  claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Completes claimed deliveries; a record whose claim was lost is ignored. Keeps each
   * webhook's run of failures, and with a policy sets a webhook inactive by its rule, judged at
   * the records' own times. */
  recordAttempts(workerId: string, records: AttemptRecord[], autoDisable?: AutoDisablePolicy): Promise<void>;
  /** Gives claimed deliveries back, due at `now`, for another worker or a later run. */
  releaseClaims(workerId: string, deliveryIds: string[], now: number): Promise<void>;
  /** Only on stores whose publish claims (`claimFor`): up to `limit` deliveries of a claimed
   * batch after `afterId` (from the start when null) still claimed by `workerId`, in order. */
  readClaimedBatch?(workerId: string, batch: ClaimedBatch, afterId: string | null, limit: number, now: number): Promise<ClaimedBatchPage>;
  /** Gives back, due at `now`, whatever of a claimed batch after `afterId` is still claimed by `workerId`. */
  releaseClaimedBatch?(workerId: string, batch: ClaimedBatch, afterId: string | null, now: number): Promise<void>;
  /** When the next pending delivery falls due, or null when none is pending. Deliveries of
   * inactive webhooks wait (claims skip them too) until the webhook is active again. Deliveries of
   * the webhooks in `skipWebhookIds` (those this worker has no free slot for) are left out, and
   * so are claimed ones, even when the claim has lapsed: the next claim takes those. */
  nextDueAt(skipWebhookIds?: readonly string[]): Promise<number | null>;
  /** For the metrics: pending deliveries, the earliest due time among those due at `now`
   * (null when none is due), and how many webhooks are inactive. */
  queueStats(now: number): Promise<QueueStats>;

  /** Stores the event and one delivery of it for that webhook only; null when there is no such
   * webhook. Returns the new delivery's id. */
  enqueueDirectDelivery(request: DirectDeliveryRequest): Promise<string | null>;
  /** New deliveries (attempts from zero, `resentFrom` set) of the chosen deliveries' events, in
   * their original order; returns their ids, none when nothing matched. */
  resendDeliveries(request: ResendRequest): Promise<string[]>;

  listDeliveries(webhookId: string, filter: DeliveryListFilter): Promise<DeliverySummary[]>;
  getDelivery(webhookId: string, deliveryId: string): Promise<DeliveryDetail | null>;

  /** Removes events no delivery refers to any more, expired idempotency keys, and rotated-out
   * secrets whose grace period is over. */
  pruneOrphans(now: number, olderThanMs: number): Promise<void>;

  /** The installation's configuration, secrets included, for `herald export`. */
  exportSnapshot(): Promise<Snapshot>;

  /** Called after new deliveries are committed, so idle dispatchers wake at once. */
  onDeliveriesQueued(listener: () => void): () => void;

  /** Only on stores shared by several processes: tells every process of the database, at
   * most once, and not necessarily in order (see HandOffMessage). */
  sendHandOffMessage?(message: HandOffMessage): void;
  onHandOffMessage?(listener: (message: HandOffMessage) => void): () => void;
}
