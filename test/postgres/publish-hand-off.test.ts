// A publish on PostgreSQL claims its deliveries for its own process's dispatcher, or in an
// API-only process for a worker that offered, which reads them instead of claiming them (see
// PublishHandOff): these run it end to end, on real receivers and the test database.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { newId } from '../../src/core/ids.js';
import { HANDED_OFF_WAIT_MS, RemoteHandOff, type Dispatcher } from '../../src/dispatch/index.js';
import { PostgresStore, type ClaimedBatch, type ClaimedDelivery, type HandOffMessage, type HandOffOffer, type Store } from '../../src/store/index.js';
import { instanceWebhook, startReceiver, startTestDispatcher, waitUntil } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';
import { TEST_SECRETS } from '../store/store-contract.js';

const schemas: string[] = [];
after(async () => dropSchemas(schemas.splice(0)));

async function openStore(): Promise<PostgresStore> {
  const schema = freshSchemaName();
  schemas.push(schema);
  return PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4, secrets: TEST_SECRETS });
}

/** The store, counting what ordinary claims returned and which claimed-batch calls were made. */
function watched(store: PostgresStore) {
  const seen = { claimedByClaims: 0, batchReads: 0, batchesGivenBack: 0 };
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (!['claimDueDeliveries', 'readClaimedBatch', 'releaseClaimedBatch'].includes(property as string)) return value.bind(target);
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (property === 'claimDueDeliveries') seen.claimedByClaims += (result as ClaimedDelivery[]).length;
        if (property === 'readClaimedBatch') seen.batchReads++;
        if (property === 'releaseClaimedBatch') seen.batchesGivenBack++;
        return result;
      };
    },
  }) as Store;
  return { store: proxy, seen };
}

/** The same counts on a store a running Herald already holds: its methods are wrapped in place. */
function countInPlace(store: Store) {
  const seen = { claimedByClaims: 0, batchReads: 0 };
  const claim = store.claimDueDeliveries.bind(store);
  store.claimDueDeliveries = async (request) => {
    const claimed = await claim(request);
    seen.claimedByClaims += claimed.length;
    return claimed;
  };
  const read = store.readClaimedBatch!.bind(store);
  store.readClaimedBatch = async (...args) => {
    seen.batchReads++;
    return read(...args);
  };
  return seen;
}

/** Webhooks hearing every project_created, each to its own path of `url`. */
async function webhooksTo(store: Store, url: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const webhook = instanceWebhook({ url: `${url}/hook-${index}`, secret: `secret-${index}` });
    await store.insertWebhook(webhook);
    ids.push(webhook.id);
  }
  return ids;
}

/** Publishes `count` events with the dispatcher's claim, as the API does, and returns the batch. */
async function publishFor(dispatcher: Dispatcher, store: Store, count: number, now = Date.now()): Promise<ClaimedBatch> {
  const events = Array.from({ length: count }, () => ({
    id: newId('evt'), eventName: 'project_created', body: '{"eventName":"project_created"}', tenantId: null, projectId: null,
  }));
  const outcome = await store.publishEvents({ events, now, claimFor: dispatcher.claimFor(now) });
  assert.ok(outcome.kind === 'published' && outcome.claimed, 'the publish claimed nothing');
  return outcome.claimed;
}

