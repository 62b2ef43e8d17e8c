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

test('a claim is booked in memory and writes nothing to the file; its release and its outcome do', async () => {
  const dir = makeTempDir('herald-store-');
  try {
    const store = await SqliteStore.open(dir, TEST_SECRETS);
    const target = instanceWebhook();
    await store.insertWebhook(target);
    const now = 1_800_000_000_000;
    const body = JSON.stringify({ eventName: 'project_created', payload: {} });
    const events = ['evt_1', 'evt_2'].map((id) => ({ id, eventName: 'project_created', body, tenantId: null, projectId: null }));
    await store.publishEvents({ events, now });
    // data_version, read on another connection, changes whenever any other connection commits a change.
    const db = new Database(path.join(dir, 'herald.db'), { readonly: true });
    const version = () => db.pragma('data_version', { simple: true });
    const row = (id: string) => db.prepare('SELECT status, next_attempt_at, lease_until, claimed_by FROM deliveries WHERE id = ?').get(id);
    const before = version();
    const claim = (workerId: string) =>
      store.claimDueDeliveries({ workerId, now: now + 5, limit: 10, leaseMs: 30_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 10 });
    const [released, delivered] = await claim('worker-a');
    assert.equal(version(), before, 'the claim committed a write');
    assert.deepEqual(row(released.id), { status: 'pending', next_attempt_at: now, lease_until: null, claimed_by: null });
    assert.deepEqual(await claim('worker-b'), [], 'the booked claims hold the deliveries');
    await store.releaseClaims('worker-a', [released.id], now + 10);
    assert.deepEqual(row(released.id), { status: 'pending', next_attempt_at: now + 10, lease_until: null, claimed_by: null });
    await store.recordAttempts('worker-a', [
      {
        deliveryId: delivered.id,
        webhookId: target.id,
        eventName: 'project_created',
        startedAt: now + 6,
        durationMs: 3,
        statusCode: 200,
        error: null,
        requestHeaders: {},
        responseBodyStart: '',
        next: { kind: 'delivered' },
      },
    ]);
    assert.equal((row(delivered.id) as { status: string }).status, 'success');
    db.close();
    await store.close();
  } finally {
    removeDir(dir);
  }
});
