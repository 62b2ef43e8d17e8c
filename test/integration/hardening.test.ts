import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hashToken } from '../../src/api/auth.js';
import type { Store } from '../../src/store/index.js';
import { startReceiver, type Receiver } from '../support/index.js';
import { apiClient, startTestHerald, type ApiResponse, type TestHerald } from '../support/herald.js';

const SECRET = 'a-test-secret';
const CONSOLE_ORIGIN = 'https://console.example.com';

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

function assertSecurityHeaders(headers: Headers, what: string, options: { api: boolean; hsts?: boolean }): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) assert.equal(headers.get(name), value, `${what}: ${name}`);
  assert.equal(headers.get('cache-control'), options.api ? 'no-store' : null, `${what}: cache-control`);
  assert.equal(headers.has('strict-transport-security'), options.hsts === true, `${what}: hsts`);
  assert.equal(headers.get('x-powered-by'), null, `${what}: x-powered-by`);
  assert.equal(headers.get('server'), null, `${what}: server`);
}

function accessControlHeaders(headers: Headers): string[] {
  return [...headers.keys()].filter((name) => name.startsWith('access-control-'));
}

/** A second admin token straight in the store, as `herald token create` would make one. */
async function insertAdminToken(store: Store, token: string): Promise<void> {
  const record = {
    id: `tok_second_${Date.now()}`,
    tokenHash: hashToken(token),
    name: 'second admin',
    role: 'admin',
    tenantId: null,
    projectId: null,
    createdAt: Date.now(),
    expiresAt: null,
    revokedAt: null,
  };
  await store.insertToken(record as Parameters<Store['insertToken']>[0]);
}

function webhookIn(scope: { tenantId?: string; projectId?: string }, receiverUrl = 'https://receiver.example/hook') {
  return { url: receiverUrl, events: ['project_created'], secret: SECRET, ...scope };
}

describe('rate limiting per token', () => {
  const LIMIT = 5;
  let herald: TestHerald;
  let offsetMs = 0;

  before(async () => {
    herald = await startTestHerald({ rateLimitPerMinute: LIMIT }, { clock: () => Date.now() + offsetMs });
  });
  after(() => herald?.stop({ removeData: true }));

  test('a burst past the limit is answered 429 with Retry-After; other tokens and refills are unaffected', async () => {
    for (let i = 0; i < LIMIT; i++) assert.equal((await herald.get('/api/webhooks')).status, 200, `request ${i + 1}`);
    const limited = await herald.get('/api/webhooks');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'rate_limited');
    assert.equal(typeof limited.body.message, 'string');
    // One token comes back every 60 s / 5 = 12 s.
    assert.equal(limited.headers.get('retry-after'), '12');
    assertSecurityHeaders(limited.headers, '429', { api: true });

    const secondToken = 'second-admin-token-0123456789abcdef';
    await insertAdminToken(herald.herald.store, secondToken);
    assert.equal((await apiClient(herald.url, secondToken).get('/api/webhooks')).status, 200, 'another token');

    // Without a valid token the answer is 401, never 429: the limit counts authenticated callers.
    assert.equal((await apiClient(herald.url, 'not-a-valid-token-at-all').get('/api/webhooks')).status, 401);

    offsetMs += 12_000;
    assert.equal((await herald.get('/api/webhooks')).status, 200, 'one token refilled');
    assert.equal((await herald.get('/api/webhooks')).status, 429, 'and only one');
    offsetMs += 60_000;
    for (let i = 0; i < LIMIT; i++) assert.equal((await herald.get('/api/webhooks')).status, 200, `full again ${i + 1}`);
  });
});

