import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { failTimesThenSucceed, makeTempDir, removeDir, startProxy, startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, TestProxy } from '../support/index.js';
import { apiClient, spawnHerald } from '../support/herald.js';
import type { ApiClient, SpawnedHerald } from '../support/herald.js';

/**
 * A Herald logging at trace level lives through webhooks with chosen, generated and rotated
 * secrets, tokens made, used and revoked, deliveries that fail, are retried and give up,
 * proxies with passwords (right, wrong and unreachable) and requests refused with secrets in
 * their bodies. Afterwards not one of those secrets, tokens or passwords may be found in
 * anything it wrote.
 */

const unique = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

const ADMIN_TOKEN = unique('log-admin-token');
const ENCRYPTION_KEY = randomBytes(32);
const PROXY_USER = 'herald';
const PROXY_PASSWORD = unique('proxy-password');
const WRONG_PROXY_PASSWORD = unique('wrong-proxy-password');
const DEAD_PROXY_PASSWORD = unique('dead-proxy-password');
const REFUSED_PROXY_PASSWORD = unique('refused-proxy-password');
const SECRETS = {
  flaky: unique('flaky-secret'),
  rotated: unique('rotated-secret'),
  legacy: unique('legacy-secret'),
  proxied: unique('proxied-secret'),
  failing: unique('failing-secret'),
  refusedCreate: unique('refused-create-secret'),
  refusedPatch: unique('refused-patch-secret'),
  brokenJson: unique('broken-json-secret'),
  tooShort: randomBytes(5).toString('hex').slice(0, 7),
};