/** A receiver answering 200 after `delayMs`, noting each request's event and the most it held at once. */
async function slowReceiver(delayMs: number) {
  const state = { url: '', received: [] as string[], open: 0, mostOpen: 0 };
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      state.received.push(String(request.headers['webhook-id']));
      state.mostOpen = Math.max(state.mostOpen, ++state.open);
      setTimeout(() => {
        state.open--;
        response.end('ok');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
  return { state, close };
}

const LIMITS = { maxInFlight: 64, maxInFlightPerWebhook: 4, deliveryTimeoutMs: 5_000, retryScheduleMs: [100] };

type DispatcherSettings = Partial<Omit<Parameters<typeof startTestDispatcher>[1], 'workerId'>>;

/**
 * A dispatcher on a fresh schema with its store watched, for `use`; then the dispatcher is
 * stopped (stopping twice is harmless) and the store and `receiver` are closed.
 */
async function withHandOff(
  receiver: { close(): Promise<void> },
  settings: DispatcherSettings,
  use: (rig: { real: PostgresStore; store: Store; seen: ReturnType<typeof watched>['seen']; dispatcher: Dispatcher; stop: () => Promise<void> }) => Promise<void>,
): Promise<void> {
  const real = await openStore();
  const { store, seen } = watched(real);
  const { dispatcher, stop } = startTestDispatcher(store, { workerId: 'hand-off', ...LIMITS, ...settings });
  try {
    await use({ real, store, seen, dispatcher, stop });
  } finally {
    await stop();
    await real.close();
    await receiver.close();
  }
}

test('an event published through the API reaches every webhook once, none of it claimed a second time', async () => {
  const receiver = await startReceiver();
  const schema = freshSchemaName();
  schemas.push(schema);
  const herald = await startTestHerald({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema });
  try {
    const store = herald.herald.store;
    const seen = countInPlace(store);
    const webhookIds = await webhooksTo(store, receiver.url, 30);
    const published = await herald.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 30);
    const requests = await receiver.waitForRequests(30);
    await waitUntil(async () => {
      const histories = await Promise.all(webhookIds.map((id) => herald.get(`/api/webhooks/${id}/deliveries`)));
      return histories.every((history) => history.body.data[0]?.status === 'success');
    }, { message: 'not every outcome was recorded' });
    assert.deepEqual(requests.map((request) => request.url).sort(), webhookIds.map((_, index) => `/hook-${index}`).sort());
    assert.equal(seen.claimedByClaims, 0, 'the deliveries went from the publish to the dispatcher');
  } finally {
    await herald.stop({ removeData: true });
    await receiver.close();
  }
});

test('a webhook whose slots another batch filled gets its delivery later, by an ordinary claim, never over its cap', async () => {
  const receiver = await slowReceiver(100);
  await withHandOff(receiver, { maxInFlightPerWebhook: 1 }, async ({ store, seen, dispatcher }) => {
    await webhooksTo(store, receiver.state.url, 1);
    // Both publishes claim the webhook's one slot: the dispatcher has read neither yet.
    const batches = [await publishFor(dispatcher, store, 1), await publishFor(dispatcher, store, 1)];
    for (const batch of batches) dispatcher.take(batch);
    await waitUntil(() => receiver.state.received.length === 2, { message: 'both deliveries should arrive' });
    assert.equal(receiver.state.mostOpen, 1);
    assert.equal(seen.claimedByClaims, 1, 'the second was given back and claimed once its slot was free');
  });
});

test('stopping gives back what was not read yet: another process delivers it at once, nothing twice', async () => {
  const receiver = await slowReceiver(300);
  await withHandOff(receiver, { maxInFlight: 2 }, async ({ real, store, dispatcher, stop }) => {
    await webhooksTo(store, receiver.state.url, 10);
    dispatcher.take(await publishFor(dispatcher, store, 1));
    await waitUntil(() => receiver.state.received.length === 2);
    await stop();
    const sent = receiver.state.received.length;
    const rest = await real.claimDueDeliveries({
      workerId: 'another', now: Date.now(), limit: 100, leaseMs: 30_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 10,
    });
    assert.equal(sent + rest.length, 10);
    assert.ok(rest.length >= 6, `only ${rest.length} of 10 were given back`);
  });
});

test('a batch read too late to finish within its lease is given back, then claimed and sent as usual', async () => {
  const receiver = await startReceiver();
  // The dispatcher's clock runs a minute ahead of the publish's: every batch it takes is stale.
  const clock = () => Date.now() + 60_000;
  await withHandOff(receiver, { clock }, async ({ store, seen, dispatcher }) => {
    await webhooksTo(store, receiver.url, 5);
    dispatcher.take(await publishFor(dispatcher, store, 1));
    await receiver.waitForRequests(5);
    assert.equal(seen.batchReads, 0);
    assert.equal(seen.batchesGivenBack, 1);
    assert.equal(seen.claimedByClaims, 5);
    assert.equal(new Set(receiver.requests.map((request) => request.url)).size, 5);
  });
});

test("an ordinary claim whose lease would end with a batch's is not mistaken for part of it", async () => {
  const receiver = await slowReceiver(200);
  // Claims are made the batch's extra wait after the publish: without care, an ordinary claim's
  // lease would end at the same millisecond as the batch's.
  const publishedAt = Date.now();
  const clock = () => publishedAt + HANDED_OFF_WAIT_MS;
  await withHandOff(receiver, { maxInFlightPerWebhook: 1, clock }, async ({ store, dispatcher }) => {
    await webhooksTo(store, receiver.state.url, 1);
    // One slot: the publish claims the first event; the other two are claimed the ordinary way.
    const batch = await publishFor(dispatcher, store, 3, publishedAt);
    assert.equal(batch.count, 1);
    dispatcher.take(batch);
    await waitUntil(() => receiver.state.received.length >= 3, { message: 'all three should arrive' });
    await delay(300);
    assert.equal(new Set(receiver.state.received).size, 3);
    assert.equal(receiver.state.received.length, 3, 'a delivery was sent twice');
    assert.equal(receiver.state.mostOpen, 1);
  });
});

/** An API-only Herald and a worker on one fresh schema, the worker's claims and batch reads counted. */
async function withApiAndWorker(use: (rig: {
  api: TestHerald;
  worker: TestHerald;
  seen: ReturnType<typeof countInPlace>;
  offerHeard: (accept: (offer: HandOffOffer) => boolean) => Promise<void>;
}) => Promise<void>): Promise<void> {
  const schema = freshSchemaName();
  schemas.push(schema);
  const database = { databaseUrl: TEST_DATABASE_URL, databaseSchema: schema };
  const api = await startTestHerald(database, { role: 'api' });
  const worker = await startTestHerald({ ...database, dataDir: api.dataDir }, { role: 'worker' });
  const seen = countInPlace(worker.herald.store);
  // The API process heard an offer once this does: its own listener was subscribed first.
  const offerHeard = (accept: (offer: HandOffOffer) => boolean) =>
    new Promise<void>((resolve) => {
      const stop = api.herald.store.onHandOffMessage!((message) => {
        if (message.kind !== 'offer' || !accept(message.offer)) return;
        stop();
        resolve();
      });
    });
  try {
    await use({ api, worker, seen, offerHeard });
  } finally {
    await worker.stop();
    await api.stop({ removeData: true });
  }
}

test('an API-only process hands its publishes to a worker that offered: read by the worker, never claimed', async () => {
  const receiver = await startReceiver();
  try {
    await withApiAndWorker(async ({ api, seen, offerHeard }) => {
      await offerHeard((offer) => offer.room > 0);
      await webhooksTo(api.herald.store, receiver.url, 20);
      const published = await api.post('/api/events', {
        events: Array.from({ length: 5 }, () => ({ eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } })),
      });
      assert.equal(published.status, 202, JSON.stringify(published.body));
      const requests = await receiver.waitForRequests(100);
      assert.equal(new Set(requests.map((request) => `${request.url} ${request.headers['webhook-id']}`)).size, 100, 'each delivery once');
      assert.equal(requests.length, 100);
      assert.ok(seen.batchReads > 0, 'the worker read the batch');
      assert.equal(seen.claimedByClaims, 0, 'no delivery was claimed a second time');
    });
  } finally {
    await receiver.close();
  }
});

