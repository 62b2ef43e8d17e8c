import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { createTestPki, removeDir, startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, TestPki } from '../support/index.js';
import { TEST_ADMIN_TOKEN, startTestHerald } from '../support/herald.js';
import type { ApiResponse, TestHerald } from '../support/herald.js';

/**
 * Every field of every route, given something it must refuse: the answer is a 4xx with a code
 * from the error catalogue and the field named, and nothing is stored on the way.
 */

interface BadInput {
  name: string;
  body: unknown;
  /** Defaults to 400. */
  status?: number;
  /** Defaults to validation_failed. */
  error?: string;
  /** The field the answer must name; undefined for faults of the request as a whole. */
  field: string | undefined;
  headers?: Record<string, string>;
}

interface BadQuery {
  name: string;
  query: string;
  field: string;
}

const STABLE_CODES = new Set(Object.keys(ERROR_CATALOGUE));
const SECRET = 'a-valid-secret-123';
const GOOD_WEBHOOK = { url: 'https://hooks.example.com/in', events: ['project_created'], secret: SECRET };
const GOOD_EVENT = { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } };
const LEGACY = { target: 'https://hooks.example.com/cms', eventName: 'project_created', secret: SECRET };
const CUSTOM_TYPE = 'invoice_paid';

let herald: TestHerald;
let receiver: Receiver;
let pki: TestPki;
/** Hears every event of the catalog, so any stored event shows up in its delivery count. */
let listenerId: string;
/** A project webhook (t1/p1) for the PATCH cases; inactive, so it never takes deliveries. */
let projectHookId: string;
/** An instance webhook for the PATCH cases that need no tenant; inactive as well. */
let instanceHookId: string;

before(async () => {
  pki = createTestPki();
  receiver = await startReceiver();
  herald = await startTestHerald();
  const types = await herald.get('/api/event-types');
  const listener = await herald.post('/api/webhooks', {
    url: `${receiver.url}/all`,
    events: types.body.data.map((type: { name: string }) => type.name),
    secret: SECRET,
  });
  assert.equal(listener.status, 201, JSON.stringify(listener.body));
  listenerId = listener.body.id;
  const projectHook = await herald.post('/api/webhooks', { ...GOOD_WEBHOOK, active: false, tenantId: 't1', projectId: 'p1' });
  assert.equal(projectHook.status, 201, JSON.stringify(projectHook.body));
  projectHookId = projectHook.body.id;
  const instanceHook = await herald.post('/api/webhooks', { ...GOOD_WEBHOOK, active: false });
  assert.equal(instanceHook.status, 201, JSON.stringify(instanceHook.body));
  instanceHookId = instanceHook.body.id;
  const custom = await herald.post('/api/event-types', { name: CUSTOM_TYPE });
  assert.equal(custom.status, 201, JSON.stringify(custom.body));
});

after(async () => {
  await herald?.stop({ removeData: true });
  await receiver?.close();
  if (pki) removeDir(pki.dir);
});

/** What a refused request must leave untouched: webhooks, event types and deliveries. */
async function storedState() {
  const webhooks = await herald.get('/api/webhooks?limit=1000');
  const types = await herald.get('/api/event-types');
  const deliveries = await herald.get(`/api/webhooks/${listenerId}/deliveries`);
  assert.equal(webhooks.status, 200);
  assert.equal(types.status, 200);
  assert.equal(deliveries.status, 200);
  return { webhooks: webhooks.body.data, eventTypes: types.body.data, deliveries: deliveries.body.data.length };
}

function assertRefused(response: ApiResponse, expected: { status: number; error: string; field: string | undefined }) {
  const text = JSON.stringify(response.body);
  assert.equal(response.status, expected.status, text);
  assert.ok(STABLE_CODES.has(response.body?.error), `not a catalogued error code: ${text}`);
  assert.equal(response.body.error, expected.error, text);
  assert.equal(response.body.field, expected.field, text);
  assert.equal(typeof response.body.message, 'string');
  assert.ok(response.body.message.length > 0);
  const extra = Object.keys(response.body).filter((key) => !['error', 'message', 'field'].includes(key));
  assert.deepEqual(extra, [], `unexpected keys in the error body: ${text}`);
}

/** Sends a bad request and checks the refusal, and that nothing changed because of it. */
async function expectRefused(send: () => Promise<ApiResponse>, expected: { status: number; error: string; field: string | undefined }) {
  const before = await storedState();
  const response = await send();
  assertRefused(response, expected);
  // The secrets of this file never come back, not even inside an error message.
  assert.ok(!JSON.stringify(response.body).includes(SECRET), 'the error echoes a secret');
  assert.deepEqual(await storedState(), before, 'a refused request changed what is stored');
  return response;
}

function runBodyCases(cases: BadInput[], method: string, route: () => string) {
  for (const input of cases) {
    test(input.name, async () => {
      await expectRefused(() => herald.request(method, route(), input.body, input.headers), {
        status: input.status ?? 400,
        error: input.error ?? 'validation_failed',
        field: input.field,
      });
    });
  }
}

