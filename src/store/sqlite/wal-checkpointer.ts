import { Worker } from 'node:worker_threads';
import { threadEntrySource } from '../../core/threads.js';

/**
 * Copies SQLite's write-ahead log back into the database file from a thread of its own. By
 * default the connection that commits does it, every 1,000 pages: under load that copy and its
 * fsyncs took a fifth of the store thread's time, stalling every claim and write behind it.
 * Another connection can copy what is committed while the store goes on committing (a PASSIVE
 * checkpoint waits for no one); once the log is long, a RESTART checkpoint briefly holds
 * writers back so that the log starts over instead of growing without end.
 */
export class WalCheckpointer {
  private constructor(private readonly worker: Worker) {}

  static start(databaseFile: string): WalCheckpointer {
    const worker = new Worker(threadEntrySource(import.meta.url, 'checkpoint-thread'), {
      eval: true,
      workerData: { databaseFile },
    });
    worker.unref();
    return new WalCheckpointer(worker);
  }

  /** Stops after the checkpoint under way, if any, closing its connection. */
  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.ref(); // the exit still to come keeps the process alive
    this.worker.postMessage('stop');
    await exited;
  }
}