test('a worker that stops withdraws its offer: later publishes are claimed the ordinary way', async () => {
  const receiver = await startReceiver();
  try {
    await withApiAndWorker(async ({ api, worker, offerHeard }) => {
      await offerHeard((offer) => offer.room > 0);
      const withdrawn = offerHeard((offer) => offer.room === 0);
      await worker.stop();
      await withdrawn;
      await webhooksTo(api.herald.store, receiver.url, 3);
      const publish = api.herald.store.publishEvents.bind(api.herald.store);
      let claimed: ClaimedBatch | undefined;
      api.herald.store.publishEvents = async (request) => {
        const outcome = await publish(request);
        if (outcome.kind === 'published') claimed = outcome.claimed;
        return outcome;
      };
      const published = await api.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } });
      assert.equal(published.status, 202);
      assert.equal(claimed, undefined, 'nothing was claimed for the stopped worker');
      const another = await startTestHerald({ databaseUrl: api.config.databaseUrl, databaseSchema: api.config.databaseSchema, dataDir: api.dataDir }, { role: 'worker' });
      try {
        await receiver.waitForRequests(3);
      } finally {
        await another.stop();
      }
    });
  } finally {
    await receiver.close();
  }
});

test('an API-only process claims for the offering worker with the most room left, and forgets withdrawn or silent ones', async () => {
  const store = await openStore();
  let now = 1_800_000_000_000;
  const handOff = new RemoteHandOff(store, () => now);
  // Subscribed after the hand-off's own listener: once a message is here, the hand-off has it.
  const heard: HandOffMessage[] = [];
  const stopListening = store.onHandOffMessage((message) => heard.push(message));
  const offer = (workerId: string, room: number) => ({ workerId, room, leaseMs: 40_000, maxInFlightPerWebhook: 8 });
  const hear = async (message: HandOffMessage) => {
    const count = heard.length;
    store.sendHandOffMessage(message);
    await waitUntil(() => heard.length > count);
  };
  try {
    await hear({ kind: 'offer', offer: offer('worker-a', 10) });
    await hear({ kind: 'offer', offer: offer('worker-b', 6) });
    const first = handOff.claimFor(now)!;
    assert.deepEqual([first.workerId, first.limit, first.maxInFlightPerWebhook], ['worker-a', 10, 8]);
    assert.ok(first.leaseMs - 40_000 <= 1 && (now + first.leaseMs) % 2 === 1, "a handed-off lease ends on an odd millisecond");
    const batch = { workerId: 'worker-a', idStem: 'dlv_stem', count: 7, leaseEndsAt: now + first.leaseMs };
    handOff.take(batch);
    await waitUntil(() => heard.some((message) => message.kind === 'batch'));
    assert.deepEqual(heard.at(-1), { kind: 'batch', batch }, 'the worker is told its batch');
    assert.equal(handOff.claimFor(now)?.workerId, 'worker-b', 'worker-a has 3 left, worker-b 6');
    await hear({ kind: 'offer', offer: offer('worker-b', 0) });
    assert.deepEqual([handOff.claimFor(now)?.workerId, handOff.claimFor(now)?.limit], ['worker-a', 3], 'worker-b withdrew');
    now += 2_001;
    assert.equal(handOff.claimFor(now), undefined, 'an offer not renewed for 2 s is of a worker gone');
  } finally {
    stopListening();
    handOff.stop();
    await store.close();
  }
});
