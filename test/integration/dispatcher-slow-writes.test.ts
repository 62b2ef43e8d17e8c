import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { SecretBox } from '../../src/core/secret-box.js';
import { SqliteStore, type Store } from '../../src/store/index.js';
import { makeTempDir, queueEvents, removeDir, startReceiver, startTestDispatcher, waitUntil } from '../support/index.js';

/**
 * A store whose outcome writes are slow: a slot is free again once its answer is judged, so
 * sending goes on while a write runs, and stops only once a full share of outcomes waits.
 */

const MAX_IN_FLIGHT = 4;
const EVENTS = 40;

/** The real store, except that outcome writes wait until `open()` is called. */
function withHeldWrites(store: SqliteStore): { store: Store; open: () => void; writes: number[] } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const writes: number[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'recordAttempts') {
        return async (...args: Parameters<Store['recordAttempts']>) => {
          await opened;
          writes.push(args[1].length);
          return target.recordAttempts(...args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, open, writes };
}

test('answers free their slots before their outcomes are written, up to a share of unwritten outcomes', async () => {
  const dataDir = makeTempDir('herald-slow-writes-');
  const receiver = await startReceiver();
  const realStore = await SqliteStore.open(dataDir, new SecretBox(randomBytes(32)));
  const { store, open, writes } = withHeldWrites(realStore);
  let stopDispatcher = async () => {};
  try {
    const webhookId = await queueEvents(realStore, `${receiver.url}/hook`, EVENTS);
    ({ stop: stopDispatcher } = startTestDispatcher(store, {
      workerId: 'slow-writes-test',
      maxInFlight: MAX_IN_FLIGHT,
      maxInFlightPerWebhook: MAX_IN_FLIGHT,
      deliveryTimeoutMs: 5_000,
      retryScheduleMs: [1_000],
    }));

    // No outcome is written yet, and still more than the slots' worth of requests go out.
    await receiver.waitForRequests(MAX_IN_FLIGHT + 1, 10_000);
    // Claims stop once more than a share of outcomes waits: a slot's worth more at most.
    await delay(500);
    assert.equal(writes.length, 0);
    const sentWhileHeld = receiver.requests.length;
    assert.ok(sentWhileHeld <= 2 * MAX_IN_FLIGHT, `${sentWhileHeld} requests while no outcome could be written`);

    open();
    await receiver.waitForRequests(EVENTS, 15_000);
    const history = await waitUntil(
      async () => {
        const rows = await realStore.listDeliveries(webhookId, { sort: 'oldest' });
        return rows.length === EVENTS && rows.every((row) => row.status === 'success') ? rows : null;
      },
      { message: 'the outcomes were not all written once writes went through' },
    );
    assert.equal(history.length, EVENTS);
    assert.equal(receiver.requests.length, EVENTS, 'no event twice');
  } finally {
    open();
    await stopDispatcher();
    await realStore.close();
    await receiver.close();
    removeDir(dataDir);
  }
});