function runQueryCases(cases: BadQuery[], route: () => string) {
  for (const input of cases) {
    test(input.name, async () => {
      await expectRefused(() => herald.get(`${route()}?${input.query}`), {
        status: 400,
        error: 'validation_failed',
        field: input.field,
      });
    });
  }
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const GARBAGE_PEM = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n';

/** Cases that hold for a field whether it is given on creation or in a PATCH. */
function fieldCases(withBase: (fields: Record<string, unknown>) => Record<string, unknown>): BadInput[] {
  return [
    { name: 'url with ftp scheme', body: withBase({ url: 'ftp://files.example.com/in' }), field: 'url' },
    { name: 'url with file scheme', body: withBase({ url: 'file:///etc/passwd' }), field: 'url' },
    { name: 'url that does not parse', body: withBase({ url: 'not a url' }), field: 'url' },
    { name: 'relative url', body: withBase({ url: '/hooks/in' }), field: 'url' },
    { name: 'url with credentials', body: withBase({ url: 'https://user:pass@hooks.example.com/in' }), field: 'url' },
    { name: 'url empty', body: withBase({ url: '' }), field: 'url' },
    { name: 'url too long', body: withBase({ url: `https://hooks.example.com/${'a'.repeat(2048)}` }), field: 'url' },
    { name: 'url not a string', body: withBase({ url: 42 }), field: 'url' },
    { name: 'url null', body: withBase({ url: null }), field: 'url' },
    { name: 'events empty', body: withBase({ events: [] }), field: 'events' },
    { name: 'events not an array', body: withBase({ events: 'project_created' }), field: 'events' },
    { name: 'events with a non-string', body: withBase({ events: [7] }), field: 'events[0]' },
    { name: 'events with an empty name', body: withBase({ events: [''] }), field: 'events[0]' },
    {
      name: 'events with an unknown name',
      body: withBase({ events: ['no_such_event'] }),
      error: 'unknown_event_type',
      field: 'events[0]',
    },
    {
      name: 'events with an unknown name after a known one',
      body: withBase({ events: ['project_created', 'no_such_event'] }),
      error: 'unknown_event_type',
      field: 'events[1]',
    },
    {
      name: 'events over the limit',
      body: withBase({ events: Array.from({ length: 101 }, () => 'project_created') }),
      field: 'events',
    },
    { name: 'secret too short', body: withBase({ secret: 'short' }), field: 'secret' },
    { name: 'secret not a string', body: withBase({ secret: 12345678 }), field: 'secret' },
    { name: 'secret too long', body: withBase({ secret: 's'.repeat(1025) }), field: 'secret' },
    { name: 'name empty', body: withBase({ name: '' }), field: 'name' },
    { name: 'name not a string', body: withBase({ name: 5 }), field: 'name' },
    { name: 'name too long', body: withBase({ name: 'n'.repeat(201) }), field: 'name' },
    { name: 'tenantId not a string', body: withBase({ tenantId: 5 }), field: 'tenantId' },
    { name: 'tenantId too long', body: withBase({ tenantId: 't'.repeat(129) }), field: 'tenantId' },
    { name: 'projectId not a string', body: withBase({ tenantId: 't1', projectId: ['p1'] }), field: 'projectId' },
    { name: 'method not allowed', body: withBase({ method: 'GET' }), field: 'method' },
    { name: 'method in lower case', body: withBase({ method: 'post' }), field: 'method' },
    { name: 'contentType garbage', body: withBase({ contentType: 'garbage' }), field: 'contentType' },
    { name: 'contentType with spaces', body: withBase({ contentType: 'application json' }), field: 'contentType' },
    { name: 'contentType not a string', body: withBase({ contentType: true }), field: 'contentType' },
    { name: 'maxAttempts 0', body: withBase({ maxAttempts: 0 }), field: 'maxAttempts' },
    { name: 'maxAttempts 21', body: withBase({ maxAttempts: 21 }), field: 'maxAttempts' },
    { name: 'maxAttempts 1.5', body: withBase({ maxAttempts: 1.5 }), field: 'maxAttempts' },
    { name: 'maxAttempts as a string', body: withBase({ maxAttempts: '5' }), field: 'maxAttempts' },
    { name: 'active as "yes"', body: withBase({ active: 'yes' }), field: 'active' },
    { name: 'active as 1', body: withBase({ active: 1 }), field: 'active' },
    { name: 'base64CA not base64 PEM', body: withBase({ base64CA: '%%% not base64 %%%' }), field: 'base64CA' },
    { name: 'base64CA base64 of plain text', body: withBase({ base64CA: base64('hello world') }), field: 'base64CA' },
    { name: 'base64CA a PEM of garbage', body: withBase({ base64CA: base64(GARBAGE_PEM) }), field: 'base64CA' },
    { name: 'base64CA a raw PEM of garbage', body: withBase({ base64CA: GARBAGE_PEM }), field: 'base64CA' },
    { name: 'base64CA a private key', body: withBase({ base64CA: base64(pki.keyPem) }), field: 'base64CA' },
    { name: 'base64CA not a string', body: withBase({ base64CA: 1 }), field: 'base64CA' },
    { name: 'proxy.url with ftp scheme', body: withBase({ proxy: { url: 'ftp://proxy.example.com:21' } }), field: 'proxy.url' },
    { name: 'proxy.url that does not parse', body: withBase({ proxy: { url: 'proxy here' } }), field: 'proxy.url' },
    {
      name: 'proxy.url with a path',
      body: withBase({ proxy: { url: 'http://proxy.example.com:3128/some/path' } }),
      field: 'proxy.url',
    },
    {
      name: 'proxy.url with a query',
      body: withBase({ proxy: { url: 'http://proxy.example.com:3128/?x=1' } }),
      field: 'proxy.url',
    },
    { name: 'proxy.url missing', body: withBase({ proxy: {} }), field: 'proxy.url' },
    { name: 'proxy.url empty', body: withBase({ proxy: { url: '' } }), field: 'proxy.url' },
    { name: 'proxy not an object', body: withBase({ proxy: 'http://proxy.example.com:3128' }), field: 'proxy' },
    {
      name: 'proxy with an unknown key',
      body: withBase({ proxy: { url: 'http://proxy.example.com:3128', user: 'x' } }),
      field: 'proxy.user',
    },
    {
      name: 'flat proxy.url with ftp scheme',
      body: withBase({ 'proxy.url': 'ftp://proxy.example.com:21' }),
      field: 'proxy.url',
    },
    {
      name: 'flat proxy.url with a path',
      body: withBase({ 'proxy.url': 'http://proxy.example.com:3128/path' }),
      field: 'proxy.url',
    },
    {
      name: 'proxy and flat proxy.url both',
      body: withBase({ proxy: { url: 'http://a.example.com:3128' }, 'proxy.url': 'http://b.example.com:3128' }),
      field: 'proxy.url',
    },
    { name: 'unknown extra field', body: withBase({ colour: 'red' }), field: 'colour' },
    { name: 'read-only id', body: withBase({ id: 'wh_mine' }), field: 'id' },
    { name: 'read-only hasSecret', body: withBase({ hasSecret: false }), field: 'hasSecret' },
  ];
}

describe('POST /api/webhooks refuses', () => {
  const withBase = (fields: Record<string, unknown>) => ({ ...GOOD_WEBHOOK, ...fields });
  const cases: BadInput[] = [
    { name: 'missing url', body: { events: ['project_created'], secret: SECRET }, field: 'url' },
    { name: 'missing events', body: { url: GOOD_WEBHOOK.url, secret: SECRET }, field: 'events' },
    ...fieldCases(withBase),
    { name: 'projectId without tenantId', body: withBase({ projectId: 'p1' }), field: 'projectId' },
    // PostgreSQL's text cannot hold NUL: refused on every store alike, naming where it is.
    { name: 'a name holding a NUL character', body: withBase({ name: 'a\u0000b' }), field: 'name' },
    { name: 'an event name holding a NUL character', body: withBase({ events: ['project_created', 'x\u0000'] }), field: 'events[1]' },
    { name: 'projectId with a null tenantId', body: withBase({ tenantId: null, projectId: 'p1' }), field: 'projectId' },
    { name: 'tenantId empty in the current shape', body: withBase({ tenantId: '' }), field: 'tenantId' },
    { name: 'projectId empty in the current shape', body: withBase({ tenantId: 't1', projectId: '' }), field: 'projectId' },
    // The older CMS shape, and mixes of the two shapes.
    { name: 'target and url both', body: { ...LEGACY, url: GOOD_WEBHOOK.url }, field: 'target' },
    { name: 'eventName and events both', body: { ...GOOD_WEBHOOK, eventName: 'project_created' }, field: 'eventName' },
    { name: 'legacy without target', body: { eventName: 'project_created', secret: SECRET }, field: 'target' },
    { name: 'legacy without eventName', body: { target: LEGACY.target, secret: SECRET }, field: 'eventName' },
    { name: 'legacy target with ftp scheme', body: { ...LEGACY, target: 'ftp://files.example.com/' }, field: 'target' },
    { name: 'legacy target that does not parse', body: { ...LEGACY, target: 'nope' }, field: 'target' },
    { name: 'legacy target not a string', body: { ...LEGACY, target: 1 }, field: 'target' },
    {
      name: 'legacy eventName unknown',
      body: { ...LEGACY, eventName: 'no_such_event' },
      error: 'unknown_event_type',
      field: 'eventName',
    },
    { name: 'legacy eventName not a string', body: { ...LEGACY, eventName: ['project_created'] }, field: 'eventName' },
    { name: 'legacy eventName empty', body: { ...LEGACY, eventName: '' }, field: 'eventName' },
    {
      name: 'legacy projectId with an empty tenantId',
      body: { ...LEGACY, tenantId: '', projectId: 'p1' },
      field: 'projectId',
    },
    { name: 'legacy secret too short', body: { ...LEGACY, secret: 'short' }, field: 'secret' },
    { name: 'legacy base64CA garbage', body: { ...LEGACY, base64CA: base64(GARBAGE_PEM) }, field: 'base64CA' },
    { name: 'legacy proxy.url with a path', body: { ...LEGACY, 'proxy.url': 'http://p.example.com:3128/x' }, field: 'proxy.url' },
    { name: 'a JSON array', body: [GOOD_WEBHOOK], field: undefined },
    { name: 'JSON null', body: 'null', field: undefined },
    { name: 'a JSON string', body: '"https://hooks.example.com"', field: undefined },
  ];
  runBodyCases(cases, 'POST', () => '/api/webhooks');
});

describe('PATCH /api/webhooks/:id refuses', () => {
  describe('on a project webhook', () => {
    const cases: BadInput[] = [
      { name: 'an empty body', body: {}, field: undefined },
      ...fieldCases((fields) => fields),
      { name: 'tenantId removed under a project', body: { tenantId: null }, field: 'projectId' },
      { name: 'tenantId emptied', body: { tenantId: '' }, field: 'tenantId' },
      { name: 'projectId emptied', body: { projectId: '' }, field: 'projectId' },
      { name: 'legacy target', body: { target: 'https://hooks.example.com/cms' }, field: 'target' },
      { name: 'legacy eventName', body: { eventName: 'project_created' }, field: 'eventName' },
      { name: 'a JSON array', body: [{ active: false }], field: undefined },
    ];
    runBodyCases(cases, 'PATCH', () => `/api/webhooks/${projectHookId}`);
  });

  describe('on an instance webhook', () => {
    const cases: BadInput[] = [
      { name: 'projectId without a tenantId', body: { projectId: 'p1' }, field: 'projectId' },
      { name: 'projectId with a null tenantId', body: { tenantId: null, projectId: 'p1' }, field: 'projectId' },
    ];
    runBodyCases(cases, 'PATCH', () => `/api/webhooks/${instanceHookId}`);
  });

  test('an unknown id with a valid body', async () => {
    await expectRefused(() => herald.patch('/api/webhooks/wh_0000000000unknown', { active: false }), {
      status: 404,
      error: 'not_found',
      field: undefined,
    });
  });
});

describe('webhook ids in the path', () => {
  for (const method of ['GET', 'DELETE']) {
    test(`${method} of an unknown id is 404`, async () => {
      await expectRefused(() => herald.request(method, '/api/webhooks/wh_0000000000unknown'), {
        status: 404,
        error: 'not_found',
        field: undefined,
      });
    });
  }

  test('an id longer than any id is refused with a catalogued code', async () => {
    const response = await expectRefused(() => herald.get(`/api/webhooks/${'x'.repeat(300)}`), {
      status: 400,
      error: 'validation_failed',
      field: undefined,
    });
    assert.match(response.body.message, /URL/);
  });
});

describe('GET /api/webhooks refuses', () => {
  const cases: BadQuery[] = [
    { name: 'an unknown scope', query: 'scope=global', field: 'scope' },
    { name: 'limit not a number', query: 'limit=ten', field: 'limit' },
    { name: 'limit 0', query: 'limit=0', field: 'limit' },
    { name: 'limit negative', query: 'limit=-1', field: 'limit' },
    { name: 'limit over the maximum', query: 'limit=1001', field: 'limit' },
    { name: 'limit far over the maximum', query: 'limit=100000', field: 'limit' },
    { name: 'limit fractional', query: 'limit=1.5', field: 'limit' },
    { name: 'an empty tenantId', query: 'tenantId=', field: 'tenantId' },
    { name: 'an empty projectId', query: 'projectId=', field: 'projectId' },
    { name: 'an empty event', query: 'event=', field: 'event' },
    { name: 'an empty cursor', query: 'after=', field: 'after' },
    { name: 'an unknown parameter', query: 'sort=name', field: 'sort' },
    { name: 'a tenantId holding a NUL character', query: 'tenantId=t%001', field: 'tenantId' },
  ];
  runQueryCases(cases, () => '/api/webhooks');
});

describe('GET /api/webhooks/:id/deliveries refuses', () => {
  const cases: BadQuery[] = [
    { name: 'an unknown sort', query: 'sort=up', field: 'sort' },
    { name: 'an unknown status', query: 'status=ok', field: 'status' },
    { name: 'statusCode not a number', query: 'statusCode=abc', field: 'statusCode' },
    { name: 'statusCode too high', query: 'statusCode=600', field: 'statusCode' },
    { name: 'statusCode too short', query: 'statusCode=20', field: 'statusCode' },
    { name: 'statusCode with letters', query: 'statusCode=2xx', field: 'statusCode' },
    { name: 'an empty eventName', query: 'eventName=', field: 'eventName' },
    { name: 'an unknown parameter', query: 'page=2', field: 'page' },
  ];
  runQueryCases(cases, () => `/api/webhooks/${listenerId}/deliveries`);

  test('an unknown webhook is 404', async () => {
    await expectRefused(() => herald.get('/api/webhooks/wh_0000000000unknown/deliveries'), {
      status: 404,
      error: 'not_found',
      field: undefined,
    });
  });

  test('an unknown delivery is 404', async () => {
    await expectRefused(() => herald.get(`/api/webhooks/${listenerId}/deliveries/dlv_0000000000unknown`), {
      status: 404,
      error: 'not_found',
      field: undefined,
    });
  });
});

describe('POST /api/events refuses', () => {
  const event = (fields: Record<string, unknown>) => ({ ...GOOD_EVENT, ...fields });
  const cases: BadInput[] = [
    { name: 'an unknown eventName', body: event({ eventName: 'no_such_event' }), error: 'unknown_event_type', field: 'eventName' },
    { name: 'a missing eventName', body: { payload: GOOD_EVENT.payload }, field: 'eventName' },
    { name: 'an empty eventName', body: event({ eventName: '' }), field: 'eventName' },
    { name: 'eventName not a string', body: event({ eventName: 5 }), field: 'eventName' },
    { name: 'a missing payload', body: { eventName: 'project_created' }, field: 'payload' },
    { name: 'payload a string', body: event({ payload: 'x' }), field: 'payload' },
    { name: 'payload an array', body: event({ payload: [] }), field: 'payload' },
    { name: 'payload null', body: event({ payload: null }), field: 'payload' },
    {
      name: 'project_created without tenantId',
      body: event({ payload: { projectId: 'p1' } }),
      field: 'payload.tenantId',
    },
    { name: 'a payload value holding a NUL character', body: event({ payload: { tenantId: 't1', note: 'a\u0000' } }), field: 'payload.note' },
    {
      name: 'project_created with an extra property',
      body: event({ payload: { tenantId: 't1', projectId: 'p1', colour: 'red' } }),
      field: 'payload.colour',
    },
    {
      name: 'project_created with an empty tenantId',
      body: event({ payload: { tenantId: '', projectId: 'p1' } }),
      field: 'payload.tenantId',
    },
    {
      name: 'project_created with a mistyped nested field',
      body: event({ payload: { tenantId: 't1', projectId: 'p1', project: { name: 5 } } }),
      field: 'payload.project.name',
    },
    {
      name: 'company_user_added without resource.companyId',
      body: {
        eventName: 'company_user_added',
        payload: { userId: 'u1', email: 'a@example.com', roleId: 'r1', resource: {} },
      },
      field: 'payload.resource.companyId',
    },
    {
      name: 'the user_added alias checked against its schema',
      body: { eventName: 'user_added', payload: { userId: 'u1', email: 'a@example.com', roleId: 'r1' } },
      field: 'payload.resource',
    },
    {
      name: 'service_created without serviceName',
      body: { eventName: 'service_created', payload: { tenantId: 't1', projectId: 'p1' } },
      field: 'payload.serviceName',
    },
    { name: 'eventTimestamp negative', body: event({ eventTimestamp: -1 }), field: 'eventTimestamp' },
    { name: 'eventTimestamp a string', body: event({ eventTimestamp: '1700000000' }), field: 'eventTimestamp' },
    { name: 'eventTimestamp null', body: event({ eventTimestamp: null }), field: 'eventTimestamp' },
    { name: 'an unknown top-level field', body: event({ tenantId: 't1' }), field: 'tenantId' },
    {
      name: 'an event over the size limit',
      body: {
        eventName: 'configuration_saved',
        payload: { tenantId: 't1', projectId: 'p1', revisionName: 'main', savedChangesId: 's1', blob: 'x'.repeat(300_000) },
      },
      status: 413,
      error: 'payload_too_large',
      field: 'payload',
    },
    // Batches.
    { name: 'eventName and events both', body: { ...GOOD_EVENT, events: [GOOD_EVENT] }, field: 'eventName' },
    { name: 'eventTimestamp beside events', body: { eventTimestamp: 1, events: [GOOD_EVENT] }, field: 'eventTimestamp' },
    { name: 'payload beside events', body: { payload: GOOD_EVENT.payload, events: [GOOD_EVENT] }, field: 'payload' },
    { name: 'an empty batch', body: { events: [] }, field: 'events' },
    { name: 'events not an array', body: { events: GOOD_EVENT }, field: 'events' },
    {
      name: 'a batch of 1001',
      body: { events: Array.from({ length: 1001 }, () => GOOD_EVENT) },
      field: 'events',
    },
    {
      name: 'a batch element violating its schema',
      body: { events: [GOOD_EVENT, GOOD_EVENT, GOOD_EVENT, event({ payload: { projectId: 'p1' } })] },
      field: 'events[3].payload.tenantId',
    },
    {
      name: 'a batch element with an extra payload property',
      body: { events: [GOOD_EVENT, event({ payload: { ...GOOD_EVENT.payload, extra: true } })] },
      field: 'events[1].payload.extra',
    },
    {
      name: 'a batch element with an unknown eventName',
      body: { events: [GOOD_EVENT, event({ eventName: 'no_such_event' })] },
      error: 'unknown_event_type',
      field: 'events[1].eventName',
    },
    {
      name: 'a batch element without payload',
      body: { events: [GOOD_EVENT, { eventName: 'project_created' }] },
      field: 'events[1].payload',
    },
    {
      name: 'a batch element without eventName',
      body: { events: [GOOD_EVENT, { payload: {} }] },
      field: 'events[1].eventName',
    },
    {
      name: 'a batch element with a string payload',
      body: { events: [GOOD_EVENT, GOOD_EVENT, event({ payload: 'x' })] },
      field: 'events[2].payload',
    },
    {
      name: 'a batch element with a negative eventTimestamp',
      body: { events: [event({ eventTimestamp: -5 })] },
      field: 'events[0].eventTimestamp',
    },
    {
      name: 'a batch element with an unknown field',
      body: { events: [GOOD_EVENT, event({ id: 'evt_mine' })] },
      field: 'events[1].id',
    },
    {
      name: 'a batch element not an object',
      body: { events: [GOOD_EVENT, 'project_created'] },
      field: 'events[1]',
    },
    {
      name: 'a batch element over the size limit',
      body: {
        events: [
          GOOD_EVENT,
          {
            eventName: 'configuration_saved',
            payload: { tenantId: 't1', projectId: 'p1', revisionName: 'main', savedChangesId: 's1', blob: 'x'.repeat(300_000) },
          },
        ],
      },
      status: 413,
      error: 'payload_too_large',
      field: 'events[1].payload',
    },
    // The Idempotency-Key header.
    {
      name: 'an Idempotency-Key over 255 characters',
      body: GOOD_EVENT,
      headers: { 'idempotency-key': 'k'.repeat(256) },
      field: 'Idempotency-Key',
    },
    {
      name: 'an empty Idempotency-Key',
      body: GOOD_EVENT,
      headers: { 'idempotency-key': '' },
      field: 'Idempotency-Key',
    },
    { name: 'a JSON array', body: [GOOD_EVENT], field: undefined },
  ];
  runBodyCases(cases, 'POST', () => '/api/events');

  test('a reused Idempotency-Key with another body is a conflict', async () => {
    const first = await herald.post('/api/events', GOOD_EVENT, { 'idempotency-key': 'validation-reuse' });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    await waitForListenerDeliveries();
    await expectRefused(
      () =>
        herald.post(
          '/api/events',
          { ...GOOD_EVENT, payload: { tenantId: 't1', projectId: 'p2' } },
          { 'idempotency-key': 'validation-reuse' },
        ),
      { status: 409, error: 'idempotency_key_reused', field: 'Idempotency-Key' },
    );
  });

  test('a custom event type with no schema still wants an object payload', async () => {
    await expectRefused(() => herald.post('/api/events', { eventName: CUSTOM_TYPE, payload: [1, 2] }), {
      status: 400,
      error: 'validation_failed',
      field: 'payload',
    });
  });

  // The delivery count is the witness of "nothing stored": make sure it does move when an
  // event is accepted, or the checks above would prove nothing.
  test('a valid event, by contrast, adds a delivery', async () => {
    const before = (await storedState()).deliveries;
    const published = await herald.post('/api/events', GOOD_EVENT);
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 1);
    await waitForListenerDeliveries();
    assert.equal((await storedState()).deliveries, before + 1);
  });

  test('a backslash written before "u0000" is text, not a NUL character, and is accepted', async () => {
    const published = await herald.post('/api/events', { ...GOOD_EVENT, payload: { ...GOOD_EVENT.payload, projectId: 'p\\u0000' } });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    await waitForListenerDeliveries();
  });
});

