/** The WalCheckpointer's thread: its own connection, checkpointing on a timer. */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * How often the log is copied back. A page written by many transactions between two copies
 * (the head of the due index, a busy webhook's row) is copied once: under a steady load of
 * deliveries, copies every 100 ms cost Herald a tenth more CPU in all than copies every 500 ms.
 * Much longer makes the log long enough that reads, which look up every page in it, slow down.
 */
const CHECKPOINT_INTERVAL_MS = 500;
/** Pages in the log past which it is made to start over (about 64 MB of 4 KiB pages). */
const RESTART_AFTER_PAGES = 16_000;
/** How long a RESTART checkpoint waits for the writer and readers to let go. */
const RESTART_WAIT_MS = 2_000;

const db = new Database((workerData as { databaseFile: string }).databaseFile, { fileMustExist: true });
db.pragma(`busy_timeout = ${RESTART_WAIT_MS}`);

function checkpoint(): void {
  const [result] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
  if (result.log > RESTART_AFTER_PAGES) db.pragma('wal_checkpoint(RESTART)');
}

const timer = setInterval(() => {
  try {
    checkpoint();
  } catch {
    // Busy or briefly locked: the next turn tries again, and the store's data is not at stake.
  }
}, CHECKPOINT_INTERVAL_MS);

parentPort!.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
