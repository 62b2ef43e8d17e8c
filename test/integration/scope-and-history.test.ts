import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, ReceivedRequest } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';

/**
 * Who hears which event (instance, company and project webhooks, the user events with their ids
 * under `resource`), what the history keeps and shows, and idempotent publishing.
 */

const SECRET = 'scope-history-secret';

async function createWebhook(herald: TestHerald, settings: Record<string, unknown>): Promise<string> {
  const created = await herald.post('/api/webhooks', { secret: SECRET, ...settings });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function publishOne(herald: TestHerald, eventName: string, payload: Record<string, unknown>) {
  const published = await herald.post('/api/events', { eventName, payload });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  return published.body as { id: string; deliveries: number };
}

async function deliveries(herald: TestHerald, webhookId: string, query = ''): Promise<any[]> {
  const list = await herald.get(`/api/webhooks/${webhookId}/deliveries${query}`);
  assert.equal(list.status, 200, JSON.stringify(list.body));
  return list.body.data;
}

async function waitForSettled(herald: TestHerald, webhookId: string, count: number): Promise<any[]> {
  return waitUntil(
    async () => {
      const list = await deliveries(herald, webhookId);
      return list.length === count && list.every((d) => d.status !== 'pending') ? list : null;
    },
    { message: `webhook ${webhookId} expected ${count} settled deliveries`, timeoutMs: 20_000 },
  );
}

const eventIdOf = (request: ReceivedRequest) => request.headers['webhook-id'] as string;

describe('scope matching', () => {
  let herald: TestHerald;
  let receiver: Receiver;
  const hooks: Record<string, string> = {};

  before(async () => {
    receiver = await startReceiver();
    herald = await startTestHerald();
    const events = ['project_created', 'company_user_added'];
    const define = async (name: string, settings: Record<string, unknown>) => {
      hooks[name] = await createWebhook(herald, { url: `${receiver.url}/${name}`, events, ...settings });
    };
    await define('instance', {});
    await define('company-t1', { tenantId: 't1' });
    await define('company-t2', { tenantId: 't2' });
    await define('project-t1-p1', { tenantId: 't1', projectId: 'p1' });
    await define('project-t1-p2', { tenantId: 't1', projectId: 'p2' });
    await define('inactive-instance', { active: false });
    await define('inactive-company-t1', { tenantId: 't1', active: false });
    await define('other-event', { events: ['service_created'] });
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await receiver?.close();
  });

  /** Which webhooks (by name) have a delivery of the event: read from Herald and the receiver. */
  async function hearers(eventId: string): Promise<string[]> {
    const names: string[] = [];
    for (const [name, id] of Object.entries(hooks)) {
      if ((await deliveries(herald, id)).some((d) => d.eventId === eventId)) names.push(name);
    }
    return names.sort();
  }

  const cases: Array<{ title: string; eventName: string; payload: Record<string, unknown>; expected: string[] }> = [
    {
      title: 'project_created in t1/p1',
      eventName: 'project_created',
      payload: { tenantId: 't1', projectId: 'p1' },
      expected: ['company-t1', 'instance', 'project-t1-p1'],
    },
    {
      title: 'project_created in t1/p2',
      eventName: 'project_created',
      payload: { tenantId: 't1', projectId: 'p2' },
      expected: ['company-t1', 'instance', 'project-t1-p2'],
    },
    {
      // Same project id, other company: the project webhook of t1/p1 must not hear it.
      title: 'project_created in t2/p1',
      eventName: 'project_created',
      payload: { tenantId: 't2', projectId: 'p1' },
      expected: ['company-t2', 'instance'],
    },
    {
      title: 'project_created in an unknown company',
      eventName: 'project_created',
      payload: { tenantId: 't9', projectId: 'p1' },
      expected: ['instance'],
    },
    {
      title: 'company_user_added to company t1',
      eventName: 'company_user_added',
      payload: { userId: 'u1', email: 'ada@example.com', roleId: 'member', resource: { companyId: 't1' } },
      expected: ['company-t1', 'instance'],
    },
    {
      title: 'company_user_added to project p1 of company t1',
      eventName: 'company_user_added',
      payload: {
        userId: 'u2',
        email: 'bob@example.com',
        roleId: 'maintainer',
        resource: { companyId: 't1', projectId: 'p1', environmentId: 'dev' },
      },
      expected: ['company-t1', 'instance', 'project-t1-p1'],
    },
    {
      title: 'company_user_added to company t2',
      eventName: 'company_user_added',
      payload: { userId: 'u3', email: 'cy@example.com', roleId: 'owner', resource: { companyId: 't2' } },
      expected: ['company-t2', 'instance'],
    },
  ];

  for (const { title, eventName, payload, expected } of cases) {
    test(`${title} reaches ${expected.join(', ')}`, async () => {
      const published = await publishOne(herald, eventName, payload);
      assert.equal(published.deliveries, expected.length);
      assert.deepEqual(await hearers(published.id), expected);
      // The receiver sees exactly the same set, each path once.
      const arrived = await waitUntil(() => {
        const matching = receiver.requests.filter((r) => eventIdOf(r) === published.id);
        return matching.length >= expected.length ? matching : null;
      });
      assert.deepEqual(arrived.map((r) => r.url.slice(1)).sort(), expected);
    });
  }

  test('inactive webhooks and webhooks of other events got nothing at all', async () => {
    await waitForSettled(herald, hooks.instance, cases.length);
    for (const name of ['inactive-instance', 'inactive-company-t1', 'other-event']) {
      assert.deepEqual(await deliveries(herald, hooks[name]), [], name);
      assert.equal(receiver.requests.filter((r) => r.url === `/${name}`).length, 0, name);
    }
    // Every matching delivery arrived exactly once.
    const total = cases.reduce((sum, c) => sum + c.expected.length, 0);
    assert.equal(receiver.requests.length, total);
  });

  test('reactivating a webhook makes it hear new events, not old ones', async () => {
    const patched = await herald.patch(`/api/webhooks/${hooks['inactive-instance']}`, { active: true });
    assert.equal(patched.status, 200);
    const published = await publishOne(herald, 'project_created', { tenantId: 't1', projectId: 'p3' });
    assert.deepEqual(await hearers(published.id), ['company-t1', 'inactive-instance', 'instance']);
    assert.equal((await deliveries(herald, hooks['inactive-instance'])).length, 1);
  });
});

describe('last event in the webhook list', () => {
  let herald: TestHerald;
  let okReceiver: Receiver;
  let failingReceiver: Receiver;

  before(async () => {
    okReceiver = await startReceiver();
    failingReceiver = await startReceiver({ responder: () => ({ status: 404, body: 'no such hook' }) });
    herald = await startTestHerald();
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await okReceiver?.close();
    await failingReceiver?.close();
  });

  test('shows status, status code, event name and time of the latest delivery', async () => {
    const events = ['project_created', 'service_created'];
    const okId = await createWebhook(herald, { url: `${okReceiver.url}/ok`, events });
    const failingId = await createWebhook(herald, { url: `${failingReceiver.url}/gone`, events, maxAttempts: 1 });

    const listed = async () => {
      const list = await herald.get('/api/webhooks');
      assert.equal(list.status, 200);
      return new Map<string, any>(list.body.data.map((w: { id: string }) => [w.id, w]));
    };
    const fresh = await listed();
    assert.equal(fresh.get(okId).lastEvent, null);
    assert.equal(fresh.get(failingId).lastEvent, null);

    const startedAt = Date.now();
    await publishOne(herald, 'project_created', { tenantId: 't1', projectId: 'p1' });
    await waitForSettled(herald, okId, 1);
    await waitForSettled(herald, failingId, 1);
    const afterFirst = await listed();
    const okLast = afterFirst.get(okId).lastEvent;
    assert.deepEqual(
      { eventName: okLast.eventName, status: okLast.status, statusCode: okLast.statusCode },
      { eventName: 'project_created', status: 'success', statusCode: 200 },
    );
    assert.ok(Date.parse(okLast.dispatchedAt) >= startedAt - 1_000, okLast.dispatchedAt);
    const failingLast = afterFirst.get(failingId).lastEvent;
    assert.deepEqual(
      { eventName: failingLast.eventName, status: failingLast.status, statusCode: failingLast.statusCode },
      { eventName: 'project_created', status: 'error', statusCode: 404 },
    );

    await publishOne(herald, 'service_created', { tenantId: 't1', projectId: 'p1', serviceName: 'api' });
    await waitForSettled(herald, okId, 2);
    await waitForSettled(herald, failingId, 2);
    const afterSecond = await listed();
    assert.equal(afterSecond.get(okId).lastEvent.eventName, 'service_created');
    assert.equal(afterSecond.get(failingId).lastEvent.eventName, 'service_created');
    assert.equal(afterSecond.get(failingId).lastEvent.status, 'error');
    // The single-webhook read agrees with the list.
    const single = await herald.get(`/api/webhooks/${okId}`);
    assert.deepEqual(single.body.lastEvent, afterSecond.get(okId).lastEvent);
  });
});

describe('delivery history', () => {
  let herald: TestHerald;
  let receiver: Receiver;

  /** Answers by the payload's projectId: `status-NNN` gets NNN, `hang` never gets an answer. */
  const byProject = (request: ReceivedRequest) => {
    const projectId = String(JSON.parse(request.body.toString('utf8')).payload.projectId ?? '');
    if (projectId === 'hang') return 'hang' as const;
    const match = /^status-(\d{3})$/.exec(projectId);
    return { status: match ? Number(match[1]) : 200, body: `answer for ${projectId}` };
  };

  before(async () => {
    receiver = await startReceiver({ responder: byProject });
    // A long timeout keeps the hanging delivery pending for as long as the test needs it.
    herald = await startTestHerald({ deliveryTimeoutMs: 60_000 });
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await receiver?.close();
  });

  test('keeps the newest 200 deliveries; sort=oldest is the same window reversed', async () => {
    const webhookId = await createWebhook(herald, {
      url: `${receiver.url}/capped`,
      events: ['project_created'],
      tenantId: 'capped',
    });
    const publishedIds: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const published = await herald.post('/api/events', {
        events: Array.from({ length: 65 }, (_, i) => ({
          eventName: 'project_created',
          payload: { tenantId: 'capped', projectId: `p-${batch * 65 + i}` },
        })),
      });
      assert.equal(published.status, 202, JSON.stringify(published.body));
      publishedIds.push(...published.body.events.map((e: { id: string }) => e.id));
    }
    assert.equal(publishedIds.length, 260);
    await waitUntil(() => receiver.requests.filter((r) => r.url === '/capped').length >= 260, {
      timeoutMs: 30_000,
      message: 'all 260 events delivered',
    });
    await waitUntil(async () => (await deliveries(herald, webhookId)).every((d) => d.status === 'success'), {
      timeoutMs: 30_000,
    });

    const newest = await deliveries(herald, webhookId);
    assert.equal(newest.length, 200);
    const expectedWindow = publishedIds.slice(-200).reverse();
    assert.deepEqual(newest.map((d) => d.eventId), expectedWindow);
    assert.deepEqual(await deliveries(herald, webhookId, '?sort=newest'), newest);

    const oldest = await deliveries(herald, webhookId, '?sort=oldest');
    assert.equal(oldest.length, 200);
    assert.deepEqual(oldest.map((d) => d.id), newest.map((d) => d.id).reverse());
    assert.equal(oldest[0].eventId, publishedIds[60]);
  });

  test('filters by event name, status and status code, alone and combined', async () => {
    const webhookId = await createWebhook(herald, {
      url: `${receiver.url}/filtered`,
      events: ['project_created', 'service_created'],
      tenantId: 'filtered',
      maxAttempts: 1,
    });
    const plan: Array<[string, string]> = [
      ['project_created', 'status-200'],
      ['project_created', 'status-404'],
      ['project_created', 'status-500'],
      ['service_created', 'status-201'],
      ['service_created', 'status-404'],
      ['service_created', 'status-404'],
      ['project_created', 'status-200'],
    ];
    const ids: string[] = [];
    for (const [eventName, projectId] of plan) {
      const payload: Record<string, unknown> = { tenantId: 'filtered', projectId };
      if (eventName === 'service_created') payload.serviceName = `svc-${ids.length}`;
      ids.push((await publishOne(herald, eventName, payload)).id);
    }
    await waitForSettled(herald, webhookId, plan.length);
    // Published last and never answered, so it stays pending.
    const hangingId = (await publishOne(herald, 'project_created', { tenantId: 'filtered', projectId: 'hang' })).id;
    await waitUntil(() => receiver.requests.some((r) => r.headers['webhook-id'] === hangingId));

    /** Indexes into `plan` (8 = the hanging one), newest first. */
    const query = async (q: string) => {
      const list = await deliveries(herald, webhookId, q);
      return list.map((d) => (d.eventId === hangingId ? 'hang' : ids.indexOf(d.eventId)));
    };
    assert.deepEqual(await query(''), ['hang', 6, 5, 4, 3, 2, 1, 0]);
    assert.deepEqual(await query('?eventName=service_created'), [5, 4, 3]);
    assert.deepEqual(await query('?eventName=project_created'), ['hang', 6, 2, 1, 0]);
    assert.deepEqual(await query('?status=success'), [6, 3, 0]);
    assert.deepEqual(await query('?status=error'), [5, 4, 2, 1]);
    assert.deepEqual(await query('?status=pending'), ['hang']);
    assert.deepEqual(await query('?statusCode=404'), [5, 4, 1]);
    assert.deepEqual(await query('?statusCode=201'), [3]);
    assert.deepEqual(await query('?statusCode=302'), []);
    assert.deepEqual(await query('?eventName=service_created&status=error'), [5, 4]);
    assert.deepEqual(await query('?eventName=project_created&statusCode=404'), [1]);
    assert.deepEqual(await query('?status=error&statusCode=500'), [2]);
    assert.deepEqual(await query('?status=success&statusCode=404'), []);
    assert.deepEqual(
      await query('?eventName=project_created&status=success&statusCode=200&sort=oldest'),
      [0, 6],
    );

    const errors = await deliveries(herald, webhookId, '?status=error');
    for (const delivery of errors) {
      assert.equal(delivery.error.code, 'http_status');
      assert.ok(delivery.statusCode >= 400);
    }
    // Bad filter values are refused rather than silently ignored.
    assert.equal((await herald.get(`/api/webhooks/${webhookId}/deliveries?status=failed`)).status, 400);
    assert.equal((await herald.get(`/api/webhooks/${webhookId}/deliveries?statusCode=abc`)).status, 400);
    assert.equal((await herald.get(`/api/webhooks/${webhookId}/deliveries?sort=sideways`)).status, 400);
    assert.equal((await herald.get('/api/webhooks/wh_missing/deliveries')).status, 404);
  });

  test('the detail has the exact body bytes the receiver saw and the signature headers', async () => {
    const webhookId = await createWebhook(herald, {
      url: `${receiver.url}/detail`,
      events: ['configuration_saved'],
      tenantId: 'detail',
    });
    const payload = {
      tenantId: 'detail',
      projectId: 'status-201',
      revisionName: 'main',
      savedChangesId: 'c-2',
      author: { id: 'u-1', name: 'Łukasz 🚀 "quoted"' },
    };
    const published = await publishOne(herald, 'configuration_saved', payload);
    const [summary] = await waitForSettled(herald, webhookId, 1);
    const request = receiver.requests.find((r) => r.url === '/detail');
    assert.ok(request);

    const detail = await herald.get(`/api/webhooks/${webhookId}/deliveries/${summary.id}`);
    assert.equal(detail.status, 200);
    const body = detail.body;
    assert.equal(body.eventId, published.id);
    assert.equal(body.status, 'success');
    assert.equal(body.statusCode, 201);
    assert.ok(Buffer.from(body.requestBody, 'utf8').equals(request.body), 'same bytes as on the wire');
    const signedHeaders = [
      'x-mia-signature',
      'x-mia-token',
      'x-signature',
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
      'content-type',
      'user-agent',
    ];
    for (const name of signedHeaders) {
      assert.equal(body.requestHeaders[name], request.headers[name], name);
    }
    assert.equal(body.responseBody, 'answer for status-201');
    assert.equal(body.attemptLog.length, 1);
    assert.equal(body.attemptLog[0].statusCode, 201);
    // The secret itself is never part of what Herald shows.
    assert.doesNotMatch(JSON.stringify(body), new RegExp(SECRET));

    const missing = await herald.get(`/api/webhooks/${webhookId}/deliveries/dlv_missing`);
    assert.equal(missing.status, 404);
  });
});

