import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import {
  createTestPki,
  createUnrelatedCaPem,
  removeDir,
  startProxy,
  startReceiver,
  waitUntil,
} from '../support/index.js';
import type { Receiver, ReceivedRequest, TestPki, TestProxy } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';

/**
 * How a delivery travels: TLS against a webhook's own CA, through HTTP proxies (plain forward
 * and CONNECT), and every way the road can be blocked, each recorded with its cause.
 */

const SECRET = 'transport-test-secret';

type Cleanup = () => unknown;

/** Closes what a test opened, even when the test fails half-way. */
function track<T>(cleanups: Cleanup[], resource: T, close: (value: T) => unknown): T {
  cleanups.push(() => close(resource));
  return resource;
}

async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** A port on which nothing listens: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function miaSignatureOf(body: Buffer): string {
  return createHash('sha256').update(body).update(SECRET, 'utf8').digest('hex');
}

/** The request arrived as Herald sent it: the envelope, with a signature that still matches. */
function assertIntact(request: ReceivedRequest, tenantId: string): void {
  assert.equal(request.headers['x-mia-signature'], miaSignatureOf(request.body));
  const envelope = JSON.parse(request.body.toString('utf8'));
  assert.equal(envelope.eventName, 'project_created');
  assert.equal(envelope.payload.tenantId, tenantId);
}

let tenantCounter = 0;
/** Each case gets its own company, so its webhook hears only its own events. */
const nextTenant = () => `tenant-${++tenantCounter}`;