describe('security headers, header size and closed CORS', () => {
  let herald: TestHerald;

  before(async () => {
    herald = await startTestHerald();
  });
  after(() => herald?.stop({ removeData: true }));

  test('every kind of answer carries the security headers; only /api answers are no-store', async () => {
    const unauthenticated = async (route: string): Promise<ApiResponse> => {
      const response = await fetch(`${herald.url}${route}`);
      return { status: response.status, headers: response.headers, body: await response.text() };
    };
    const answers: Array<[string, ApiResponse, number, boolean]> = [
      ['200', await herald.get('/api/webhooks'), 200, true],
      ['400', await herald.post('/api/webhooks', { url: 'not a url', events: ['project_created'] }), 400, true],
      ['404 in /api', await herald.get('/api/no-such-route'), 404, true],
      // Refused by the router before any hook runs.
      ['400 from the router', await herald.get(`/api/webhooks/${'x'.repeat(300)}`), 400, true],
      ['401', await unauthenticated('/api/webhooks'), 401, true],
      ['404 outside /api', await unauthenticated('/no-such-page'), 404, false],
      ['healthz', await unauthenticated('/healthz'), 200, false],
    ];
    for (const [what, response, status, api] of answers) {
      assert.equal(response.status, status, what);
      assertSecurityHeaders(response.headers, what, { api });
    }
  });

  test('a request head past the size limit is answered 431 with Herald\'s body and headers', async () => {
    const answer = await rawRequest(herald.url, { 'x-padding': 'a'.repeat(32 * 1024) });
    assert.equal(answer.status, 431);
    assert.equal(JSON.parse(answer.body).error, 'headers_too_large');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) assert.equal(answer.headers[name], value, name);
    assert.equal(answer.headers['cache-control'], 'no-store');
    // A head under the limit still works.
    const fine = await rawRequest(herald.url, { 'x-padding': 'a'.repeat(4 * 1024) });
    assert.equal(fine.status, 200);
  });

  test('CORS is closed: no Access-Control headers, not even on a preflight', async () => {
    const simple = await herald.request('GET', '/api/webhooks', undefined, { origin: CONSOLE_ORIGIN });
    assert.equal(simple.status, 200);
    assert.deepEqual(accessControlHeaders(simple.headers), []);
    const preflight = await fetch(`${herald.url}/api/webhooks`, {
      method: 'OPTIONS',
      headers: {
        origin: CONSOLE_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.notEqual(preflight.status, 204);
    assert.deepEqual(accessControlHeaders(preflight.headers), []);
  });
});

describe('webhooks per scope', () => {
  let herald: TestHerald;

  before(async () => {
    herald = await startTestHerald({ maxWebhooksPerScope: 2 });
  });
  after(() => herald?.stop({ removeData: true }));

  const create = (scope: { tenantId?: string; projectId?: string }) => herald.post('/api/webhooks', webhookIn(scope));

  test('a full scope refuses one more with 409 limit_reached; the other scopes still take webhooks', async () => {
    const scopes = [{}, { tenantId: 'acme' }, { tenantId: 'acme', projectId: 'shop' }];
    for (const scope of scopes) {
      for (let i = 0; i < 2; i++) assert.equal((await create(scope)).status, 201, JSON.stringify(scope));
    }
    for (const scope of scopes) {
      const refused = await create(scope);
      assert.equal(refused.status, 409, JSON.stringify(scope));
      assert.equal(refused.body.error, 'limit_reached');
      assert.equal(refused.body.field, 'projectId' in scope ? 'projectId' : 'tenantId');
    }
    assert.equal((await create({ tenantId: 'globex' })).status, 201, 'another company');
    assert.equal((await create({ tenantId: 'acme', projectId: 'blog' })).status, 201, 'another project');

    // The older CMS document is counted the same way.
    const legacy = await herald.post('/api/webhooks', {
      tenantId: 'acme',
      projectId: '',
      eventName: 'project_created',
      target: 'https://receiver.example/legacy',
      secret: SECRET,
    });
    assert.equal(legacy.status, 409, JSON.stringify(legacy.body));
  });

  test('an edit moving a webhook into a full scope is refused; edits within a full scope are not', async () => {
    const mover = await create({ tenantId: 'initech' });
    assert.equal(mover.status, 201);
    const moved = await herald.patch(`/api/webhooks/${mover.body.id}`, { tenantId: 'acme' });
    assert.equal(moved.status, 409, JSON.stringify(moved.body));
    assert.equal(moved.body.error, 'limit_reached');

    const list = await herald.get('/api/webhooks?tenantId=acme&scope=company');
    const [first] = list.body.data;
    assert.equal((await herald.patch(`/api/webhooks/${first.id}`, { name: 'renamed' })).status, 200);
    assert.equal((await herald.delete(`/api/webhooks/${first.id}`)).status, 204);
    assert.equal((await herald.patch(`/api/webhooks/${mover.body.id}`, { tenantId: 'acme' })).status, 200, 'room again');
  });
});

describe('CORS opened to listed origins, with HSTS', () => {
  let herald: TestHerald;

  before(async () => {
    herald = await startTestHerald({ corsOrigins: [CONSOLE_ORIGIN], hsts: true });
  });
  after(() => herald?.stop({ removeData: true }));

  const preflight = (origin: string) =>
    fetch(`${herald.url}/api/webhooks`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });

  test('a listed origin gets its preflight answered and may read answers', async () => {
    const answer = await preflight(CONSOLE_ORIGIN);
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get('access-control-allow-origin'), CONSOLE_ORIGIN);
    assert.equal(answer.headers.get('access-control-allow-methods'), 'GET, POST, PATCH, DELETE');
    assert.equal(answer.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, Idempotency-Key');
    assert.match(answer.headers.get('vary') ?? '', /Origin/);
    assert.equal(answer.headers.get('access-control-allow-credentials'), null);

    const read = await herald.request('GET', '/api/webhooks', undefined, { origin: CONSOLE_ORIGIN });
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('access-control-allow-origin'), CONSOLE_ORIGIN);
    assertSecurityHeaders(read.headers, 'cross-origin 200', { api: true, hsts: true });
  });

  test('any other origin gets nothing', async () => {
    for (const origin of ['https://evil.example.com', 'https://console.example.com.evil.example', 'null']) {
      const answer = await preflight(origin);
      assert.notEqual(answer.status, 204, origin);
      assert.equal(answer.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(answer.headers.get('access-control-allow-methods'), null, origin);
      const read = await herald.request('GET', '/api/webhooks', undefined, { origin });
      assert.equal(read.headers.get('access-control-allow-origin'), null, origin);
    }
  });
});

describe('allowed networks (HERALD_ALLOWED_NETWORKS) with private networks off', () => {
  let herald: TestHerald;
  let receiver: Receiver;

  before(async () => {
    receiver = await startReceiver();
    herald = await startTestHerald({ allowPrivateNetworks: false, allowedNetworks: ['127.0.0.0/8'] });
  });
  after(async () => {
    await herald?.stop({ removeData: true });
    await receiver?.close();
  });

  test('a receiver in the listed range gets its delivery', async () => {
    const created = await herald.post('/api/webhooks', webhookIn({ tenantId: 'acme' }, `http://127.0.0.1:${receiver.port}/hook`));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const published = await herald.post('/api/events', {
      eventName: 'project_created',
      payload: { tenantId: 'acme', projectId: 'shop' },
    });
    assert.equal(published.body.deliveries, 1);
    const [request] = await receiver.waitForRequests(1);
    assert.equal(JSON.parse(request.body.toString()).eventName, 'project_created');
  });

  test('the rest of the private space stays refused', async () => {
    for (const url of [
      'http://10.1.2.3/hook',
      `http://[::1]:${receiver.port}/hook`,
      'http://169.254.169.254/latest/meta-data/',
      'http://192.168.1.10/hook',
    ]) {
      const refused = await herald.post('/api/webhooks', webhookIn({}, url));
      assert.equal(refused.status, 400, `${url}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.field, 'url', url);
      assert.match(refused.body.message, /HERALD_ALLOWED_NETWORKS/);
    }
    const proxied = await herald.post('/api/webhooks', {
      ...webhookIn({}, 'https://receiver.example/hook'),
      proxy: { url: 'http://10.0.0.5:3128' },
    });
    assert.equal(proxied.status, 400);
    assert.equal(proxied.body.field, 'proxy.url');
  });
});

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** node:http directly: a request head this large is what the test is about, so no client may trim it. */
function rawRequest(baseUrl: string, headers: Record<string, string>): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${baseUrl}/healthz`, { headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
  });
}
