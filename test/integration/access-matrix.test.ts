import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver, waitUntil } from '../support/index.js';
import type { Receiver } from '../support/index.js';
import { apiClient, startTestHerald } from '../support/herald.js';
import type { ApiClient, ApiResponse, TestHerald } from '../support/herald.js';

/**
 * Every /api route, called by every kind of token, on a target inside and outside the token's
 * reach. The routes are read from the router, so a route added later has no way around this
 * file: without an entry in MATRIX the coverage test fails.
 *
 * Tenants: t1 is "own" (the company, project and publisher tokens are limited to it), t2 is
 * "foreign". Each cell checks the exact status; a 2xx that the change happened (or, for a
 * list, that exactly the items in reach came back); a 403 or 404 that nothing changed; and a
 * 404 on something that exists that it reads exactly like a 404 on something that does not.
 */

type RoleName = 'admin' | 'company' | 'project' | 'publisher' | 'publisher-any';
const ROLE_NAMES: RoleName[] = ['admin', 'company', 'project', 'publisher', 'publisher-any'];

const ROLE_SPECS: Record<RoleName, Record<string, unknown>> = {
  admin: { role: 'admin', name: 'matrix admin' },
  company: { role: 'company', tenantId: 't1', name: 'matrix company t1' },
  project: { role: 'project', tenantId: 't1', projectId: 'p1', name: 'matrix project t1/p1' },
  publisher: { role: 'publisher', tenantId: 't1', name: 'matrix publisher t1' },
  'publisher-any': { role: 'publisher', name: 'matrix publisher, any tenant' },
};

interface Scope {
  tenantId: string | null;
  projectId: string | null;
}

const SCOPES = {
  instance: { tenantId: null, projectId: null },
  'company-t1': { tenantId: 't1', projectId: null },
  'company-t2': { tenantId: 't2', projectId: null },
  'project-t1-p1': { tenantId: 't1', projectId: 'p1' },
  'project-t2-p1': { tenantId: 't2', projectId: 'p1' },
} satisfies Record<string, Scope>;
type FixtureName = keyof typeof SCOPES;
const FIXTURE_NAMES = Object.keys(SCOPES) as FixtureName[];

/** Which webhooks a role manages, written out here rather than taken from src/core/access.ts. */
function roleReaches(role: RoleName, scope: Scope): boolean {
  switch (role) {
    case 'admin':
      return true;
    case 'company':
      return scope.tenantId === 't1';
    case 'project':
      return scope.tenantId === 't1' && scope.projectId === 'p1';
    default:
      return false;
  }
}

const SECRET = 'matrix-webhook-secret';
const MISSING_WEBHOOK = 'wh_no_such_webhook_0000';
const MISSING_DELIVERY = 'dlv_no_such_delivery_000';
const MISSING_TOKEN = 'tok_no_such_token_000000';

const herald: TestHerald = await startTestHerald({ rateLimitPerMinute: 0 });
const ROUTES = apiRoutes();

let receiver: Receiver;
const clients = {} as Record<RoleName, ApiClient>;
const tokenIds = {} as Record<RoleName, string>;
const fixtures = {
  webhooks: {} as Record<FixtureName, string>,
  /** One delivery of each fixture webhook. */
  deliveries: {} as Record<FixtureName, string>,
  /** Instance webhook that hears the event type the publish cells send. */
  probe: '',
};
let serial = 0;
const unique = (prefix: string) => `${prefix}_${++serial}`;

