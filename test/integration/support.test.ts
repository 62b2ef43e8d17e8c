import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Agent, ProxyAgent, request } from 'undici';
import type { Dispatcher } from 'undici';
import {
  createTestPki,
  createUnrelatedCaPem,
  failTimesThenSucceed,
  removeDir,
  startProxy,
  startReceiver,
  waitUntil,
} from '../support/index.js';
import type { Receiver, TestPki, TestProxy } from '../support/index.js';

const TLS_VERIFICATION_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
]);
// A colon in the password checks that only the first colon splits user and password.
const PROXY_USER = { username: 'relay', password: 's3cret:with-colon' };

type TestContext = { after(fn: () => unknown): void };

function pkiFor(t: TestContext, opts?: Parameters<typeof createTestPki>[0]): TestPki {
  const pki = createTestPki(opts);
  t.after(() => removeDir(pki.dir));
  return pki;
}

async function receiverFor(t: TestContext, opts?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const receiver = await startReceiver(opts);
  t.after(() => receiver.close());
  return receiver;
}

async function proxyFor(t: TestContext, opts?: Parameters<typeof startProxy>[0]): Promise<TestProxy> {
  const proxy = await startProxy(opts);
  t.after(() => proxy.close());
  return proxy;
}

function dispatcherFor<D extends Dispatcher>(t: TestContext, dispatcher: D): D {
  t.after(() => dispatcher.close());
  return dispatcher;
}

function basicToken(user: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
}

async function post(url: string, dispatcher: Dispatcher, body: string | Buffer) {
  const res = await request(url, { method: 'POST', body, dispatcher, headers: { 'content-type': 'application/json' } });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function tlsErrorCode(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => assert.fail('request should have been refused by TLS verification'),
    (caught: unknown) => caught as { code?: string },
  );
  return String(error.code);
}

/** Sends an absolute-form request by hand, so the exact request line is under test control. */
function postAbsoluteForm(proxyPort: number, targetUrl: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxyPort, method: 'POST', path: targetUrl, agent: false, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('PKI: server certificate is signed by the CA and names localhost plus extra names', (t) => {
  const pki = pkiFor(t, { hostnames: ['receiver.test'], ips: ['127.0.0.2'] });
  const ca = new X509Certificate(pki.caPem);
  const leaf = new X509Certificate(pki.certPem);

  assert.equal(ca.ca, true);
  assert.equal(leaf.ca, false);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(pki.keyPem)));
  for (const name of ['DNS:localhost', 'DNS:receiver.test', 'IP Address:127.0.0.1', 'IP Address:127.0.0.2']) {
    assert.ok(leaf.subjectAltName?.includes(name), `SAN should contain ${name}: ${leaf.subjectAltName}`);
  }
  assert.equal(Buffer.from(pki.base64CA, 'base64').toString('utf8'), pki.caPem);
  assert.equal(leaf.checkIssued(new X509Certificate(createUnrelatedCaPem())), false);
});

test('PKI: node tls accepts the server certificate for the name localhost', async (t) => {
  const pki = pkiFor(t);
  const receiver = await receiverFor(t, { tls: pki });
  const socket = tls.connect({ host: '127.0.0.1', port: receiver.port, servername: 'localhost', ca: pki.caPem });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  assert.equal(socket.authorized, true);
});

test('HTTPS receiver: reachable with the test CA, refused without it or with an unrelated CA', async (t) => {
  const pki = pkiFor(t);
  const receiver = await receiverFor(t, { tls: pki });
  assert.match(receiver.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const trusting = dispatcherFor(t, new Agent({ connect: { ca: pki.caPem } }));
  const ok = await post(`${receiver.url}/hook`, trusting, '{"event":"ping"}');
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'ok');

  const systemRootsOnly = dispatcherFor(t, new Agent());
  const unrelated = dispatcherFor(t, new Agent({ connect: { ca: createUnrelatedCaPem() } }));
  for (const dispatcher of [systemRootsOnly, unrelated]) {
    const code = await tlsErrorCode(post(`${receiver.url}/hook`, dispatcher, '{}'));
    assert.ok(TLS_VERIFICATION_ERRORS.has(code), `expected a TLS verification error, got ${code}`);
  }

  assert.equal(receiver.requests.length, 1);
  const [received] = receiver.requests;
  assert.equal(received.method, 'POST');
  assert.equal(received.url, '/hook');
  assert.equal(received.body.toString(), '{"event":"ping"}');
  assert.equal(received.headers['content-type'], 'application/json');
  assert.ok(received.rawHeaders.includes('content-type'));
});

test('proxy: forwards an absolute-form http POST and relays the response', async (t) => {
  const receiver = await receiverFor(t, {
    responder: () => ({ status: 202, body: 'accepted', headers: { 'x-receiver': 'yes' } }),
  });
  const proxy = await proxyFor(t);
  const viaProxy = dispatcherFor(t, new ProxyAgent({ uri: proxy.url, proxyTunnel: false }));
  const target = `${receiver.url}/hooks/orders?attempt=1`;

  const res = await post(target, viaProxy, '{"order":42}');

  assert.equal(res.status, 202);
  assert.equal(res.text, 'accepted');
  assert.equal(res.headers['x-receiver'], 'yes');
  assert.deepEqual(proxy.seen, [{ kind: 'forward', target, method: 'POST' }]);
  const [received] = await receiver.waitForRequests(1);
  assert.equal(received.url, '/hooks/orders?attempt=1');
  assert.equal(received.body.toString(), '{"order":42}');
});

