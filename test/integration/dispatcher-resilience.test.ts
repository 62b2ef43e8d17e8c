import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../src/core/secret-box.js';
import { SqliteStore, type Store } from '../../src/store/index.js';
import { makeTempDir, queueEvents, removeDir, startReceiver, startTestDispatcher, waitUntil } from '../support/index.js';

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
  let stopDispatcher = async () => {};
  try {
    const webhookId = await queueEvents(realStore, `${receiver.url}/hook`, 5);
    ({ stop: stopDispatcher } = startTestDispatcher(store, {
      workerId: 'resilience-test',
      maxInFlight: 8,
      maxInFlightPerWebhook: 8,
      deliveryTimeoutMs: 2_000,
      retryScheduleMs: [50],
    }));

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
    await stopDispatcher();
    await realStore.close();
    await receiver.close();
    removeDir(dataDir);
  }
});