/** Waits until the listener's deliveries are settled, so none changes state under a check. */
async function waitForListenerDeliveries() {
  await waitUntil(async () => {
    const list = await herald.get(`/api/webhooks/${listenerId}/deliveries`);
    return list.body.data.every((delivery: { status: string }) => delivery.status !== 'pending') ? true : null;
  });
}

describe('POST /api/event-types refuses', () => {
  const cases: BadInput[] = [
    { name: 'a missing name', body: {}, field: 'name' },
    { name: 'a name with a space', body: { name: 'order paid' }, field: 'name' },
    { name: 'a name in capitals', body: { name: 'OrderPaid' }, field: 'name' },
    { name: 'a name starting with a digit', body: { name: '1_order' }, field: 'name' },
    { name: 'a name with a doubled separator', body: { name: 'order__paid' }, field: 'name' },
    { name: 'a name ending with a separator', body: { name: 'order_' }, field: 'name' },
    { name: 'an empty name', body: { name: '' }, field: 'name' },
    { name: 'a name too long', body: { name: `a${'b'.repeat(100)}` }, field: 'name' },
    { name: 'a name not a string', body: { name: 5 }, field: 'name' },
    { name: 'a description not a string', body: { name: 'order_paid', description: 5 }, field: 'description' },
    { name: 'a description too long', body: { name: 'order_paid', description: 'd'.repeat(1001) }, field: 'description' },
    { name: 'a schema that is a string', body: { name: 'order_paid', schema: 'object' }, field: 'schema' },
    { name: 'a schema that is an array', body: { name: 'order_paid', schema: [] }, field: 'schema' },
    { name: 'a schema that is null', body: { name: 'order_paid', schema: null }, field: 'schema' },
    { name: 'a schema with an unknown type', body: { name: 'order_paid', schema: { type: 'nope' } }, field: 'schema' },
    {
      name: 'a schema with properties not an object',
      body: { name: 'order_paid', schema: { type: 'object', properties: 5 } },
      field: 'schema',
    },
    {
      name: 'a schema whose type leaves objects out',
      body: { name: 'order_paid', schema: { type: 'string' } },
      field: 'schema',
    },
    {
      name: 'a schema with an unresolvable $ref',
      body: { name: 'order_paid', schema: { $ref: 'https://schemas.example.com/order.json' } },
      field: 'schema',
    },
    { name: 'a tenantIdPointer without a slash', body: { name: 'order_paid', tenantIdPointer: 'tenantId' }, field: 'tenantIdPointer' },
    { name: 'an empty tenantIdPointer', body: { name: 'order_paid', tenantIdPointer: '' }, field: 'tenantIdPointer' },
    { name: 'a tenantIdPointer of "/"', body: { name: 'order_paid', tenantIdPointer: '/' }, field: 'tenantIdPointer' },
    { name: 'a tenantIdPointer with an empty token', body: { name: 'order_paid', tenantIdPointer: '/a//b' }, field: 'tenantIdPointer' },
    { name: 'a tenantIdPointer not a string', body: { name: 'order_paid', tenantIdPointer: ['tenantId'] }, field: 'tenantIdPointer' },
    { name: 'a projectIdPointer without a slash', body: { name: 'order_paid', projectIdPointer: 'project.id' }, field: 'projectIdPointer' },
    { name: 'a projectIdPointer too long', body: { name: 'order_paid', projectIdPointer: `/${'p'.repeat(200)}` }, field: 'projectIdPointer' },
    { name: 'an unknown field', body: { name: 'order_paid', aliases: ['paid'] }, field: 'aliases' },
    { name: 'builtin set by the caller', body: { name: 'order_paid', builtin: true }, field: 'builtin' },
    { name: 'a built-in name', body: { name: 'project_created' }, status: 409, error: 'conflict', field: 'name' },
    { name: 'a built-in alias', body: { name: 'user_added' }, status: 409, error: 'conflict', field: 'name' },
    { name: 'a custom name taken already', body: { name: CUSTOM_TYPE }, status: 409, error: 'conflict', field: 'name' },
    { name: 'a JSON array', body: [{ name: 'order_paid' }], field: undefined },
  ];
  runBodyCases(cases, 'POST', () => '/api/event-types');
});

