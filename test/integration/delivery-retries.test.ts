import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { failTimesThenSucceed, startReceiver, waitUntil } from '../support/index.js';
import type { Receiver } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';

/**
 * Retries and isolation: a failing receiver is retried on the schedule until it answers or the
 * webhook's attempts run out, a hanging one holds only its own slots, and a deleted webhook's
 * pending deliveries go with it. Herald runs with the test schedule of 50, 100, 150 ms.
 */

const SECRET = 'retries-test-secret';

let tenantCounter = 0;
/** Each case gets its own company, so its webhooks hear only its own events. */
const nextTenant = () => `retry-tenant-${++tenantCounter}`;

async function createWebhook(herald: TestHerald, tenantId: string, settings: Record<string, unknown>): Promise<string> {
  const created = await herald.post('/api/webhooks', {
    events: ['project_created'],
    secret: SECRET,
    tenantId,
    ...settings,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function publish(herald: TestHerald, tenantId: string, projectId = 'p-1'): Promise<string> {
  const published = await herald.post('/api/events', {
    eventName: 'project_created',
    payload: { tenantId, projectId },
  });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  return published.body.id as string;
}

async function listDeliveries(herald: TestHerald, webhookId: string): Promise<any[]> {
  const list = await herald.get(`/api/webhooks/${webhookId}/deliveries`);
  assert.equal(list.status, 200, JSON.stringify(list.body));
  return list.body.data;
}

/** The single delivery of a webhook once it is no longer pending, with its detail. */
async function settledDelivery(herald: TestHerald, webhookId: string) {
  const summary = await waitUntil(
    async () => {
      const [delivery] = await listDeliveries(herald, webhookId);
      return delivery && delivery.status !== 'pending' ? delivery : null;
    },
    { message: `the delivery of ${webhookId} did not settle` },
  );
  const detail = await herald.get(`/api/webhooks/${webhookId}/deliveries/${summary.id}`);
  assert.equal(detail.status, 200);
  return detail.body;
}

describe('delivery retries', () => {
  let herald: TestHerald;
  const receivers: Receiver[] = [];

  async function receiver(options?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
    const started = await startReceiver(options);
    receivers.push(started);
    return started;
  }

  before(async () => {
    herald = await startTestHerald();
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await Promise.all(receivers.map((r) => r.close()));
  });

  test('a receiver that fails N times and then answers gets the delivery on attempt N+1', async () => {
    const failures = 3;
    const flaky = await receiver({ responder: failTimesThenSucceed(failures, 503) });
    const tenantId = nextTenant();
    const webhookId = await createWebhook(herald, tenantId, { url: `${flaky.url}/flaky`, maxAttempts: 5 });
    const eventId = await publish(herald, tenantId);

    const delivery = await settledDelivery(herald, webhookId);
    assert.equal(delivery.status, 'success');
    assert.equal(delivery.statusCode, 200);
    assert.equal(delivery.error, null);
    assert.equal(delivery.attempts, failures + 1);
    assert.deepEqual(
      delivery.attemptLog.map((a: { attempt: number; statusCode: number }) => [a.attempt, a.statusCode]),
      [[1, 503], [2, 503], [3, 503], [4, 200]],
    );
    for (const failed of delivery.attemptLog.slice(0, failures)) {
      assert.equal(failed.error?.code, 'http_status');
    }
    assert.equal(delivery.attemptLog[failures].error, null);
    // The receiver's answer to the final attempt is kept.
    assert.equal(delivery.responseBody, 'ok');

    assert.equal(flaky.requests.length, failures + 1);
    // Every attempt carries the same event id and the same bytes, so a receiver can drop repeats.
    const bodies = new Set(flaky.requests.map((r) => r.body.toString('utf8')));
    assert.equal(bodies.size, 1);
    assert.deepEqual(new Set(flaky.requests.map((r) => r.headers['webhook-id'])), new Set([eventId]));
  });

  test('a receiver that always fails is given up on after exactly maxAttempts requests', async () => {
    const broken = await receiver({ responder: () => ({ status: 500, body: 'still broken' }) });
    const tenantId = nextTenant();
    const webhookId = await createWebhook(herald, tenantId, { url: `${broken.url}/broken`, maxAttempts: 3 });
    await publish(herald, tenantId);

    const delivery = await settledDelivery(herald, webhookId);
    assert.equal(delivery.status, 'error');
    assert.equal(delivery.statusCode, 500);
    assert.equal(delivery.error.code, 'http_status');
    assert.equal(delivery.attempts, 3);
    assert.equal(delivery.nextAttemptAt, null);
    assert.equal(delivery.responseBody, 'still broken');
    assert.deepEqual(
      delivery.attemptLog.map((a: { statusCode: number }) => a.statusCode),
      [500, 500, 500],
    );
    const webhook = await herald.get(`/api/webhooks/${webhookId}`);
    assert.deepEqual(
      { status: webhook.body.lastEvent.status, statusCode: webhook.body.lastEvent.statusCode },
      { status: 'error', statusCode: 500 },
    );

    // A later delivery that needs every step of the schedule is the clock: by the time it
    // succeeds, a fourth attempt at the given-up delivery would long have been due.
    await deliverThroughWholeSchedule(herald);
    assert.equal(broken.requests.length, 3);
  });

  test("a receiver's Retry-After pushes the next attempt back", async () => {
    let answered = 0;
    const busy = await receiver({
      responder: () =>
        answered++ === 0 ? { status: 503, headers: { 'retry-after': '1' }, body: 'busy' } : { status: 200, body: 'ok' },
    });
    const tenantId = nextTenant();
    const webhookId = await createWebhook(herald, tenantId, { url: `${busy.url}/busy`, maxAttempts: 3 });
    await publish(herald, tenantId);

    const waiting = await waitUntil(async () => {
      const [delivery] = await listDeliveries(herald, webhookId);
      return delivery?.status === 'pending' && delivery.attempts === 1 ? delivery : null;
    });
    // The schedule alone would retry after about 50 ms; the receiver asked for a second.
    const gap = Date.parse(waiting.nextAttemptAt) - Date.parse(waiting.dispatchedAt);
    assert.ok(gap >= 1_000, `next attempt ${gap} ms after the first, expected at least 1000`);

    const delivery = await settledDelivery(herald, webhookId);
    assert.equal(delivery.status, 'success');
    assert.equal(delivery.attempts, 2);
  });

  test('a hanging receiver does not hold back deliveries to a healthy one', async () => {
    const hanging = await receiver({ responder: () => 'hang' });
    const healthy = await receiver();
    // A long timeout keeps the hanging requests in flight for the whole test.
    const patient = await startTestHerald({ deliveryTimeoutMs: 60_000 });
    try {
      const tenantId = nextTenant();
      const hangingId = await createWebhook(patient, tenantId, { url: `${hanging.url}/hang` });
      const healthyId = await createWebhook(patient, tenantId, { url: `${healthy.url}/ok` });

      const batch = await patient.post('/api/events', {
        events: Array.from({ length: 5 }, (_, i) => ({
          eventName: 'project_created',
          payload: { tenantId, projectId: `batch-${i}` },
        })),
      });
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      await hanging.waitForRequests(5);
      // Published while the first five hang: these must not queue behind them either.
      for (let i = 0; i < 3; i++) await publish(patient, tenantId, `single-${i}`);

      await healthy.waitForRequests(8);
      const healthyDeliveries = await waitUntil(async () => {
        const list = await listDeliveries(patient, healthyId);
        return list.length === 8 && list.every((d) => d.status === 'success') ? list : null;
      });
      assert.equal(healthyDeliveries.length, 8);

      // All the while, not one hanging delivery has finished.
      const hangingDeliveries = await listDeliveries(patient, hangingId);
      assert.equal(hangingDeliveries.length, 8);
      for (const delivery of hangingDeliveries) {
        assert.equal(delivery.status, 'pending');
        assert.equal(delivery.attempts, 0);
      }
      // They are all on the wire at once, each holding a connection, none queued behind another.
      await hanging.waitForRequests(8);
      assert.ok((await listDeliveries(patient, hangingId)).every((d) => d.status === 'pending' && d.attempts === 0));
      const healthyProjects = healthy.requests.map((r) => JSON.parse(r.body.toString('utf8')).payload.projectId);
      const published = [0, 1, 2, 3, 4].map((i) => `batch-${i}`).concat([0, 1, 2].map((i) => `single-${i}`));
      assert.deepEqual([...healthyProjects].sort(), [...published].sort());
    } finally {
      await patient.stop({ removeData: true });
    }
  });

  test('deleting a webhook stops its pending retries', async () => {
    const failing = await receiver({ responder: () => ({ status: 500 }) });
    const tenantId = nextTenant();
    const webhookId = await createWebhook(herald, tenantId, { url: `${failing.url}/doomed`, maxAttempts: 20 });
    await publish(herald, tenantId);
    await failing.waitForRequests(2);

    const deleted = await herald.delete(`/api/webhooks/${webhookId}`);
    assert.equal(deleted.status, 204);
    const seenAtDeletion = failing.requests.length;
    assert.equal((await herald.get(`/api/webhooks/${webhookId}/deliveries`)).status, 404);

    // Two deliveries that each walk the whole schedule are the clock. One attempt may have been
    // on the wire when the webhook went; after that, nothing more may arrive.
    await deliverThroughWholeSchedule(herald);
    const afterFirstClock = failing.requests.length;
    assert.ok(afterFirstClock <= seenAtDeletion + 1, `${afterFirstClock - seenAtDeletion} requests after deletion`);
    await deliverThroughWholeSchedule(herald);
    assert.equal(failing.requests.length, afterFirstClock);
  });

  /**
   * Delivers one event to a fresh receiver that fails three times first: its success comes only
   * after three retry delays, longer than any single retry delay of the schedule.
   */
  async function deliverThroughWholeSchedule(target: TestHerald): Promise<void> {
    const clock = await receiver({ responder: failTimesThenSucceed(3) });
    const tenantId = nextTenant();
    const webhookId = await createWebhook(target, tenantId, { url: `${clock.url}/clock`, maxAttempts: 4 });
    await publish(target, tenantId);
    const delivery = await settledDelivery(target, webhookId);
    assert.equal(delivery.status, 'success');
    assert.equal(delivery.attempts, 4);
  }
});