test('proxy: tunnels an https POST through CONNECT with the body intact', async (t) => {
  const pki = pkiFor(t);
  const receiver = await receiverFor(t, { tls: pki });
  const proxy = await proxyFor(t);
  const viaProxy = dispatcherFor(t, new ProxyAgent({ uri: proxy.url, requestTls: { ca: pki.caPem } }));
  // Large enough to span many TCP writes through the tunnel.
  const body = Buffer.from(JSON.stringify({ payload: 'x'.repeat(256 * 1024) }));

  const res = await post(`${receiver.url}/secure`, viaProxy, body);

  assert.equal(res.status, 200);
  assert.deepEqual(proxy.seen, [{ kind: 'connect', target: `127.0.0.1:${receiver.port}`, method: 'CONNECT' }]);
  const [received] = await receiver.waitForRequests(1);
  assert.equal(received.url, '/secure');
  assert.ok(received.body.equals(body));
});

test('proxy auth: forwarding answers 407 without credentials and hides them from the target', async (t) => {
  const receiver = await receiverFor(t);
  const proxy = await proxyFor(t, { requireAuth: PROXY_USER });
  const target = `${receiver.url}/hook`;

  const refused = await postAbsoluteForm(proxy.port, target, 'one');
  assert.equal(refused.status, 407);
  assert.match(String(refused.headers['proxy-authenticate']), /^Basic/);

  const wrong = await postAbsoluteForm(proxy.port, target, 'two', { 'proxy-authorization': basicToken({ ...PROXY_USER, password: 'nope' }) });
  assert.equal(wrong.status, 407);

  const accepted = await postAbsoluteForm(proxy.port, target, 'three', { 'proxy-authorization': basicToken(PROXY_USER) });
  assert.equal(accepted.status, 200);
  assert.equal(accepted.text, 'ok');

  const received = await receiver.waitForRequests(1);
  assert.equal(received.length, 1);
  assert.equal(received[0].body.toString(), 'three');
  assert.equal(received[0].headers['proxy-authorization'], undefined);
  assert.deepEqual(proxy.seen.map((seen) => seen.kind), ['forward', 'forward', 'forward']);
});

test('proxy auth: CONNECT is refused without credentials and tunnels with them', async (t) => {
  const pki = pkiFor(t);
  const receiver = await receiverFor(t, { tls: pki });
  const proxy = await proxyFor(t, { requireAuth: PROXY_USER });
  const anonymous = dispatcherFor(t, new ProxyAgent({ uri: proxy.url, requestTls: { ca: pki.caPem } }));
  const authenticated = dispatcherFor(
    t,
    new ProxyAgent({ uri: proxy.url, token: basicToken(PROXY_USER), requestTls: { ca: pki.caPem } }),
  );

  await assert.rejects(post(`${receiver.url}/hook`, anonymous, '{}'), /407/);
  const res = await post(`${receiver.url}/hook`, authenticated, '{"ok":true}');

  assert.equal(res.status, 200);
  assert.deepEqual(proxy.seen.map((seen) => seen.kind), ['connect', 'connect']);
  const received = await receiver.waitForRequests(1);
  assert.equal(received.length, 1);
  assert.equal(received[0].body.toString(), '{"ok":true}');
});

test('failTimesThenSucceed: fails the first n requests, then answers 200', async (t) => {
  const receiver = await receiverFor(t, { responder: failTimesThenSucceed(2, 503) });
  const agent = dispatcherFor(t, new Agent());

  const statuses: number[] = [];
  for (let attempt = 0; attempt < 4; attempt += 1) {
    statuses.push((await post(`${receiver.url}/hook`, agent, `{"attempt":${attempt}}`)).status);
  }

  assert.deepEqual(statuses, [503, 503, 200, 200]);
  assert.equal(receiver.requests.length, 4);
  assert.ok(receiver.requests.every((req, index) => index === 0 || req.receivedAt >= receiver.requests[index - 1].receivedAt));
});

test('respondWith: delayed replies arrive late, destroy drops the connection', async (t) => {
  const receiver = await receiverFor(t);
  const agent = dispatcherFor(t, new Agent());

  receiver.respondWith(() => ({ status: 201, body: 'later', delayMs: 150 }));
  const startedAt = Date.now();
  const delayed = await post(`${receiver.url}/slow`, agent, '{}');
  assert.equal(delayed.status, 201);
  assert.ok(Date.now() - startedAt >= 140, 'reply should have been held back');

  receiver.respondWith(() => 'destroy');
  await assert.rejects(post(`${receiver.url}/drop`, agent, '{}'));
  assert.equal(receiver.requests.length, 2);
});

test("'hang' keeps the request open until close() cuts it", async (t) => {
  const receiver = await startReceiver({ responder: () => 'hang' });
  const agent = dispatcherFor(t, new Agent());
  const pending = post(`${receiver.url}/hook`, agent, '{}');
  const outcome = pending.then(() => 'answered', () => 'cut');

  await receiver.waitForRequests(1);
  const closeStartedAt = Date.now();
  await receiver.close();

  assert.equal(await outcome, 'cut');
  assert.ok(Date.now() - closeStartedAt < 2_000, 'close() must not wait for the hanging request');
  await receiver.close(); // closing twice is harmless
});

test('waitUntil: returns the truthy value, or times out naming the last outcome', async () => {
  let probes = 0;
  const value = await waitUntil(() => (++probes >= 3 ? { probes } : undefined), { intervalMs: 1 });
  assert.deepEqual(value, { probes: 3 });

  await assert.rejects(
    waitUntil(() => { throw new Error('not ready yet'); }, { timeoutMs: 50, message: 'queue drained' }),
    /queue drained .*timed out after 50 ms.*not ready yet/s,
  );
});
