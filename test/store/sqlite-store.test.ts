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

test('a claim marks the row with its lease and leaves its due time, so its pending-by-webhook index entry stays put', async () => {
  const dir = makeTempDir('herald-store-');
  try {
    const store = await SqliteStore.open(dir, TEST_SECRETS);
    const target = instanceWebhook();
    await store.insertWebhook(target);
    const now = 1_800_000_000_000;
    const body = JSON.stringify({ eventName: 'project_created', payload: {} });
    await store.publishEvents({ events: [{ id: 'evt_1', eventName: 'project_created', body, tenantId: null, projectId: null }], now });
    const [claimed] = await store.claimDueDeliveries({
      workerId: 'worker-a',
      now: now + 5,
      limit: 10,
      leaseMs: 30_000,
      inFlightByWebhook: new Map(),
      maxInFlightPerWebhook: 10,
    });
    const db = new Database(path.join(dir, 'herald.db'), { readonly: true });
    const row = () => db.prepare('SELECT next_attempt_at, lease_until, claimed_by FROM deliveries WHERE id = ?').get(claimed.id);
    assert.deepEqual(row(), { next_attempt_at: now, lease_until: now + 5 + 30_000, claimed_by: 'worker-a' });
    await store.releaseClaims('worker-a', [claimed.id], now + 10);
    assert.deepEqual(row(), { next_attempt_at: now + 10, lease_until: null, claimed_by: null });
    db.close();
    await store.close();
  } finally {
    removeDir(dir);
  }
});