describe('idempotent publishing', () => {
  let herald: TestHerald;
  let receiver: Receiver;
  let webhookId: string;

  before(async () => {
    receiver = await startReceiver();
    herald = await startTestHerald();
    webhookId = await createWebhook(herald, { url: `${receiver.url}/idem`, events: ['project_created'] });
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await receiver?.close();
  });

  /** A publish without a key that is delivered after anything queued before it. */
  async function settleEverything(): Promise<void> {
    const marker = await publishOne(herald, 'project_created', { tenantId: 'marker', projectId: 'm' });
    await waitUntil(async () => {
      const list = await deliveries(herald, webhookId);
      return list.some((d) => d.eventId === marker.id) && list.every((d) => d.status === 'success');
    });
  }

  const requestsFor = (eventId: string) => receiver.requests.filter((r) => eventIdOf(r) === eventId).length;

  test('a repeated single publish returns the first result and delivers once', async () => {
    const body = { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'once' } };
    const headers = { 'idempotency-key': 'single-key-1' };
    const first = await herald.post('/api/events', body, headers);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.headers.get('idempotent-replayed'), null);
    assert.equal(first.body.deliveries, 1);

    const again = await herald.post('/api/events', body, headers);
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, first.body);

    await settleEverything();
    assert.equal(requestsFor(first.body.id), 1);
    const ofThisEvent = (await deliveries(herald, webhookId)).filter((d) => d.eventId === first.body.id);
    assert.equal(ofThisEvent.length, 1);
  });

  test('a repeated batch publish returns the first result and delivers once', async () => {
    const body = {
      events: [0, 1, 2].map((i) => ({
        eventName: 'project_created',
        payload: { tenantId: 't1', projectId: `b-${i}` },
      })),
    };
    const headers = { 'idempotency-key': 'batch-key-1' };
    const first = await herald.post('/api/events', body, headers);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.events.length, 3);
    const deliveriesBefore = (await deliveries(herald, webhookId)).length;

    const again = await herald.post('/api/events', body, headers);
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, first.body);
    assert.equal((await deliveries(herald, webhookId)).length, deliveriesBefore);

    await settleEverything();
    for (const event of first.body.events) assert.equal(requestsFor(event.id), 1);
  });

  test('the same key with a different body is refused with 409 and publishes nothing', async () => {
    const headers = { 'idempotency-key': 'reused-key-1' };
    const first = await herald.post(
      '/api/events',
      { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'first' } },
      headers,
    );
    assert.equal(first.status, 202);
    const countBefore = (await deliveries(herald, webhookId)).length;

    const reusedSingle = await herald.post(
      '/api/events',
      { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'second' } },
      headers,
    );
    assert.equal(reusedSingle.status, 409, JSON.stringify(reusedSingle.body));
    assert.equal(reusedSingle.body.error, 'idempotency_key_reused');

    const reusedAsBatch = await herald.post(
      '/api/events',
      { events: [{ eventName: 'project_created', payload: { tenantId: 't1', projectId: 'first' } }] },
      headers,
    );
    assert.equal(reusedAsBatch.status, 409, JSON.stringify(reusedAsBatch.body));
    assert.equal(reusedAsBatch.body.error, 'idempotency_key_reused');

    assert.equal((await deliveries(herald, webhookId)).length, countBefore);
    // A fresh key publishes as usual.
    const fresh = await herald.post(
      '/api/events',
      { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'second' } },
      { 'idempotency-key': 'reused-key-2' },
    );
    assert.equal(fresh.status, 202);
    assert.notEqual(fresh.body.id, first.body.id);
    await settleEverything();
    const projectsSeen = receiver.requests.map((r) => JSON.parse(r.body.toString('utf8')).payload.projectId);
    assert.equal(projectsSeen.filter((projectId) => projectId === 'second').length, 1);
  });
});
