import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { SecretBox } from '../../src/core/secret-box.js';
import { newId } from '../../src/core/ids.js';
import { Dispatcher } from '../../src/dispatch/index.js';
import { AgentPool } from '../../src/http/index.js';
import { SqliteStore, type Store } from '../../src/store/index.js';
import { makeTempDir, removeDir, startReceiver, waitUntil } from '../support/index.js';

/** The real store, except that the named methods fail their first `times` calls. */
function failingFirst(store: Store, failures: Partial<Record<keyof Store, number>>): Store {
  const left = { ...failures };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const name = property as keyof Store;
        if ((left[name] ?? 0) > 0) {
          left[name]! -= 1;
          return Promise.reject(new Error(`connection to the database lost (${String(name)})`));
        }
        return value.apply(target, args);
      };
    },
  });
}

test('the delivery loop survives store failures and still delivers every event once recorded', async () => {
  const dataDir = makeTempDir('herald-resilience-');
  const receiver = await startReceiver();
  const realStore = await SqliteStore.open(dataDir, new SecretBox(randomBytes(32)));
  const store = failingFirst(realStore, { claimDueDeliveries: 2, nextDueAt: 1, recordAttempts: 1 });
  const agents = new AgentPool({ allowPrivateNetworks: true, connectTimeoutMs: 1_000 });
  const dispatcher = new Dispatcher({
    store,
    agents,
    logger: pino({ level: 'silent' }),
    workerId: 'resilience-test',
    maxInFlight: 8,
    maxInFlightPerWebhook: 8,
    deliveryTimeoutMs: 2_000,
    retryScheduleMs: [50],
    allowPrivateNetworks: true,
    shutdownGraceMs: 500,
  });
  try {
    const now = Date.now();
    const webhookId = newId('wh');
    await realStore.insertWebhook({
      id: webhookId,
      name: null,
      url: `${receiver.url}/hook`,
      events: ['project_created'],
      secret: 'resilience-secret',
      tenantId: null,
      projectId: null,
      method: 'POST',
      contentType: 'application/json',
      maxAttempts: 3,
      active: true,
      base64CA: null,
      proxyUrl: null,
      createdAt: now,
      updatedAt: now,
    });
    const events = Array.from({ length: 5 }, () => ({
      id: newId('evt'),
      eventName: 'project_created',
      body: '{"eventName":"project_created","eventTimestamp":1,"payload":{}}',
      tenantId: null,
      projectId: null,
    }));
    await realStore.publishEvents({ events, now });
    dispatcher.start();

    await receiver.waitForRequests(5, 15_000);
    const history = await waitUntil(
      async () => {
        const rows = await realStore.listDeliveries(webhookId, { sort: 'oldest' });
        return rows.every((row) => row.status === 'success') ? rows : null;
      },
      { message: 'the outcomes were not all recorded after the failed write' },
    );
    assert.equal(history.length, 5);
  } finally {
    await dispatcher.stop();
    await agents.close();
    await realStore.close();
    await receiver.close();
    removeDir(dataDir);
  }
});