describe('request bodies that are not JSON objects', () => {
  const routes = [
    { name: 'create webhook', method: 'POST', route: () => '/api/webhooks', limit: 1024 * 1024 },
    { name: 'patch webhook', method: 'PATCH', route: () => `/api/webhooks/${instanceHookId}`, limit: 1024 * 1024 },
    { name: 'publish', method: 'POST', route: () => '/api/events', limit: 16 * 1024 * 1024 },
    { name: 'add event type', method: 'POST', route: () => '/api/event-types', limit: 1024 * 1024 },
  ];
  for (const { name, method, route, limit } of routes) {
    describe(name, () => {
      const json = { 'content-type': 'application/json' };
      const cases: BadInput[] = [
        { name: 'invalid JSON', body: '{"url": ', headers: json, error: 'invalid_json', field: undefined },
        { name: 'a trailing comma', body: '{"a": 1,}', headers: json, error: 'invalid_json', field: undefined },
        { name: 'an empty body sent as JSON', body: '', headers: json, error: 'invalid_json', field: undefined },
        {
          name: 'text/plain',
          body: '{"url":"https://hooks.example.com"}',
          headers: { 'content-type': 'text/plain' },
          status: 415,
          error: 'unsupported_media_type',
          field: undefined,
        },
        {
          name: 'a form',
          body: 'url=https%3A%2F%2Fhooks.example.com',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          status: 415,
          error: 'unsupported_media_type',
          field: undefined,
        },
        {
          name: 'XML',
          body: '<webhook/>',
          headers: { 'content-type': 'application/xml' },
          status: 415,
          error: 'unsupported_media_type',
          field: undefined,
        },
        {
          name: 'a body over the limit',
          body: JSON.stringify({ name: 'x'.repeat(limit) }),
          status: 413,
          error: 'payload_too_large',
          field: undefined,
        },
      ];
      runBodyCases(cases, method, route);
    });
  }
});

