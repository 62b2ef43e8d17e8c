import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../../config.js';
import type { EventTypeDefinition } from '../../core/catalog.js';
import type { SecretBox, SecretBoxForThread } from '../../core/secret-box.js';
import type { WebhookWithSecret } from '../../core/types.js';
import { threadEntrySource } from '../../core/threads.js';
import type { Snapshot } from '../snapshot.js';
import { DATABASE_FILE } from './sqlite-store.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import type {
  AttemptRecord,
  AutoDisablePolicy,
  ClaimedDelivery,
  ClaimRequest,
  DeliveryDetail,
  DeliveryListFilter,
  DeliverySummary,
  DirectDeliveryRequest,
  PublishOutcome,
  PublishRequest,
  QueueStats,
  ResendRequest,
  Store,
  StoredWebhook,
  TokenRecord,
  WebhookCountFilter,
  WebhookListFilter,
  WebhookPatch,
} from '../types.js';

/** The store's methods a call may name; the thread calls nothing else. SQLite's publish claims
 * nothing (its claims only read), so it has no claimed batches to read, and no other process
 * to hand off to. */
export type StoreMethod = Exclude<
  keyof Store,
  'kind' | 'onDeliveriesQueued' | 'readClaimedBatch' | 'releaseClaimedBatch' | 'sendHandOffMessage' | 'onHandOffMessage'
>;

