import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../src/core/secret-box.js';
import { SqliteStore, type ClaimRequest, type Store } from '../../src/store/index.js';
import { makeTempDir, queueEvents, removeDir, startReceiver, startTestDispatcher, waitUntil } from '../support/index.js';

const EVENTS = 300;

/** The real store, noting the size of every claim the dispatcher makes and of every outcome write. */
function watched(store: SqliteStore): { store: Store; claims: number[]; recordBatches: number[] } {
  const claims: number[] = [];
  const recordBatches: number[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'claimDueDeliveries') {
        return async (request: ClaimRequest) => {
          const claimed = await target.claimDueDeliveries(request);
          claims.push(claimed.length);
          return claimed;
        };
      }
      if (property === 'recordAttempts') {
        return (...args: Parameters<Store['recordAttempts']>) => {
          recordBatches.push(args[1].length);
          return target.recordAttempts(...args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, claims, recordBatches };
}

/** The claims that found work while more than they took was still waiting in the store. */
function claimsWithBacklogLeft(claims: number[]): number[] {
  let claimedSoFar = 0;
  const found: number[] = [];
  for (const size of claims) {
    claimedSoFar += size;
    if (size > 0 && claimedSoFar < EVENTS) found.push(size);
  }
  return found;
}

async function deliverBacklog(limits: { maxInFlight: number; maxInFlightPerWebhook: number }) {
  const dataDir = makeTempDir('herald-batching-');
  const receiver = await startReceiver();
  const realStore = await SqliteStore.open(dataDir, new SecretBox(randomBytes(32)));
  const { store, claims, recordBatches } = watched(realStore);
  let stopDispatcher = async () => {};
  try {
    await queueEvents(realStore, `${receiver.url}/hook`, EVENTS);
    ({ stop: stopDispatcher } = startTestDispatcher(store, {
      workerId: 'batching-test',
      ...limits,
      deliveryTimeoutMs: 5_000,
      retryScheduleMs: [1_000],
    }));

    await receiver.waitForRequests(EVENTS, 30_000);
    await waitUntil(() => recordBatches.reduce((sum, size) => sum + size, 0) === EVENTS, {
      message: 'not every outcome was written',
    });
    const delivered = new Set(receiver.requests.map((request) => request.headers['webhook-id']));
    assert.equal(delivered.size, EVENTS, 'every event once');
    assert.equal(receiver.requests.length, EVENTS, 'no event twice');
    return { claims, recordBatches };
  } finally {
    await stopDispatcher();
    await realStore.close();
    await receiver.close();
    removeDir(dataDir);
  }
}

test('a busy dispatcher claims once a quarter of its slots is free, not at every answer', async () => {
  const { claims, recordBatches } = await deliverBacklog({ maxInFlight: 40, maxInFlightPerWebhook: 40 });
  const sizes = claimsWithBacklogLeft(claims);
  assert.ok(sizes.length > 1, `claims: ${claims.join(' ')}`);
  for (const size of sizes) assert.ok(size >= 10, `a claim of ${size} while a backlog waited: ${claims.join(' ')}`);
  // Outcomes that arrive together are written together.
  assert.ok(recordBatches.length < EVENTS / 2, `outcome writes: ${recordBatches.join(' ')}`);
});

test('a webhook at its own cap gets more deliveries once a quarter of its slots is free', async () => {
  const { claims } = await deliverBacklog({ maxInFlight: 100, maxInFlightPerWebhook: 8 });
  const sizes = claimsWithBacklogLeft(claims);
  assert.ok(sizes.length > 1, `claims: ${claims.join(' ')}`);
  for (const size of sizes) assert.ok(size >= 2, `a claim of ${size} while a backlog waited: ${claims.join(' ')}`);
});

test('on SQLite, where a claim only reads, one claim fills up to 300 free slots', async () => {
  const { claims } = await deliverBacklog({ maxInFlight: 512, maxInFlightPerWebhook: 512 });
  assert.equal(claims.find((size) => size > 0), EVENTS, `claims: ${claims.join(' ')}`);
});