/** Every route under /api, read from the router itself so a new route cannot be forgotten. */
function apiRoutes(): Array<{ method: string; path: string }> {
  const tree = herald.herald.api!.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const routes: Array<{ method: string; path: string }> = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1].length / 4;
    prefixes.length = depth;
    const path = (prefixes[depth - 1] ?? '') + match[2];
    prefixes[depth] = path;
    for (const method of match[3].split(',').map((m) => m.trim())) {
      if (path.startsWith('/api/') && method !== 'HEAD') routes.push({ method, path });
    }
  }
  return routes;
}

describe('authentication', () => {
  const badHeaders: Array<{ name: string; headers: Record<string, string> }> = [
    { name: 'no Authorization header', headers: {} },
    { name: 'a wrong token', headers: { authorization: 'Bearer not-the-admin-token-0000000000' } },
    { name: 'the token with a letter changed', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}0` } },
    { name: 'Basic credentials', headers: { authorization: `Basic ${base64(`admin:${TEST_ADMIN_TOKEN}`)}` } },
    { name: 'the token without a scheme', headers: { authorization: TEST_ADMIN_TOKEN } },
    { name: 'Bearer with no token', headers: { authorization: 'Bearer' } },
    { name: 'Bearer with two tokens', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN} ${TEST_ADMIN_TOKEN}` } },
    { name: 'an empty header', headers: { authorization: '' } },
  ];

  test('the route list read from the router covers the API', () => {
    const names = apiRoutes().map((route) => `${route.method} ${route.path}`);
    for (const expected of [
      'GET /api/webhooks',
      'POST /api/webhooks',
      'GET /api/webhooks/:id',
      'PATCH /api/webhooks/:id',
      'DELETE /api/webhooks/:id',
      'GET /api/webhooks/:id/deliveries',
      'GET /api/webhooks/:id/deliveries/:deliveryId',
      'GET /api/event-types',
      'POST /api/event-types',
      'POST /api/events',
    ]) {
      assert.ok(names.includes(expected), `${expected} not found in ${names.join(', ')}`);
    }
  });

  /** A request that would succeed with the admin token, so only the token can refuse it. */
  function validRequest(method: string, path: string): { url: string; body?: unknown } {
    const url = path
      .replace(':deliveryId', 'dlv_0000000000unknown')
      .replace(':id', instanceHookId);
    assert.ok(!url.includes(':'), `no sample value for a parameter of ${path}`);
    const bodies: Record<string, unknown> = {
      'POST /api/webhooks': GOOD_WEBHOOK,
      'PATCH /api/webhooks/:id': { name: 'renamed without a token' },
      'POST /api/event-types': { name: 'sneaky_type' },
      'POST /api/events': GOOD_EVENT,
    };
    return { url, body: bodies[`${method} ${path}`] };
  }

  test('every /api route answers 401 to every bad Authorization header, storing nothing', async () => {
    const routes = apiRoutes();
    assert.ok(routes.length >= 10);
    for (const { method, path } of routes) {
      for (const { name, headers } of badHeaders) {
        const { url, body } = validRequest(method, path);
        const response = await expectRefused(
          async () => {
            const answer = await fetch(`${herald.url}${url}`, {
              method,
              headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
              body: body === undefined ? undefined : JSON.stringify(body),
            });
            const text = await answer.text();
            return { status: answer.status, headers: answer.headers, body: text ? JSON.parse(text) : null };
          },
          { status: 401, error: 'unauthorized', field: undefined },
        ).catch((error: Error) => {
          throw new Error(`${method} ${path} with ${name}: ${error.message}`);
        });
        assert.equal(response.body.error, 'unauthorized');
      }
    }
  });

  test('a bad token is refused before the body is looked at', async () => {
    for (const [body, type] of [
      ['{not json', 'application/json'],
      ['plain', 'text/plain'],
    ]) {
      const answer = await fetch(`${herald.url}/api/webhooks`, {
        method: 'POST',
        headers: { 'content-type': type, authorization: 'Bearer wrong-token' },
        body,
      });
      assert.equal(answer.status, 401);
      assert.equal(((await answer.json()) as { error: string }).error, 'unauthorized');
    }
  });

  test('the scheme name is case-insensitive', async () => {
    const response = await herald.request('GET', '/api/webhooks', undefined, { authorization: `bearer ${TEST_ADMIN_TOKEN}` });
    assert.equal(response.status, 200);
  });
});