export interface StoreThreadData {
  dataDir: string;
  secrets: SecretBoxForThread;
}
export interface StoreCall {
  id: number;
  method: StoreMethod;
  args: unknown[];
}
/** An error as it crosses from the thread: what callers and logs look at. */
export interface ThreadError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}
export type FromStoreThread =
  | { kind: 'opened' }
  | { kind: 'open-failed'; error: ThreadError }
  | { kind: 'result'; id: number; value: unknown }
  | { kind: 'failed'; id: number; error: ThreadError }
  | { kind: 'queued' };

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * The SQLite store run on a thread of its own. better-sqlite3 does its work on the thread that
 * calls it, and under load that work (B-tree writes, commits, claims) is half of what the main
 * thread does; on its own thread it overlaps with the API, the dispatcher and the signing.
 * Every call is a message with structured-cloned arguments and result, answered once its
 * transaction is committed (the dispatcher's calls go first; see store-thread.ts); the store's
 * "deliveries queued" notice comes back as a message too.
 */
export class ThreadedSqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly waiting = new Map<number, Waiting>();
  private readonly listeners = new Set<() => void>();
  private nextId = 1;
  /** Why calls fail from now on: the store was closed, or its thread ended. */
  private ended: Error | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly checkpointer: WalCheckpointer,
  ) {}

  /** Opens the store on a new thread: the folder's lock, migrations and the key check run there. */
  static async open(dataDir: string, secrets: SecretBox): Promise<ThreadedSqliteStore> {
    const workerData: StoreThreadData = { dataDir, secrets: secrets.forThread() };
    const worker = new Worker(threadEntrySource(import.meta.url, 'store-thread'), { eval: true, workerData });
    const opened = await new Promise<FromStoreThread>((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (error) => resolve({ kind: 'open-failed', error: describeError(error) }));
    });
    if (opened.kind !== 'opened') {
      await worker.terminate();
      throw rebuildError(opened.kind === 'open-failed' ? opened.error : { name: 'Error', message: 'the store thread did not open' });
    }
    return new ThreadedSqliteStore(worker, WalCheckpointer.start(path.join(dataDir, DATABASE_FILE))).listen();
  }

  private listen(): this {
    this.worker.on('message', (message: FromStoreThread) => this.receive(message));
    this.worker.on('error', (error) => this.end(new Error(`the store's thread failed: ${error.message}`)));
    this.worker.on('exit', () => this.end(new Error("the store's thread has ended")));
    this.worker.unref();
    return this;
  }

  private receive(message: FromStoreThread): void {
    if (message.kind === 'queued') {
      for (const listener of this.listeners) listener();
      return;
    }
    if (message.kind !== 'result' && message.kind !== 'failed') return;
    const waiting = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    if (this.waiting.size === 0) this.worker.unref();
    if (message.kind === 'result') waiting?.resolve(message.value);
    else waiting?.reject(rebuildError(message.error));
  }

  private call<M extends StoreMethod>(method: M, ...args: Parameters<Store[M]>): ReturnType<Store[M]> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.ended) {
        reject(this.ended);
        return;
      }
      const id = this.nextId++;
      // Referenced while a call is out: an answer still to come keeps the process alive.
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      const call: StoreCall = { id, method, args };
      this.worker.postMessage(call);
    }) as ReturnType<Store[M]>;
  }

  private end(reason: Error): void {
    this.ended ??= reason;
    for (const { reject } of this.waiting.values()) reject(this.ended);
    this.waiting.clear();
  }

  /** Closes once; a second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    // First, so the store's connection is the last one and its close checkpoints everything.
    await this.checkpointer.stop();
    if (this.ended) return; // the thread is gone already
    try {
      await this.call('close');
    } finally {
      this.end(new Error('the store is closed'));
      this.worker.ref(); // the exit still to come keeps the process alive
      await this.worker.terminate();
    }
  }

  onDeliveriesQueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  migrate(): Promise<void> {
    return this.call('migrate');
  }
  ping(): Promise<void> {
    return this.call('ping');
  }
  countTokens(): Promise<number> {
    return this.call('countTokens');
  }
  insertToken(token: TokenRecord & { tokenHash: string }): Promise<void> {
    return this.call('insertToken', token);
  }
  findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    return this.call('findTokenByHash', tokenHash);
  }
  getToken(id: string): Promise<TokenRecord | null> {
    return this.call('getToken', id);
  }
  listTokens(filter: { tenantId?: string }): Promise<TokenRecord[]> {
    return this.call('listTokens', filter);
  }
  revokeToken(id: string, now: number): Promise<boolean> {
    return this.call('revokeToken', id, now);
  }
  listCustomEventTypes(): Promise<EventTypeDefinition[]> {
    return this.call('listCustomEventTypes');
  }
  insertEventType(definition: EventTypeDefinition, now: number): Promise<boolean> {
    return this.call('insertEventType', definition, now);
  }
  insertWebhook(webhook: WebhookWithSecret): Promise<void> {
    return this.call('insertWebhook', webhook);
  }
  getWebhook(id: string): Promise<StoredWebhook | null> {
    return this.call('getWebhook', id);
  }
  listWebhooks(filter: WebhookListFilter): Promise<StoredWebhook[]> {
    return this.call('listWebhooks', filter);
  }
  countWebhooks(filter: WebhookCountFilter): Promise<number> {
    return this.call('countWebhooks', filter);
  }
  updateWebhook(id: string, patch: WebhookPatch, now: number): Promise<StoredWebhook | null> {
    return this.call('updateWebhook', id, patch, now);
  }
  deleteWebhook(id: string): Promise<boolean> {
    return this.call('deleteWebhook', id);
  }
  publishEvents(request: PublishRequest): Promise<PublishOutcome> {
    return this.call('publishEvents', request);
  }
  claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.call('claimDueDeliveries', request);
  }
  recordAttempts(workerId: string, records: AttemptRecord[], autoDisable?: AutoDisablePolicy): Promise<void> {
    return this.call('recordAttempts', workerId, records, autoDisable);
  }
  releaseClaims(workerId: string, deliveryIds: string[], now: number): Promise<void> {
    return this.call('releaseClaims', workerId, deliveryIds, now);
  }
  nextDueAt(skipWebhookIds?: readonly string[]): Promise<number | null> {
    return this.call('nextDueAt', skipWebhookIds);
  }
  queueStats(now: number): Promise<QueueStats> {
    return this.call('queueStats', now);
  }
  enqueueDirectDelivery(request: DirectDeliveryRequest): Promise<string | null> {
    return this.call('enqueueDirectDelivery', request);
  }
  resendDeliveries(request: ResendRequest): Promise<string[]> {
    return this.call('resendDeliveries', request);
  }
  listDeliveries(webhookId: string, filter: DeliveryListFilter): Promise<DeliverySummary[]> {
    return this.call('listDeliveries', webhookId, filter);
  }
  getDelivery(webhookId: string, deliveryId: string): Promise<DeliveryDetail | null> {
    return this.call('getDelivery', webhookId, deliveryId);
  }
  pruneOrphans(now: number, olderThanMs: number): Promise<void> {
    return this.call('pruneOrphans', now, olderThanMs);
  }
  exportSnapshot(): Promise<Snapshot> {
    return this.call('exportSnapshot');
  }
}

export function describeError(error: unknown): ThreadError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, stack: error.stack, ...(typeof code === 'string' ? { code } : {}) };
}

/** A configuration problem (the wrong key, say) stays a ConfigError: the CLI words those apart. */
function rebuildError(error: ThreadError): Error {
  const rebuilt = error.name === 'ConfigError' ? new ConfigError(error.message) : new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  if (error.code) Object.assign(rebuilt, { code: error.code });
  return rebuilt;
}
