import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/core/ids.js';
import { waitUntil } from '../support/index.js';
import { PostgresStore } from '../../src/store/index.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';
import { storeContract } from './store-contract.js';

const schemas: string[] = [];

storeContract('postgres', {
  async open() {
    const schema = freshSchemaName();
    schemas.push(schema);
    return PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema });
  },
  async cleanUp() {
    await dropSchemas(schemas.splice(0));
  },
});

describe('postgres store: several processes on one database', () => {
  const openShared = (schema: string) => PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 });
  const mine: string[] = [];
  after(async () => dropSchemas(mine.splice(0)));

  test('processes starting together migrate the schema exactly once', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const stores = await Promise.all([openShared(schema), openShared(schema), openShared(schema)]);
    for (const store of stores) assert.equal(await store.countTokens(), 0);
    await Promise.all(stores.map((store) => store.close()));
  });

  test('concurrent claimers never receive the same delivery', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const stores = await Promise.all([openShared(schema), openShared(schema), openShared(schema), openShared(schema)]);
    try {
      await drainConcurrently(stores);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  async function drainConcurrently(stores: PostgresStore[]): Promise<void> {
    const now = Date.now();
    await stores[0].insertWebhook(sharedWebhook(now));
    const events = Array.from({ length: 600 }, () => ({
      id: newId('evt'),
      eventName: 'project_created',
      body: '{}',
      tenantId: null,
      projectId: null,
    }));
    await stores[0].publishEvents({ events, now });

    const claimedBy = new Map<string, string>();
    const drain = async (store: PostgresStore, workerId: string) => {
      for (;;) {
        const batch = await store.claimDueDeliveries({
          workerId,
          now,
          limit: 25,
          leaseMs: 60_000,
          inFlightByWebhook: new Map(),
          maxInFlightPerWebhook: 10_000,
        });
        if (batch.length === 0) return;
        for (const delivery of batch) {
          assert.equal(claimedBy.has(delivery.id), false, `${delivery.id} claimed twice`);
          claimedBy.set(delivery.id, workerId);
        }
      }
    };
    await Promise.all(stores.map((store, index) => drain(store, `worker-${index}`)));
    assert.equal(claimedBy.size, 600);
  }

  test('a publish in one process wakes the dispatchers of another', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const [listener, publisher] = await Promise.all([openShared(schema), openShared(schema)]);
    const now = Date.now();
    await publisher.insertWebhook(sharedWebhook(now));
    let woken = 0;
    listener.onDeliveriesQueued(() => woken++);
    await publisher.publishEvents({
      events: [{ id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null }],
      now,
    });
    await waitUntil(() => woken > 0, { message: 'no notification arrived' });
    await Promise.all([listener.close(), publisher.close()]);
  });
});

function sharedWebhook(now: number) {
  return {
    id: newId('wh'),
    name: null,
    url: 'https://receiver.example/hook',
    events: ['project_created'],
    secret: 'shared-secret',
    tenantId: null,
    projectId: null,
    method: 'POST' as const,
    contentType: 'application/json',
    maxAttempts: 3,
    active: true,
    base64CA: null,
    proxyUrl: null,
    createdAt: now,
    updatedAt: now,
  };
}