async function createWebhook(
  herald: TestHerald,
  tenantId: string,
  settings: Record<string, unknown>,
): Promise<string> {
  const created = await herald.post('/api/webhooks', {
    events: ['project_created'],
    secret: SECRET,
    tenantId,
    maxAttempts: 1,
    ...settings,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

/** Publishes one event for the tenant and returns the delivery once it is final. */
async function publishAndSettle(herald: TestHerald, webhookId: string, tenantId: string) {
  const published = await herald.post('/api/events', {
    eventName: 'project_created',
    payload: { tenantId, projectId: 'p-1' },
  });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  assert.equal(published.body.deliveries, 1);
  const eventId = published.body.id as string;
  const summary = await waitUntil(
    async () => {
      const list = await herald.get(`/api/webhooks/${webhookId}/deliveries`);
      const delivery = list.body.data.find((d: { eventId: string }) => d.eventId === eventId);
      return delivery && delivery.status !== 'pending' ? delivery : null;
    },
    { message: `delivery of ${eventId} did not settle` },
  );
  const detail = await herald.get(`/api/webhooks/${webhookId}/deliveries/${summary.id}`);
  assert.equal(detail.status, 200);
  return detail.body;
}

/** One attempt, failed with `code`, no status code, and the cause in the attempt log too. */
function assertFailedWith(delivery: any, code: string): void {
  assert.equal(delivery.status, 'error', JSON.stringify(delivery));
  assert.equal(delivery.error?.code, code, JSON.stringify(delivery.error));
  assert.equal(typeof delivery.error.message, 'string');
  assert.equal(delivery.attempts, 1);
  assert.equal(delivery.attemptLog.length, 1);
  assert.equal(delivery.attemptLog[0].error?.code, code);
  assert.equal(delivery.statusCode, null);
  assert.doesNotMatch(delivery.error.message, new RegExp(SECRET));
}

describe('delivery transport', () => {
  let herald: TestHerald;
  let pki: TestPki;
  let tlsReceiver: Receiver;
  const cleanups: Cleanup[] = [];

  before(async () => {
    pki = createTestPki();
    tlsReceiver = await startReceiver({ tls: { certPem: pki.certPem, keyPem: pki.keyPem } });
    herald = await startTestHerald();
  });

  after(async () => {
    await runCleanups(cleanups);
    await herald?.stop({ removeData: true });
    await tlsReceiver?.close();
    if (pki) removeDir(pki.dir);
  });

  describe('TLS', () => {
    test('a webhook with the base64 CA of its receiver delivers over https', async () => {
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, {
        url: `${tlsReceiver.url}/secure`,
        base64CA: pki.base64CA,
      });
      const before = tlsReceiver.requests.length;
      const delivery = await publishAndSettle(herald, webhookId, tenantId);
      assert.equal(delivery.status, 'success', JSON.stringify(delivery));
      assert.equal(delivery.statusCode, 200);
      const request = tlsReceiver.requests[before];
      assert.equal(request.url, '/secure');
      assertIntact(request, tenantId);
    });

    test('the same webhook without the CA, then with an unrelated CA, fails with tls', async () => {
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, {
        url: `${tlsReceiver.url}/secure`,
        base64CA: pki.base64CA,
      });
      const trusted = await publishAndSettle(herald, webhookId, tenantId);
      assert.equal(trusted.status, 'success');
      const seenBefore = tlsReceiver.requests.length;

      const withoutCa = await herald.patch(`/api/webhooks/${webhookId}`, { base64CA: null });
      assert.equal(withoutCa.status, 200, JSON.stringify(withoutCa.body));
      assert.equal(withoutCa.body.base64CA, null);
      assertFailedWith(await publishAndSettle(herald, webhookId, tenantId), 'tls');

      const unrelated = Buffer.from(createUnrelatedCaPem(), 'utf8').toString('base64');
      const withOtherCa = await herald.patch(`/api/webhooks/${webhookId}`, { base64CA: unrelated });
      assert.equal(withOtherCa.status, 200, JSON.stringify(withOtherCa.body));
      assertFailedWith(await publishAndSettle(herald, webhookId, tenantId), 'tls');

      // The handshake failed, so no request ever reached the receiver.
      assert.equal(tlsReceiver.requests.length, seenBefore);
    });
  });

  describe('proxies', () => {
    test('an http target goes through the proxy as a forwarded request', async () => {
      const proxy = track(cleanups, await startProxy(), (p) => p.close());
      const receiver = track(cleanups, await startReceiver(), (r) => r.close());
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, {
        url: `${receiver.url}/via-proxy`,
        proxy: { url: proxy.url },
      });
      const delivery = await publishAndSettle(herald, webhookId, tenantId);
      assert.equal(delivery.status, 'success', JSON.stringify(delivery));
      assert.deepEqual(proxy.seen, [{ kind: 'forward', target: `${receiver.url}/via-proxy`, method: 'POST' }]);
      assert.equal(receiver.requests.length, 1);
      assertIntact(receiver.requests[0], tenantId);
      await runCleanups(cleanups);
    });

    test('an https target with its CA goes through a CONNECT tunnel', async () => {
      const proxy = track(cleanups, await startProxy(), (p) => p.close());
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, {
        url: `${tlsReceiver.url}/tunnelled`,
        base64CA: pki.base64CA,
        proxy: { url: proxy.url },
      });
      const delivery = await publishAndSettle(herald, webhookId, tenantId);
      assert.equal(delivery.status, 'success', JSON.stringify(delivery));
      assert.deepEqual(proxy.seen, [{ kind: 'connect', target: `127.0.0.1:${tlsReceiver.port}`, method: 'CONNECT' }]);
      const request = tlsReceiver.requests.find((r) => r.url === '/tunnelled');
      assert.ok(request, 'the tunnelled request reached the receiver');
      assertIntact(request, tenantId);
      await runCleanups(cleanups);
    });

    test('a proxy that requires authentication accepts the credentials of proxy.url', async () => {
      const credentials = { username: 'relay', password: 'p@ss:word' };
      const proxy = track(cleanups, await startProxy({ requireAuth: credentials }), (p) => p.close());
      const receiver = track(cleanups, await startReceiver(), (r) => r.close());
      const proxyUrl = new URL(proxy.url);
      proxyUrl.username = credentials.username;
      proxyUrl.password = credentials.password;

      const forwardTenant = nextTenant();
      const forwardId = await createWebhook(herald, forwardTenant, {
        url: `${receiver.url}/auth-forward`,
        proxy: { url: proxyUrl.toString() },
      });
      const forwarded = await publishAndSettle(herald, forwardId, forwardTenant);
      assert.equal(forwarded.status, 'success', JSON.stringify(forwarded));
      assertIntact(receiver.requests[0], forwardTenant);

      const tunnelTenant = nextTenant();
      const tunnelId = await createWebhook(herald, tunnelTenant, {
        url: `${tlsReceiver.url}/auth-tunnel`,
        base64CA: pki.base64CA,
        proxy: { url: proxyUrl.toString() },
      });
      const tunnelled = await publishAndSettle(herald, tunnelId, tunnelTenant);
      assert.equal(tunnelled.status, 'success', JSON.stringify(tunnelled));
      assert.deepEqual(
        proxy.seen.map((seen) => seen.kind),
        ['forward', 'connect'],
      );
      // The proxy password is a credential: the API shows it masked.
      const view = await herald.get(`/api/webhooks/${tunnelId}`);
      assert.doesNotMatch(JSON.stringify(view.body), /p@ss|word/);
      await runCleanups(cleanups);
    });

    test('an unreachable proxy fails the delivery with the proxy named as the cause', async () => {
      const receiver = track(cleanups, await startReceiver(), (r) => r.close());
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, {
        url: `${receiver.url}/never`,
        proxy: { url: `http://127.0.0.1:${await closedPort()}` },
      });
      const delivery = await publishAndSettle(herald, webhookId, tenantId);
      assertFailedWith(delivery, 'proxy');
      assert.equal(receiver.requests.length, 0);
      await runCleanups(cleanups);
    });
  });

  describe('failures and their causes', () => {
    test('a closed port is reported as refused', async () => {
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, { url: `http://127.0.0.1:${await closedPort()}/hook` });
      assertFailedWith(await publishAndSettle(herald, webhookId, tenantId), 'refused');
    });

    test('a host that does not resolve is reported as dns', async () => {
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, { url: 'http://no-such-receiver.invalid/hook' });
      assertFailedWith(await publishAndSettle(herald, webhookId, tenantId), 'dns');
    });

    test('a receiver that never answers is reported as timeout', async () => {
      const hanging = track(cleanups, await startReceiver({ responder: () => 'hang' }), (r) => r.close());
      const impatient = await startTestHerald({ deliveryTimeoutMs: 300 });
      track(cleanups, impatient, (h) => h.stop({ removeData: true }));
      const tenantId = nextTenant();
      const webhookId = await createWebhook(impatient, tenantId, { url: `${hanging.url}/slow` });
      assertFailedWith(await publishAndSettle(impatient, webhookId, tenantId), 'timeout');
      // It did reach the receiver: the cause is the missing answer, not the connection.
      assert.equal(hanging.requests.length, 1);
      await runCleanups(cleanups);
    });

    test('a receiver that drops the connection is reported as connection', async () => {
      const dropping = track(cleanups, await startReceiver({ responder: () => 'destroy' }), (r) => r.close());
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, { url: `${dropping.url}/drop` });
      assertFailedWith(await publishAndSettle(herald, webhookId, tenantId), 'connection');
      assert.equal(dropping.requests.length, 1);
      await runCleanups(cleanups);
    });

    test('a 302 is a failure with code redirect and is not followed', async () => {
      const elsewhere = track(cleanups, await startReceiver(), (r) => r.close());
      const redirecting = track(
        cleanups,
        await startReceiver({
          responder: () => ({ status: 302, headers: { location: `${elsewhere.url}/moved` }, body: 'moved' }),
        }),
        (r) => r.close(),
      );
      const tenantId = nextTenant();
      const webhookId = await createWebhook(herald, tenantId, { url: `${redirecting.url}/old` });
      const delivery = await publishAndSettle(herald, webhookId, tenantId);
      assert.equal(delivery.status, 'error');
      assert.equal(delivery.statusCode, 302);
      assert.equal(delivery.error.code, 'redirect');
      assert.equal(delivery.attemptLog[0].statusCode, 302);
      assert.equal(redirecting.requests.length, 1);
      assert.equal(elsewhere.requests.length, 0);
      await runCleanups(cleanups);
    });
  });

  describe('private network guard (allowPrivateNetworks off)', () => {
    let guarded: TestHerald;
    let receiver: Receiver;
    let proxy: TestProxy;

    before(async () => {
      receiver = await startReceiver();
      proxy = await startProxy();
      guarded = await startTestHerald({ allowPrivateNetworks: false });
    });

    after(async () => {
      await guarded?.stop({ removeData: true });
      await receiver?.close();
      await proxy?.close();
    });

    test('webhooks on loopback addresses, however spelled, are refused on create and edit', async () => {
      const port = receiver.port;
      const spellings = [
        `http://127.0.0.1:${port}/hook`,
        `http://[::1]:${port}/hook`,
        `http://0x7f000001:${port}/hook`,
        `http://2130706433:${port}/hook`,
        `http://0177.0.0.1:${port}/hook`,
        `http://127.1:${port}/hook`,
        `http://0.0.0.0:${port}/hook`,
        `http://[::ffff:127.0.0.1]:${port}/hook`,
        `https://[0:0:0:0:0:0:0:1]:${port}/hook`,
        'http://169.254.169.254/latest/meta-data/',
        'http://10.1.2.3/hook',
      ];
      for (const url of spellings) {
        const refused = await guarded.post('/api/webhooks', { url, events: ['project_created'], secret: SECRET });
        assert.equal(refused.status, 400, `${url}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.field, 'url', url);
      }
      const proxied = await guarded.post('/api/webhooks', {
        url: 'http://receiver.example/hook',
        events: ['project_created'],
        secret: SECRET,
        proxy: { url: `http://127.0.0.1:${proxy.port}` },
      });
      assert.equal(proxied.status, 400, JSON.stringify(proxied.body));
      assert.equal(proxied.body.field, 'proxy.url');

      const created = await guarded.post('/api/webhooks', {
        url: 'https://receiver.example/hook',
        events: ['project_created'],
        secret: SECRET,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const moved = await guarded.patch(`/api/webhooks/${created.body.id}`, { url: `http://0x7f.1:${port}/hook` });
      assert.equal(moved.status, 400, JSON.stringify(moved.body));
      assert.equal(moved.body.field, 'url');
      const list = await guarded.get('/api/webhooks');
      assert.deepEqual(
        list.body.data.map((w: { url: string }) => w.url),
        ['https://receiver.example/hook'],
      );
      assert.equal((await guarded.delete(`/api/webhooks/${created.body.id}`)).status, 204);
    });

    test('a name resolving to loopback is accepted but its delivery is blocked', async () => {
      const tenantId = nextTenant();
      const webhookId = await createWebhook(guarded, tenantId, { url: `http://localhost:${receiver.port}/hook` });
      assertFailedWith(await publishAndSettle(guarded, webhookId, tenantId), 'blocked_address');
      assert.equal(receiver.requests.length, 0);
    });

    test('a target name resolving to loopback stays blocked behind a proxy', async () => {
      const tenantId = nextTenant();
      const webhookId = await createWebhook(guarded, tenantId, {
        url: `http://localhost:${receiver.port}/hook`,
        proxy: { url: `http://localhost:${proxy.port}` },
      });
      assertFailedWith(await publishAndSettle(guarded, webhookId, tenantId), 'blocked_address');
      assert.equal(receiver.requests.length, 0);
      assert.equal(proxy.seen.length, 0);
    });

    test('a proxy name resolving to loopback is blocked as well', async () => {
      const tenantId = nextTenant();
      // A public address literal (TEST-NET-3) passes the target check; the proxy must not.
      const webhookId = await createWebhook(guarded, tenantId, {
        url: 'http://203.0.113.7/hook',
        proxy: { url: `http://localhost:${proxy.port}` },
      });
      assertFailedWith(await publishAndSettle(guarded, webhookId, tenantId), 'blocked_address');
      assert.equal(proxy.seen.length, 0);
    });
  });
});
