/**
 * The store's thread (see ThreadedSqliteStore): opens the SQLite store, then runs each call it
 * is sent and answers it, in the order the calls came.
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
  port.on('message', (call: StoreCall) => void run(store, call));
  answer({ kind: 'opened' });
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
