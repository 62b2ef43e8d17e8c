import path from 'node:path';
import Database from 'better-sqlite3';
import type { SecretBox } from '../../src/core/secret-box.js';
import type { Store } from '../../src/store/index.js';
import { makeTempDir, removeDir } from '../support/index.js';
import type { StoreHarness } from './store-contract.js';

/**
 * The contract's harness for a SQLite store opened by `open` (on the calling thread, or on a
 * thread of its own): each store in a fresh folder, its rows read and written by a connection
 * of the test's own.
 */
export function sqliteHarness(open: (dataDir: string, secrets: SecretBox) => Promise<Store>, secrets: SecretBox): StoreHarness {
  const folders: string[] = [];
  const lastFolder = () => folders[folders.length - 1];
  const withDatabase = <T>(work: (db: Database.Database) => T): T => {
    const db = new Database(path.join(lastFolder(), 'herald.db'));
    try {
      return work(db);
    } finally {
      db.close();
    }
  };
  return {
    async open() {
      folders.push(makeTempDir('herald-store-'));
      return open(lastFolder(), secrets);
    },
    async reopen(otherSecrets) {
      return open(lastFolder(), otherSecrets);
    },
    async storedSecrets() {
      return withDatabase((db) =>
        (db.prepare('SELECT secret, previous_secret FROM webhooks ORDER BY id').all() as Array<Record<string, string | null>>).flatMap(
          (row) => [row.secret, row.previous_secret],
        ),
      );
    },
    async writeStoredSecret(webhookId, secret) {
      withDatabase((db) => db.prepare('UPDATE webhooks SET secret = ? WHERE id = ?').run(secret, webhookId));
    },
    async attemptRows() {
      return withDatabase((db) => (db.prepare('SELECT count(*) AS n FROM attempts').get() as { n: number }).n);
    },
    async deliveryRows() {
      return withDatabase((db) => (db.prepare('SELECT count(*) AS n FROM deliveries').get() as { n: number }).n);
    },
    async storedEventIds() {
      return withDatabase((db) => (db.prepare('SELECT id FROM events ORDER BY id').all() as Array<{ id: string }>).map((row) => row.id));
    },
    async cleanUp() {
      for (const dir of folders.splice(0)) removeDir(dir);
    },
  };
}