before(async () => {
  receiver = await startReceiver();
  for (const role of ROLE_NAMES) {
    const created = await herald.post('/api/tokens', ROLE_SPECS[role]);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    clients[role] = apiClient(herald.url, created.body.token);
    tokenIds[role] = created.body.id;
  }
  for (const name of FIXTURE_NAMES) {
    fixtures.webhooks[name] = await createWebhook(SCOPES[name], { url: `${receiver.url}/${name}`, active: true });
  }
  fixtures.probe = await createWebhook(SCOPES.instance, {
    url: `${receiver.url}/probe`,
    events: ['service_created'],
    active: true,
  });
  // One event per tenant: each fixture webhook gets at least one delivery, the instance one two.
  for (const tenantId of ['t1', 't2']) {
    const published = await herald.post('/api/events', { eventName: 'project_created', payload: { tenantId, projectId: 'p1' } });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 3);
  }
  for (const name of FIXTURE_NAMES) {
    const list = await waitUntil(
      async () => {
        const answer = await herald.get(`/api/webhooks/${fixtures.webhooks[name]}/deliveries`);
        const data = answer.body.data as Array<{ id: string; status: string }>;
        return data.length > 0 && data.every((delivery) => delivery.status === 'success') ? data : null;
      },
      { message: `deliveries of the ${name} webhook`, timeoutMs: 20_000 },
    );
    fixtures.deliveries[name] = list[0].id;
  }
});

