import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, ReceivedRequest } from '../support/index.js';
import { apiClient, startTestHerald } from '../support/herald.js';
import type { TestHerald } from '../support/herald.js';

/**
 * Operators' tools on one webhook: test events, resending one delivery or everything given up
 * on since a time, and the automatic disabling of a webhook that keeps failing. Herald's clock
 * runs with real time plus an offset the tests move forward.
 */

let offset = 0;
const clock = () => Date.now() + offset;
/** Paths the receiver answers 500 on. */
const failing = new Set<string>();

let receiver: Receiver;
let herald: TestHerald;

before(async () => {
  receiver = await startReceiver({
    responder: (request) => (failing.has(request.url) ? { status: 500, body: 'down' } : { status: 200, body: 'ok' }),
  });
  herald = await startTestHerald({ disableAfterMs: 60_000, disableAfterFailures: 3 }, { clock });
});

after(async () => {
  await herald?.stop({ removeData: true });
  await receiver?.close();
});

async function createWebhook(path: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await herald.post('/api/webhooks', {
    url: `${receiver.url}${path}`,
    events: ['project_created', 'tag_created'],
    tenantId: 't1',
    maxAttempts: 1,
    active: true,
    ...extra,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

const requestsTo = (path: string): ReceivedRequest[] => receiver.requests.filter((request) => request.url === path);

interface Delivery {
  id: string;
  eventId: string;
  status: string;
  attempts: number;
  resentFrom: string | null;
}

async function history(webhookId: string): Promise<Delivery[]> {
  const answer = await herald.get(`/api/webhooks/${webhookId}/deliveries?sort=oldest`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.data as Delivery[];
}

/** Waits until the delivery is finished with that status, and returns it. */
async function settled(webhookId: string, deliveryId: string, status: 'success' | 'error'): Promise<Delivery> {
  return waitUntil(async () => (await history(webhookId)).find((item) => item.id === deliveryId && item.status === status), {
    message: `delivery ${deliveryId} ${status}`,
  });
}

async function sendTest(webhookId: string, body: unknown = {}): Promise<string> {
  const answer = await herald.post(`/api/webhooks/${webhookId}/test`, body);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  return answer.body.deliveryId as string;
}

describe('operations on one webhook', () => {
  test('a test event reaches only its webhook and shows in its history', async () => {
    const target = await createWebhook('/test-target');
    const bystander = await createWebhook('/test-bystander');
    const deliveryId = await sendTest(target);
    const delivery = await settled(target, deliveryId, 'success');
    const [received] = requestsTo('/test-target');
    assert.deepEqual(JSON.parse(received.body.toString()), {
      eventName: 'project_created',
      eventTimestamp: JSON.parse(received.body.toString()).eventTimestamp,
      payload: { test: true, tenantId: 't1' },
    });
    assert.equal(received.headers['webhook-id'], delivery.eventId);

    // A named event type it is subscribed to, by name.
    const tagged = await sendTest(target, { eventName: 'tag_created' });
    await settled(target, tagged, 'success');
    assert.equal(JSON.parse(requestsTo('/test-target')[1].body.toString()).eventName, 'tag_created');

    await sleep(200);
    assert.deepEqual(requestsTo('/test-bystander'), []);
    assert.deepEqual(await history(bystander), []);

    const unsubscribed = await herald.post(`/api/webhooks/${target}/test`, { eventName: 'service_created' });
    assert.equal(unsubscribed.status, 400, JSON.stringify(unsubscribed.body));
    assert.equal(unsubscribed.body.field, 'eventName');
    const unknown = await herald.post(`/api/webhooks/${target}/test`, { eventName: 'no_such_event' });
    assert.deepEqual([unknown.status, unknown.body.error], [400, 'unknown_event_type']);
  });

  test('a resent delivery is a new delivery of the same event', async () => {
    const target = await createWebhook('/resend-one');
    const first = await sendTest(target);
    const original = await settled(target, first, 'success');
    const answer = await herald.post(`/api/webhooks/${target}/deliveries/${first}/resend`, undefined);
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    const copy = await settled(target, answer.body.deliveryId, 'success');
    assert.notEqual(copy.id, original.id);
    assert.deepEqual([copy.eventId, copy.attempts, copy.resentFrom], [original.eventId, 1, original.id]);
    const [one, two] = requestsTo('/resend-one');
    assert.deepEqual(two.body, one.body, 'the same bytes');
    assert.equal(two.headers['webhook-id'], one.headers['webhook-id']);
    assert.equal((await history(target)).length, 2);

    const missing = await herald.post(`/api/webhooks/${target}/deliveries/dlv_missing/resend`, undefined);
    assert.deepEqual([missing.status, missing.body.error], [404, 'not_found']);
  });

  test('resend-failed queues again only what was given up on since the time', async () => {
    failing.add('/flaky');
    const target = await createWebhook('/flaky');
    const before = await sendTest(target);
    await settled(target, before, 'error');
    const since = new Date(clock()).toISOString();
    await sleep(5);
    const later = [await sendTest(target), await sendTest(target)];
    for (const id of later) await settled(target, id, 'error');
    const ok = await sendTest(target);
    failing.delete('/flaky');
    await settled(target, ok, 'success');

    const answer = await herald.post(`/api/webhooks/${target}/resend-failed`, { since });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, { deliveries: 2 });
    const resent = await waitUntil(async () => {
      const copies = (await history(target)).filter((item) => item.resentFrom !== null);
      return copies.length === 2 && copies.every((item) => item.status === 'success') ? copies : null;
    });
    assert.deepEqual(resent.map((item) => item.resentFrom), later);

    const bad = await herald.post(`/api/webhooks/${target}/resend-failed`, { since: 'yesterday' });
    assert.deepEqual([bad.status, bad.body.field], [400, 'since']);
  });

  test('a webhook that keeps failing is set inactive with its reason, and resumes once enabled', async () => {
    failing.add('/down');
    const target = await createWebhook('/down');
    const start = new Date(clock()).toISOString();
    const failed: string[] = [];
    for (const step of [0, 30_000, 31_000]) {
      offset += step;
      const id = await sendTest(target);
      await settled(target, id, 'error');
      failed.push(id);
    }
    const disabled = (await herald.get(`/api/webhooks/${target}`)).body;
    assert.equal(disabled.active, false);
    assert.match(disabled.disabledReason, /^no successful delivery since \S+ \(3 deliveries failed in a row\)$/);
    assert.ok(Date.parse(disabled.disabledAt) >= Date.parse(start) + 61_000);

    // Queued while inactive: kept, not sent.
    const held = await sendTest(target);
    const requestsBefore = requestsTo('/down').length;
    await sleep(300);
    assert.equal(requestsTo('/down').length, requestsBefore);
    assert.equal((await history(target)).find((item) => item.id === held)?.status, 'pending');

    // The receiver is fixed: queue again what failed, then enable.
    failing.delete('/down');
    assert.deepEqual((await herald.post(`/api/webhooks/${target}/resend-failed`, { since: start })).body, { deliveries: 3 });
    const enabled = await herald.patch(`/api/webhooks/${target}`, { active: true });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    assert.deepEqual([enabled.body.active, enabled.body.disabledReason, enabled.body.disabledAt], [true, null, null]);
    await settled(target, held, 'success');
    const copies = await waitUntil(async () => {
      const list = (await history(target)).filter((item) => item.resentFrom !== null);
      return list.length === 3 && list.every((item) => item.status === 'success') ? list : null;
    });
    assert.deepEqual(copies.map((item) => item.resentFrom), failed);
  });

  test("a company token cannot reach another tenant's deliveries", async () => {
    const created = await herald.post('/api/tokens', { role: 'company', tenantId: 't1' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const company = apiClient(herald.url, created.body.token);
    const own = await createWebhook('/reach-own');
    const foreign = await createWebhook('/reach-foreign', { tenantId: 't2' });
    const foreignDelivery = await sendTest(foreign);
    await settled(foreign, foreignDelivery, 'success');
    const before = await history(foreign);

    const refused = [
      await company.post(`/api/webhooks/${foreign}/deliveries/${foreignDelivery}/resend`, undefined),
      await company.post(`/api/webhooks/${own}/deliveries/${foreignDelivery}/resend`, undefined),
      await company.post(`/api/webhooks/${foreign}/resend-failed`, { since: new Date(0).toISOString() }),
      await company.post(`/api/webhooks/${foreign}/test`, {}),
    ];
    assert.deepEqual(refused.map((answer) => [answer.status, answer.body.error]), Array(4).fill([404, 'not_found']));
    assert.deepEqual(await history(foreign), before);
    assert.deepEqual(await history(own), []);

    // Its own webhook it may test.
    const mine = await company.post(`/api/webhooks/${own}/test`, {});
    assert.equal(mine.status, 202, JSON.stringify(mine.body));
  });
});
