/**
 * The store's thread (see ThreadedSqliteStore): opens the SQLite store, then runs each call it
 * is sent and answers it, the dispatcher's calls first (see CallQueue).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SecretBox } from '../../core/secret-box.js';
import { SqliteStore } from './sqlite-store.js';
import { describeError, type FromStoreThread, type StoreCall, type StoreThreadData } from './threaded-store.js';

const port = parentPort!;
const data = workerData as StoreThreadData;

function answer(message: FromStoreThread): void {
  port.postMessage(message);
}

async function serve(): Promise<void> {
  let store: SqliteStore;
  try {
    store = await SqliteStore.open(data.dataDir, SecretBox.fromThread(data.secrets), { checkpointsElsewhere: true });
  } catch (error) {
    answer({ kind: 'open-failed', error: describeError(error) });
    return;
  }
  store.onDeliveriesQueued(() => answer({ kind: 'queued' }));
  const queue = new CallQueue(store);
  port.on('message', (call: StoreCall) => queue.add(call));
  answer({ kind: 'opened' });
}

/** The dispatcher's calls: one claim and one outcome write at a time, each holding slots. */
const DELIVERY_METHODS = new Set<StoreCall['method']>(['claimDueDeliveries', 'recordAttempts', 'releaseClaims', 'nextDueAt']);

/**
 * Runs one call per turn of the event loop, the dispatcher's first: a burst of batch publishes
 * (each a transaction of up to a thousand events) would otherwise hold the claims and outcome
 * writes behind them, and with them every delivery slot, while the sending thread sits idle.
 * The dispatcher has at most a claim and a write waiting, so publishes still get every other
 * turn. Calls of one kind keep their order.
 */
class CallQueue {
  private readonly delivery: StoreCall[] = [];
  private readonly other: StoreCall[] = [];
  private scheduled = false;

  constructor(private readonly store: SqliteStore) {}

  add(call: StoreCall): void {
    (DELIVERY_METHODS.has(call.method) ? this.delivery : this.other).push(call);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the messages already waiting have been added: they may come first.
    setImmediate(() => {
      this.scheduled = false;
      const call = this.delivery.shift() ?? this.other.shift();
      if (call) void run(this.store, call);
      if (this.delivery.length > 0 || this.other.length > 0) this.schedule();
    });
  }
}

async function run(store: SqliteStore, { id, method, args }: StoreCall): Promise<void> {
  try {
    const value = await (store[method] as (...args: unknown[]) => Promise<unknown>).apply(store, args);
    answer({ kind: 'result', id, value });
  } catch (error) {
    answer({ kind: 'failed', id, error: describeError(error) });
  }
}

void serve();