after(async () => {
  await herald.stop({ removeData: true });
  await receiver?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

async function createWebhook(scope: Scope, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await herald.post('/api/webhooks', {
    url: `${receiver.url}/fresh`,
    events: ['project_created'],
    secret: SECRET,
    // Throwaway targets never take deliveries, so they cannot change state under a check.
    active: false,
    ...(scope.tenantId === null ? {} : { tenantId: scope.tenantId }),
    ...(scope.projectId === null ? {} : { projectId: scope.projectId }),
    ...extra,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function removeWebhook(id: string): Promise<void> {
  const answer = await herald.delete(`/api/webhooks/${id}`);
  assert.ok(answer.status === 204 || answer.status === 404, JSON.stringify(answer.body));
}

async function createToken(spec: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const created = await herald.post('/api/tokens', spec);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { id: created.body.id, token: created.body.token };
}

async function adminGet(path: string): Promise<any> {
  const answer = await herald.get(path);
  assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Everything a refused request must leave as it was, read with the instance admin token. */
async function snapshot() {
  const deliveries: Record<string, unknown> = {};
  for (const id of [...Object.values(fixtures.webhooks), fixtures.probe]) {
    deliveries[id] = (await adminGet(`/api/webhooks/${id}/deliveries`)).data;
  }
  return {
    webhooks: (await adminGet('/api/webhooks?limit=1000')).data,
    eventTypes: (await adminGet('/api/event-types')).data,
    tokens: (await adminGet('/api/tokens')).data,
    deliveries,
  };
}

async function waitForProbeDeliveries(eventIds: string[]): Promise<void> {
  await waitUntil(
    async () => {
      const data = (await adminGet(`/api/webhooks/${fixtures.probe}/deliveries`)).data as Array<{ eventId: string; status: string }>;
      return eventIds.every((eventId) => data.some((delivery) => delivery.eventId === eventId && delivery.status === 'success'));
    },
    { message: `probe deliveries of ${eventIds.join(', ')}`, timeoutMs: 20_000 },
  );
}

const idsOf = (items: Array<{ id: string }>) => items.map((item) => item.id).sort();

// ---------------------------------------------------------------------------------------------
// The matrix

/** What one cell sends, and what it checks beyond the status. */
interface Prepared {
  method: string;
  path: string;
  body?: unknown;
  /** Checks a 2xx answer: the change happened, or the list holds exactly what is in reach. */
  onSuccess?(response: ApiResponse): Promise<void>;
  /** Runs after the cell whatever happened: removes throwaway targets. */
  cleanup?(): Promise<void>;
}

/**
 * Expected answers, as `status` or `403:field` (the field a 403 names; none for a role the
 * route is not for at all).
 */
type Expected = Record<RoleName, Record<string, string>>;

interface RouteEntry {
  /** Target name -> what it is. */
  targets: Record<string, string>;
  expected: Expected;
  prepare(role: RoleName, target: string): Promise<Prepared>;
}

/** The same answer for every target of a role. */
function row(targets: string[], status: string): Record<string, string> {
  return Object.fromEntries(targets.map((target) => [target, status]));
}

const WEBHOOK_TARGETS = {
  own: 'the project t1/p1 webhook',
  parent: 'the company t1 webhook',
  instance: 'the instance webhook',
  foreign: 'the project t2/p1 webhook',
  missing: 'a webhook that does not exist',
};
const WEBHOOK_TARGET_SCOPE: Record<string, FixtureName> = {
  own: 'project-t1-p1',
  parent: 'company-t1',
  instance: 'instance',
  foreign: 'project-t2-p1',
};
const WEBHOOK_TARGET_NAMES = Object.keys(WEBHOOK_TARGETS);

/** Expected answers of the routes on one webhook, given the success status. */
function webhookByIdExpected(ok: string): Expected {
  return {
    admin: { own: ok, parent: ok, instance: ok, foreign: ok, missing: '404' },
    company: { own: ok, parent: ok, instance: '404', foreign: '404', missing: '404' },
    project: { own: ok, parent: '404', instance: '404', foreign: '404', missing: '404' },
    publisher: row(WEBHOOK_TARGET_NAMES, '403'),
    'publisher-any': row(WEBHOOK_TARGET_NAMES, '403'),
  };
}

/** A fresh webhook for a target that a cell may change or delete (null for `missing`). */
async function freshWebhookFor(target: string): Promise<string | null> {
  if (target === 'missing') return null;
  return createWebhook(SCOPES[WEBHOOK_TARGET_SCOPE[target]]);
}

const WEBHOOK_LIST_TARGETS = { all: 'no filter', own: '?tenantId=t1', foreign: '?tenantId=t2' };
const POST_WEBHOOK_TARGETS = {
  own: 'tenantId t1, projectId p1',
  parent: 'tenantId t1 only',
  sibling: 'tenantId t1, projectId p2',
  foreign: 'tenantId t2, projectId p1',
  implicit: 'no tenantId or projectId',
};
const POST_WEBHOOK_BODY: Record<string, Partial<Scope>> = {
  own: { tenantId: 't1', projectId: 'p1' },
  parent: { tenantId: 't1' },
  sibling: { tenantId: 't1', projectId: 'p2' },
  foreign: { tenantId: 't2', projectId: 'p1' },
  implicit: {},
};
/** The scope a created webhook ends up in: what was asked, else the token's own reach. */
function scopeOfCreated(role: RoleName, asked: Partial<Scope>): Scope {
  const tenantId = asked.tenantId ?? (role === 'admin' ? null : 't1');
  const projectId = asked.projectId ?? (role === 'project' ? 'p1' : null);
  return { tenantId, projectId };
}

const DELIVERY_TARGETS = {
  ...WEBHOOK_TARGETS,
  crossed: 'the own webhook with a delivery of the foreign one',
};

const PUBLISH_TARGETS = {
  own: 'an event of t1/p1',
  foreign: 'an event of t2/p1',
  batch: 'a batch of a t1 event and a t2 event',
};
const serviceEvent = (tenantId: string) => ({
  eventName: 'service_created',
  payload: { tenantId, projectId: 'p1', serviceName: unique('svc') },
});

const TOKEN_TARGETS = {
  own: 'a project token of t1/p1',
  foreign: 'a company token of t2',
  'admin-token': 'an admin token',
  unlimited: 'a publisher token without a tenant',
};
const TOKEN_SPECS: Record<string, Record<string, unknown>> = {
  own: { role: 'project', tenantId: 't1', projectId: 'p1' },
  foreign: { role: 'company', tenantId: 't2' },
  'admin-token': { role: 'admin' },
  unlimited: { role: 'publisher' },
};
const TOKEN_DELETE_TARGETS = { ...TOKEN_TARGETS, missing: 'a token that does not exist' };

const ALL = { any: 'the route itself' };

const MATRIX: Record<string, RouteEntry> = {
  'GET /api/webhooks': {
    targets: WEBHOOK_LIST_TARGETS,
    expected: {
      admin: row(Object.keys(WEBHOOK_LIST_TARGETS), '200'),
      company: row(Object.keys(WEBHOOK_LIST_TARGETS), '200'),
      project: row(Object.keys(WEBHOOK_LIST_TARGETS), '200'),
      publisher: row(Object.keys(WEBHOOK_LIST_TARGETS), '403'),
      'publisher-any': row(Object.keys(WEBHOOK_LIST_TARGETS), '403'),
    },
    async prepare(role, target) {
      const filter = target === 'all' ? null : target === 'own' ? 't1' : 't2';
      return {
        method: 'GET',
        path: `/api/webhooks?limit=1000${filter ? `&tenantId=${filter}` : ''}`,
        async onSuccess(response) {
          const everything = (await adminGet('/api/webhooks?limit=1000')).data as Array<Scope & { id: string }>;
          const expected = everything.filter((hook) => roleReaches(role, hook) && (filter === null || hook.tenantId === filter));
          assert.deepEqual(idsOf(response.body.data), idsOf(expected));
          if (role !== 'admin' && target === 'foreign') assert.deepEqual(response.body.data, []);
          if (target !== 'foreign' || role === 'admin') assert.ok(response.body.data.length > 0, 'the list is empty');
        },
      };
    },
  },

  'POST /api/webhooks': {
    targets: POST_WEBHOOK_TARGETS,
    expected: {
      admin: row(Object.keys(POST_WEBHOOK_TARGETS), '201'),
      company: { own: '201', parent: '201', sibling: '201', foreign: '403:tenantId', implicit: '201' },
      // A project token that names only its tenant gets its own project, as with any left-out id.
      project: { own: '201', parent: '201', sibling: '403:projectId', foreign: '403:tenantId', implicit: '201' },
      publisher: row(Object.keys(POST_WEBHOOK_TARGETS), '403'),
      'publisher-any': row(Object.keys(POST_WEBHOOK_TARGETS), '403'),
    },
    async prepare(role, target) {
      const asked = POST_WEBHOOK_BODY[target];
      let createdId: string | null = null;
      return {
        method: 'POST',
        path: '/api/webhooks',
        body: { url: `${receiver.url}/created`, events: ['project_created'], secret: SECRET, active: false, ...asked },
        async onSuccess(response) {
          createdId = response.body.id;
          const expected = scopeOfCreated(role, asked);
          const stored = await adminGet(`/api/webhooks/${createdId}`);
          assert.deepEqual({ tenantId: stored.tenantId, projectId: stored.projectId }, expected);
          assert.deepEqual({ tenantId: response.body.tenantId, projectId: response.body.projectId }, expected);
          // The creator can read what it created.
          assert.equal((await clients[role].get(`/api/webhooks/${createdId}`)).status, 200);
        },
        async cleanup() {
          if (createdId) await removeWebhook(createdId);
        },
      };
    },
  },

  'GET /api/webhooks/:id': {
    targets: WEBHOOK_TARGETS,
    expected: webhookByIdExpected('200'),
    async prepare(_role, target) {
      const id = target === 'missing' ? MISSING_WEBHOOK : fixtures.webhooks[WEBHOOK_TARGET_SCOPE[target]];
      return {
        method: 'GET',
        path: `/api/webhooks/${id}`,
        async onSuccess(response) {
          assert.deepEqual(response.body, await adminGet(`/api/webhooks/${id}`));
        },
      };
    },
  },

  'PATCH /api/webhooks/:id': {
    targets: { ...WEBHOOK_TARGETS, 'move-out': 'the project t1/p1 webhook, moved to t2/p1' },
    expected: (() => {
      const expected = webhookByIdExpected('200');
      expected.admin['move-out'] = '200';
      expected.company['move-out'] = '403:tenantId';
      expected.project['move-out'] = '403:tenantId';
      expected.publisher['move-out'] = '403';
      expected['publisher-any']['move-out'] = '403';
      return expected;
    })(),
    async prepare(_role, target) {
      const id = await freshWebhookFor(target === 'move-out' ? 'own' : target);
      const name = unique('patched');
      const body = target === 'move-out' ? { tenantId: 't2', projectId: 'p1' } : { name };
      return {
        method: 'PATCH',
        path: `/api/webhooks/${id ?? MISSING_WEBHOOK}`,
        body,
        async onSuccess(response) {
          const stored = await adminGet(`/api/webhooks/${id}`);
          if (target === 'move-out') {
            assert.deepEqual([stored.tenantId, stored.projectId], ['t2', 'p1']);
          } else {
            assert.equal(stored.name, name);
          }
          assert.deepEqual(response.body, stored);
        },
        async cleanup() {
          if (id) await removeWebhook(id);
        },
      };
    },
  },

  'DELETE /api/webhooks/:id': {
    targets: WEBHOOK_TARGETS,
    expected: webhookByIdExpected('204'),
    async prepare(_role, target) {
      const id = await freshWebhookFor(target);
      return {
        method: 'DELETE',
        path: `/api/webhooks/${id ?? MISSING_WEBHOOK}`,
        async onSuccess(response) {
          assert.equal(response.body, null);
          assert.equal((await herald.get(`/api/webhooks/${id}`)).status, 404, 'the webhook is still there');
        },
        async cleanup() {
          if (id) await removeWebhook(id);
        },
      };
    },
  },

  'GET /api/webhooks/:id/deliveries': {
    targets: WEBHOOK_TARGETS,
    expected: webhookByIdExpected('200'),
    async prepare(_role, target) {
      const id = target === 'missing' ? MISSING_WEBHOOK : fixtures.webhooks[WEBHOOK_TARGET_SCOPE[target]];
      return {
        method: 'GET',
        path: `/api/webhooks/${id}/deliveries`,
        async onSuccess(response) {
          assert.ok(response.body.data.length > 0, 'no deliveries listed');
          assert.deepEqual(response.body.data, (await adminGet(`/api/webhooks/${id}/deliveries`)).data);
        },
      };
    },
  },

  'GET /api/webhooks/:id/deliveries/:deliveryId': {
    targets: DELIVERY_TARGETS,
    expected: (() => {
      const expected = webhookByIdExpected('200');
      // A delivery is found only under its own webhook, whoever asks.
      expected.admin.crossed = '404';
      expected.company.crossed = '404';
      expected.project.crossed = '404';
      expected.publisher.crossed = '403';
      expected['publisher-any'].crossed = '403';
      return expected;
    })(),
    async prepare(_role, target) {
      let path: string;
      if (target === 'missing') path = `/api/webhooks/${MISSING_WEBHOOK}/deliveries/${MISSING_DELIVERY}`;
      else if (target === 'crossed') {
        path = `/api/webhooks/${fixtures.webhooks['project-t1-p1']}/deliveries/${fixtures.deliveries['project-t2-p1']}`;
      } else {
        const scope = WEBHOOK_TARGET_SCOPE[target];
        path = `/api/webhooks/${fixtures.webhooks[scope]}/deliveries/${fixtures.deliveries[scope]}`;
      }
      return {
        method: 'GET',
        path,
        async onSuccess(response) {
          assert.deepEqual(response.body, await adminGet(path));
          assert.equal(response.body.id, fixtures.deliveries[WEBHOOK_TARGET_SCOPE[target]]);
        },
      };
    },
  },

  'POST /api/webhooks/:id/test': {
    targets: WEBHOOK_TARGETS,
    expected: webhookByIdExpected('202'),
    async prepare(_role, target) {
      // A fresh, inactive webhook: the test delivery waits in its history and changes nothing.
      const id = await freshWebhookFor(target);
      return {
        method: 'POST',
        path: `/api/webhooks/${id ?? MISSING_WEBHOOK}/test`,
        body: {},
        async onSuccess(response) {
          const data = (await adminGet(`/api/webhooks/${id}/deliveries`)).data as Array<{ id: string; status: string }>;
          assert.deepEqual(data.map((item) => [item.id, item.status]), [[response.body.deliveryId, 'pending']]);
        },
        async cleanup() {
          if (id) await removeWebhook(id);
        },
      };
    },
  },

  'POST /api/webhooks/:id/deliveries/:deliveryId/resend': {
    targets: DELIVERY_TARGETS,
    expected: (() => {
      const expected = webhookByIdExpected('202');
      expected.admin.crossed = '404';
      expected.company.crossed = '404';
      expected.project.crossed = '404';
      expected.publisher.crossed = '403';
      expected['publisher-any'].crossed = '403';
      return expected;
    })(),
    async prepare(_role, target) {
      let path: string;
      let webhookId = '';
      if (target === 'missing') path = `/api/webhooks/${MISSING_WEBHOOK}/deliveries/${MISSING_DELIVERY}/resend`;
      else if (target === 'crossed') {
        path = `/api/webhooks/${fixtures.webhooks['project-t1-p1']}/deliveries/${fixtures.deliveries['project-t2-p1']}/resend`;
      } else {
        const scope = WEBHOOK_TARGET_SCOPE[target];
        webhookId = fixtures.webhooks[scope];
        path = `/api/webhooks/${webhookId}/deliveries/${fixtures.deliveries[scope]}/resend`;
      }
      return {
        method: 'POST',
        path,
        async onSuccess(response) {
          const source = fixtures.deliveries[WEBHOOK_TARGET_SCOPE[target]];
          // Settled before the next cell, so no delivery changes state under its checks.
          await waitUntil(
            async () => {
              const data = (await adminGet(`/api/webhooks/${webhookId}/deliveries`)).data as Array<{
                id: string;
                status: string;
                resentFrom: string | null;
              }>;
              return data.some((item) => item.id === response.body.deliveryId && item.resentFrom === source && item.status === 'success');
            },
            { message: `the resent delivery ${response.body.deliveryId}`, timeoutMs: 20_000 },
          );
        },
      };
    },
  },

  'POST /api/webhooks/:id/resend-failed': {
    targets: WEBHOOK_TARGETS,
    expected: webhookByIdExpected('202'),
    async prepare(_role, target) {
      const id = target === 'missing' ? MISSING_WEBHOOK : fixtures.webhooks[WEBHOOK_TARGET_SCOPE[target]];
      return {
        method: 'POST',
        path: `/api/webhooks/${id}/resend-failed`,
        body: { since: new Date(0).toISOString() },
        async onSuccess(response) {
          // The fixture webhooks' deliveries all succeeded: nothing to queue again.
          assert.deepEqual(response.body, { deliveries: 0 });
        },
      };
    },
  },

  'GET /api/event-types': {
    targets: ALL,
    expected: {
      admin: { any: '200' },
      company: { any: '200' },
      project: { any: '200' },
      publisher: { any: '200' },
      'publisher-any': { any: '200' },
    },
    async prepare() {
      return {
        method: 'GET',
        path: '/api/event-types',
        async onSuccess(response) {
          assert.deepEqual(response.body, await adminGet('/api/event-types'));
          assert.ok(response.body.data.some((type: { name: string }) => type.name === 'project_created'));
        },
      };
    },
  },

  'GET /api/me': {
    targets: ALL,
    expected: {
      admin: { any: '200' },
      company: { any: '200' },
      project: { any: '200' },
      publisher: { any: '200' },
      'publisher-any': { any: '200' },
    },
    async prepare(role) {
      return {
        method: 'GET',
        path: '/api/me',
        async onSuccess(response) {
          const spec = ROLE_SPECS[role];
          assert.deepEqual(response.body, {
            role: spec.role,
            tenantId: spec.tenantId ?? null,
            projectId: spec.projectId ?? null,
            tokenId: tokenIds[role],
          });
        },
      };
    },
  },

  'POST /api/event-types': {
    targets: ALL,
    expected: {
      admin: { any: '201' },
      company: { any: '403' },
      project: { any: '403' },
      publisher: { any: '403' },
      'publisher-any': { any: '403' },
    },
    async prepare() {
      const name = unique('matrix_type');
      return {
        method: 'POST',
        path: '/api/event-types',
        body: { name, description: 'made by the access matrix' },
        async onSuccess(response) {
          assert.equal(response.body.name, name);
          const types = (await adminGet('/api/event-types')).data as Array<{ name: string }>;
          assert.ok(types.some((type) => type.name === name), 'the event type is not in the catalog');
        },
      };
    },
  },

  'POST /api/events': {
    targets: PUBLISH_TARGETS,
    expected: {
      admin: row(Object.keys(PUBLISH_TARGETS), '202'),
      company: row(Object.keys(PUBLISH_TARGETS), '403'),
      project: row(Object.keys(PUBLISH_TARGETS), '403'),
      publisher: { own: '202', foreign: '403:payload', batch: '403:events[1].payload' },
      'publisher-any': row(Object.keys(PUBLISH_TARGETS), '202'),
    },
    async prepare(_role, target) {
      const body =
        target === 'batch'
          ? { events: [serviceEvent('t1'), serviceEvent('t2')] }
          : serviceEvent(target === 'own' ? 't1' : 't2');
      return {
        method: 'POST',
        path: '/api/events',
        body,
        async onSuccess(response) {
          const events = (target === 'batch' ? response.body.events : [response.body]) as Array<{ id: string; deliveries: number }>;
          assert.equal(events.length, target === 'batch' ? 2 : 1);
          for (const event of events) assert.equal(event.deliveries, 1, 'the probe webhook should get the event');
          // Settled before the next cell, so no delivery changes state under its checks.
          await waitForProbeDeliveries(events.map((event) => event.id));
        },
      };
    },
  },

  'POST /api/tokens': {
    targets: TOKEN_TARGETS,
    expected: {
      admin: row(Object.keys(TOKEN_TARGETS), '201'),
      company: { own: '201', foreign: '403:tenantId', 'admin-token': '403:role', unlimited: '403:tenantId' },
      project: row(Object.keys(TOKEN_TARGETS), '403'),
      publisher: row(Object.keys(TOKEN_TARGETS), '403'),
      'publisher-any': row(Object.keys(TOKEN_TARGETS), '403'),
    },
    async prepare(_role, target) {
      const name = unique('matrix-token');
      return {
        method: 'POST',
        path: '/api/tokens',
        body: { ...TOKEN_SPECS[target], name },
        async onSuccess(response) {
          const { token, ...view } = response.body;
          assert.match(token, /^hrld_/);
          const listed = ((await adminGet('/api/tokens')).data as Array<{ id: string }>).find((item) => item.id === view.id);
          assert.deepEqual(listed, view);
          assert.equal(view.name, name);
          assert.equal(view.role, TOKEN_SPECS[target].role);
          // The new token works (every role may read the catalog).
          assert.equal((await apiClient(herald.url, token).get('/api/event-types')).status, 200);
        },
      };
    },
  },

  'GET /api/tokens': {
    targets: ALL,
    expected: {
      admin: { any: '200' },
      company: { any: '200' },
      project: { any: '403' },
      publisher: { any: '403' },
      'publisher-any': { any: '403' },
    },
    async prepare(role) {
      return {
        method: 'GET',
        path: '/api/tokens',
        async onSuccess(response) {
          const everything = (await adminGet('/api/tokens')).data as Array<{ id: string; role: string; tenantId: string | null }>;
          const expected = role === 'admin' ? everything : everything.filter((item) => item.tenantId === 't1' && item.role !== 'admin');
          assert.deepEqual(idsOf(response.body.data), idsOf(expected));
          assert.ok(response.body.data.length > 0);
          assert.ok(response.body.data.every((item: Record<string, unknown>) => !('token' in item)), 'a listed token carries its text');
        },
      };
    },
  },

  'DELETE /api/tokens/:id': {
    targets: TOKEN_DELETE_TARGETS,
    expected: {
      admin: { own: '204', foreign: '204', 'admin-token': '204', unlimited: '204', missing: '404' },
      company: { own: '204', foreign: '404', 'admin-token': '404', unlimited: '404', missing: '404' },
      project: row(Object.keys(TOKEN_DELETE_TARGETS), '403'),
      publisher: row(Object.keys(TOKEN_DELETE_TARGETS), '403'),
      'publisher-any': row(Object.keys(TOKEN_DELETE_TARGETS), '403'),
    },
    async prepare(_role, target) {
      const victim = target === 'missing' ? null : await createToken({ ...TOKEN_SPECS[target], name: unique('victim') });
      const victimWorks = async () => (await apiClient(herald.url, victim!.token).get('/api/event-types')).status;
      return {
        method: 'DELETE',
        path: `/api/tokens/${victim?.id ?? MISSING_TOKEN}`,
        async onSuccess(response) {
          assert.equal(response.body, null);
          const listed = ((await adminGet('/api/tokens')).data as Array<{ id: string; revokedAt: string | null; active: boolean }>).find(
            (item) => item.id === victim!.id,
          );
          assert.ok(listed?.revokedAt, 'the token is not marked revoked');
          assert.equal(listed.active, false);
          assert.equal(await victimWorks(), 401);
        },
        async cleanup() {
          if (victim) {
            // A refused revocation leaves the token working.
            const revoked = ((await adminGet('/api/tokens')).data as Array<{ id: string; revokedAt: string | null }>).find(
              (item) => item.id === victim.id,
            )!.revokedAt;
            if (revoked === null) assert.equal(await victimWorks(), 200);
          }
        },
      };
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Coverage of the route table

/** Every route under /api, read from the router itself. */
function apiRoutes(): string[] {
  const tree = herald.herald.api!.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1].length / 4;
    prefixes.length = depth;
    const path = (prefixes[depth - 1] ?? '') + match[2];
    prefixes[depth] = path;
    for (const method of match[3].split(',').map((m) => m.trim())) {
      if (path.startsWith('/api/') && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes.sort();
}

describe('the access matrix covers the route table', () => {
  test('the route table was read', () => {
    assert.ok(ROUTES.length >= 10, `only ${ROUTES.length} routes read:\n${ROUTES.join('\n')}`);
  });

  test('every /api route has an entry in the matrix', () => {
    const missing = ROUTES.filter((route) => !(route in MATRIX));
    assert.deepEqual(missing, [], `routes without an access-matrix entry: ${missing.join(', ')}`);
  });

  test('every entry of the matrix is a route', () => {
    const stale = Object.keys(MATRIX).filter((route) => !ROUTES.includes(route));
    assert.deepEqual(stale, [], `matrix entries for routes that do not exist: ${stale.join(', ')}`);
  });

  test('every entry names an expectation for every role and target', () => {
    for (const [route, entry] of Object.entries(MATRIX)) {
      for (const role of ROLE_NAMES) {
        assert.deepEqual(Object.keys(entry.expected[role]).sort(), Object.keys(entry.targets).sort(), `${route}, ${role}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// One test per route, role and target

function parseExpected(text: string): { status: number; field: string | undefined } {
  const [status, field] = text.split(':');
  return { status: Number(status), field };
}

const ERROR_FOR_STATUS: Record<number, string> = { 403: 'forbidden', 404: 'not_found' };

async function send(role: RoleName, prepared: Prepared): Promise<ApiResponse> {
  return clients[role].request(prepared.method, prepared.path, prepared.body);
}

async function runCell(entry: RouteEntry, role: RoleName, target: string): Promise<void> {
  const expected = parseExpected(entry.expected[role][target]);
  const prepared = await entry.prepare(role, target);
  try {
    const before = expected.status >= 400 ? await snapshot() : null;
    const response = await send(role, prepared);
    const text = JSON.stringify(response.body);
    assert.equal(response.status, expected.status, text);
    if (expected.status < 400) {
      await prepared.onSuccess?.(response);
      return;
    }
    assert.equal(response.body.error, ERROR_FOR_STATUS[expected.status], text);
    assert.equal(typeof response.body.message, 'string', text);
    assert.equal(response.body.field, expected.field, text);
    assert.deepEqual(await snapshot(), before, 'a refused request changed what is stored');
    if (expected.status === 404 && target !== 'missing' && target !== 'crossed' && 'missing' in entry.targets) {
      // Out of reach reads exactly like not there.
      const twin = await entry.prepare(role, 'missing');
      try {
        const missing = await send(role, twin);
        assert.equal(missing.status, 404);
        assert.deepEqual(response.body, missing.body, 'a 404 out of reach differs from a 404 on nothing');
      } finally {
        await twin.cleanup?.();
      }
    }
  } finally {
    await prepared.cleanup?.();
  }
}

for (const route of ROUTES) {
  const entry = MATRIX[route];
  if (!entry) continue; // reported by the coverage test above
  describe(route, () => {
    for (const role of ROLE_NAMES) {
      for (const [target, description] of Object.entries(entry.targets)) {
        const expected = entry.expected[role]?.[target] ?? '(no expectation)';
        test(`${role} token, ${target} (${description}) -> ${expected}`, () => runCell(entry, role, target));
      }
    }
  });
}
