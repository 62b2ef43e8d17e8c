import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { instanceWebhook, makeTempDir, removeDir } from '../support/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { sqliteHarness } from './sqlite-harness.js';
import { storeContract, TEST_SECRETS } from './store-contract.js';

storeContract('sqlite', sqliteHarness((dataDir, secrets) => SqliteStore.open(dataDir, secrets), TEST_SECRETS));

test('plain secrets of older rows leave no trace in the files once encrypted', async () => {
  const dir = makeTempDir('herald-store-');
  try {
    const store = await SqliteStore.open(dir, TEST_SECRETS);
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