/** A port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function expectStatus(response: { status: number; body: unknown }, status: number): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
}

test('nothing Herald writes, even at trace level, holds a secret, a token or a proxy password', async () => {
  const dataDir = makeTempDir('herald-log-secrets-');
  const receivers: Receiver[] = [];
  let proxy: TestProxy | null = null;
  let herald: SpawnedHerald | null = null;
  /** Every value that must never be written: filled in as the test makes them. */
  const forbidden = new Map<string, string>();
  const forbid = (label: string, value: string) => forbidden.set(label, value);
  try {
    const flakyReceiver = await startReceiver({ responder: failTimesThenSucceed(2, 500) });
    const okReceiver = await startReceiver();
    const failingReceiver = await startReceiver({ responder: () => ({ status: 500, body: 'always failing' }) });
    receivers.push(flakyReceiver, okReceiver, failingReceiver);
    proxy = await startProxy({ requireAuth: { username: PROXY_USER, password: PROXY_PASSWORD } });
    const deadProxyPort = await closedPort();

    herald = await spawnHerald({
      HERALD_DATA_DIR: dataDir,
      HERALD_ADMIN_TOKEN: ADMIN_TOKEN,
      HERALD_ENCRYPTION_KEY: ENCRYPTION_KEY.toString('hex'),
      HERALD_LOG_LEVEL: 'trace',
      HERALD_ALLOW_PRIVATE_NETWORKS: '1',
      HERALD_RETRY_SCHEDULE: '100ms',
      HERALD_DELIVERY_TIMEOUT_MS: '2000',
    });
    const admin = apiClient(herald.url, ADMIN_TOKEN);
    forbid('admin token', ADMIN_TOKEN);
    forbid('encryption key (hex)', ENCRYPTION_KEY.toString('hex'));
    forbid('encryption key (base64)', ENCRYPTION_KEY.toString('base64'));
    for (const [label, secret] of Object.entries(SECRETS)) forbid(`secret ${label}`, secret);
    for (const [label, password] of Object.entries({ PROXY_PASSWORD, WRONG_PROXY_PASSWORD, DEAD_PROXY_PASSWORD, REFUSED_PROXY_PASSWORD })) {
      forbid(label, password);
      // As it travels in Proxy-Authorization.
      forbid(`${label} (basic credentials)`, Buffer.from(`${PROXY_USER}:${password}`).toString('base64'));
    }

    // Webhooks: chosen, generated, the older CMS shape, behind proxies, and one that always fails.
    const hooks: Record<string, string> = {};
    const create = async (name: string, body: Record<string, unknown>) => {
      const created = await admin.post('/api/webhooks', { events: ['project_created'], ...body });
      expectStatus(created, 201);
      hooks[name] = created.body.id;
      return created.body;
    };
    await create('flaky', { url: `${flakyReceiver.url}/flaky`, secret: SECRETS.flaky, maxAttempts: 5 });
    const generated = await create('generated', { url: `${okReceiver.url}/generated`, tenantId: 't1' });
    assert.equal(typeof generated.secret, 'string');
    forbid('generated secret', generated.secret);
    const legacy = await admin.post('/api/webhooks', {
      target: `${okReceiver.url}/legacy`,
      eventName: 'project_created',
      secret: SECRETS.legacy,
      tenantId: '',
      projectId: '',
    });
    expectStatus(legacy, 201);
    hooks.legacy = legacy.body.id;
    const proxyUrl = (password: string, port: number) => `http://${PROXY_USER}:${password}@127.0.0.1:${port}`;
    const proxied = await create('proxied', {
      url: `${okReceiver.url}/proxied`,
      secret: SECRETS.proxied,
      proxy: { url: proxyUrl(PROXY_PASSWORD, proxy.port) },
    });
    assert.equal(JSON.stringify(proxied).includes(PROXY_PASSWORD), false, 'the proxy password came back in the response');
    await create('wrong-proxy', { url: `${okReceiver.url}/wrong-proxy`, secret: SECRETS.proxied, maxAttempts: 2, proxy: { url: proxyUrl(WRONG_PROXY_PASSWORD, proxy.port) } });
    await create('dead-proxy', { url: `${okReceiver.url}/dead-proxy`, secret: SECRETS.proxied, maxAttempts: 2, proxy: { url: proxyUrl(DEAD_PROXY_PASSWORD, deadProxyPort) } });
    await create('failing', { url: `${failingReceiver.url}/failing`, secret: SECRETS.failing, maxAttempts: 3 });

    // A rotation: both the old and the new secret sign for a while.
    expectStatus(await admin.patch(`/api/webhooks/${hooks.flaky}`, { secret: SECRETS.rotated, keepPreviousSecretFor: 60 }), 200);

    // Tokens: made, used, revoked, and tried after revocation; plus tokens that never existed.
    const makeToken = async (spec: Record<string, unknown>) => {
      const made = await admin.post('/api/tokens', spec);
      expectStatus(made, 201);
      forbid(`token ${made.body.id}`, made.body.token);
      return { id: made.body.id as string, client: apiClient(herald!.url, made.body.token), token: made.body.token as string };
    };
    const company = await makeToken({ role: 'company', tenantId: 't1', name: 'log company' });
    const publisher = await makeToken({ role: 'publisher', name: 'log publisher' });
    const doomed = await makeToken({ role: 'project', tenantId: 't1', projectId: 'p1' });
    const expiring = await makeToken({ role: 'publisher', expiresAt: new Date(Date.now() + 2_000).toISOString() });
    const fromCompany = await company.client.post('/api/tokens', { role: 'publisher', tenantId: 't1' });
    expectStatus(fromCompany, 201);
    forbid('token made by the company token', fromCompany.body.token);
    expectStatus(await company.client.get('/api/webhooks'), 200);
    expectStatus(await doomed.client.get('/api/webhooks'), 200);
    expectStatus(await admin.delete(`/api/tokens/${doomed.id}`), 204);
    expectStatus(await doomed.client.get('/api/webhooks'), 401);
    await waitUntil(async () => (await expiring.client.get('/api/event-types')).status === 401, { message: 'the short token did not expire' });
    const strangers: ApiClient[] = [];
    for (const text of [`hrld_${randomBytes(32).toString('base64url')}`, unique('not-a-real-token')]) {
      forbid('an unknown bearer token', text);
      strangers.push(apiClient(herald.url, text));
    }
    for (const stranger of strangers) expectStatus(await stranger.get('/api/webhooks'), 401);
    // A real token under the wrong scheme.
    expectStatus(await company.client.request('GET', '/api/webhooks', undefined, { authorization: `Basic ${company.token}` }), 401);
    // Out of reach, with a token in hand: refused, and the token still never logged.
    expectStatus(await publisher.client.get('/api/webhooks'), 403);
    expectStatus(await company.client.post('/api/tokens', { role: 'admin' }), 403);

    // Requests refused with secrets and passwords in their bodies.
    expectStatus(await admin.post('/api/webhooks', { url: 'ftp://files.example.com/in', events: ['project_created'], secret: SECRETS.refusedCreate }), 400);
    expectStatus(await admin.post('/api/webhooks', { url: `${okReceiver.url}/short`, events: ['project_created'], secret: SECRETS.tooShort }), 400);
    expectStatus(await admin.patch(`/api/webhooks/${hooks.flaky}`, { secret: SECRETS.refusedPatch, maxAttempts: 99 }), 400);
    expectStatus(await admin.post('/api/webhooks', `{"url":"${okReceiver.url}/broken","secret":"${SECRETS.brokenJson}"`), 400);
    expectStatus(await admin.post('/api/webhooks', { url: `${okReceiver.url}/p`, events: ['project_created'], proxy: { url: `ftp://${PROXY_USER}:${REFUSED_PROXY_PASSWORD}@proxy.example.com` } }), 400);
    expectStatus(await admin.post('/api/webhooks', { url: `${okReceiver.url}/p`, events: ['project_created'], secret: SECRETS.refusedCreate, bogus: ADMIN_TOKEN }), 400);
    expectStatus(await admin.post('/api/webhooks', `{"secret":"${SECRETS.refusedCreate}","x":${'['.repeat(500)}${']'.repeat(500)}}`), 400);
    expectStatus(await admin.post('/api/tokens', { role: 'company', name: SECRETS.refusedCreate }), 400);

    // Events: one per tenant, from the admin and from the publisher.
    expectStatus(await admin.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } }), 202);
    expectStatus(await publisher.client.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't2', projectId: 'p9' } }), 202);

    // Every delivery settles: delivered after retries, or given up.
    const settled = await waitUntil(
      async () => {
        const states: Record<string, string[]> = {};
        for (const [name, id] of Object.entries(hooks)) {
          const list = await admin.get(`/api/webhooks/${id}/deliveries`);
          const data = list.body.data as Array<{ status: string }>;
          if (data.length === 0 || data.some((delivery) => delivery.status === 'pending')) return null;
          states[name] = data.map((delivery) => delivery.status);
        }
        return states;
      },
      { timeoutMs: 30_000, message: 'deliveries did not settle' },
    );
    // The paths the log must have walked: retried to success, and given up.
    assert.deepEqual(settled.flaky, ['success', 'success']);
    assert.deepEqual(settled.proxied, ['success', 'success']);
    for (const name of ['wrong-proxy', 'dead-proxy', 'failing']) assert.deepEqual(settled[name], ['error', 'error'], name);
    assert.ok(proxy.seen.length > 0, 'nothing went through the proxy');

    herald.process.kill('SIGTERM');
    assert.equal(await herald.exited, 0, herald.output());
    const output = herald.output();
    herald = null;

    // The log did see all of it: otherwise finding nothing would prove nothing.
    const lines = output.split('\n').filter((line) => line.startsWith('{'));
    const messages = lines.map((line) => (JSON.parse(line) as { msg?: string }).msg);
    for (const expected of ['herald started', 'attempt failed, will retry', 'gave up', 'delivered', 'herald stopped']) {
      assert.ok(messages.includes(expected), `no "${expected}" line in the log:\n${output.slice(0, 3000)}`);
    }

    const leaks = [...forbidden]
      .filter(([, value]) => output.includes(value) || output.includes(encodeURIComponent(value)))
      .map(([label]) => label);
    assert.deepEqual(leaks, [], `the output holds: ${leaks.join(', ')}`);
  } finally {
    if (herald && herald.process.exitCode === null && herald.process.signalCode === null) herald.process.kill('SIGKILL');
    await herald?.exited;
    await proxy?.close();
    for (const receiver of receivers) await receiver.close();
    removeDir(dataDir);
  }
});
