import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { instanceWebhook, makeTempDir, removeDir } from '../support/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { storeContract, TEST_SECRETS } from './store-contract.js';

const folders: string[] = [];
const lastFolder = () => folders[folders.length - 1];

/** A second connection to the last database file, beside (or after) the store's own. */
function withDatabase<T>(work: (db: Database.Database) => T): T {
  const db = new Database(path.join(lastFolder(), 'herald.db'));
  try {
    return work(db);
  } finally {
    db.close();
  }
}

storeContract('sqlite', {
  async open() {
    const dir = makeTempDir('herald-store-');
    folders.push(dir);
    return SqliteStore.open(dir, TEST_SECRETS);
  },
  async reopen(secrets) {
    return SqliteStore.open(lastFolder(), secrets);
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
  async cleanUp() {
    for (const dir of folders.splice(0)) removeDir(dir);
  },
});

test('plain secrets of older rows leave no trace in the files once encrypted', async () => {
  const dir = makeTempDir('herald-store-');
  try {
    const store = await SqliteStore.open(dir, TEST_SECRETS);
    const now = Date.now();
    await store.insertWebhook(instanceWebhook({ id: 'wh_legacy', secret: 'replaced-by-the-legacy-text' }));
    await store.close();
    const legacy = 'legacy-plain-secret-5f0e2c';
    const db = new Database(path.join(dir, 'herald.db'));
    db.prepare('UPDATE webhooks SET secret = ?').run(legacy);
    db.close();
    await (await SqliteStore.open(dir, TEST_SECRETS)).close();
    for (const file of fs.readdirSync(dir)) {
      assert.equal(fs.readFileSync(path.join(dir, file)).indexOf(legacy), -1, `${file} still holds the plain secret`);
    }
  } finally {
    removeDir(dir);
  }
});
