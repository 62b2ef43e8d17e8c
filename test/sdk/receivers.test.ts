import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { startReceiver, waitUntil, type Receiver, type ReceivedRequest } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';
import {
  WebhookVerificationError,
  createReplayGuard,
  heraldExpress,
  heraldFastify,
  heraldNodeHandler,
  isHeraldEvent,
  verifyHmacSignature,
  verifyMiaSignature,
  verifyStandardWebhook,
  type HeraldEnvelope,
  type HeraldReceiverOptions,
  type SignatureScheme,
  type VerifiedDelivery,
} from '../../src/sdk/index.js';

/**
 * The SDK's receiver side against real deliveries: a Herald started here delivers to node:http,
 * Express and Fastify receivers that use the middleware, one route per signature scheme. Then
 * real captured requests are sent again, altered, to check every refusal.
 */

// Non-ASCII on purpose: every scheme must use the secret's UTF-8 bytes.
const SECRET = 'sdk-sécret-ключ-🔑-7781';
const OLD_SECRET = 'sdk-rotated-out-secret-31';
const NEW_SECRET = 'sdk-rotated-in-secret-77';
const SCHEMES: SignatureScheme[] = ['standard', 'mia', 'hmac', 'any'];
const FRAMEWORKS = ['node', 'express', 'fastify'] as const;
type Framework = (typeof FRAMEWORKS)[number];

interface Accepted {
  route: string;
  delivery: VerifiedDelivery;
}

interface TestReceiver {
  url: string;
  accepted: Accepted[];
  close(): Promise<void>;
}

/** Route options: the scheme comes from the path (`/standard`, `/mia`...), `/stale` sees a clock 10 minutes ahead. */
function routeOptions(route: string, guard: ReturnType<typeof createReplayGuard>): HeraldReceiverOptions {
  if (route === 'stale') return { secret: SECRET, scheme: 'standard', now: () => Date.now() + 10 * 60_000 };
  if (route === 'rotation-old') return { secret: OLD_SECRET, scheme: 'standard', replayGuard: guard, sender: route };
  if (route === 'rotation-new') return { secret: NEW_SECRET, scheme: 'standard', replayGuard: guard, sender: route };
  // One guard for every route, told apart by `sender`: the same event reaches several webhooks.
  return { secret: SECRET, scheme: route as SignatureScheme, replayGuard: guard, sender: route, bodyLimit: 64 * 1024 };
}

const ROUTES = [...SCHEMES, 'stale', 'rotation-old', 'rotation-new'];

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function startNodeReceiver(): Promise<TestReceiver> {
  const accepted: Accepted[] = [];
  const guard = createReplayGuard({ maxIds: 100 });
  const handlers = new Map(
    ROUTES.map((route) => [
      route,
      heraldNodeHandler(routeOptions(route, guard), (delivery, _req, res) => {
        accepted.push({ route, delivery });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }),
    ]),
  );
  const server = http.createServer((req, res) => {
    const handler = handlers.get((req.url ?? '').slice(1));
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  const url = await listen(server);
  return { url, accepted, close: () => closeServer(server) };
}

async function startExpressReceiver(): Promise<TestReceiver> {
  const accepted: Accepted[] = [];
  const guard = createReplayGuard({ maxIds: 100 });
  const app = express();
  for (const route of ROUTES) {
    app.post(`/${route}`, heraldExpress(routeOptions(route, guard)), (req, res) => {
      const delivery = (req as typeof req & { herald: VerifiedDelivery }).herald;
      assert.deepEqual(req.body, delivery.envelope);
      accepted.push({ route, delivery });
      res.status(204).end();
    });
  }
  const server = http.createServer(app);
  const url = await listen(server);
  return { url, accepted, close: () => closeServer(server) };
}

async function startFastifyReceiver(): Promise<TestReceiver & { app: FastifyInstance }> {
  const accepted: Accepted[] = [];
  const guard = createReplayGuard({ maxIds: 100 });
  const app = Fastify();
  for (const route of ROUTES) {
    await app.register(async (scope) => {
      await scope.register(heraldFastify(routeOptions(route, guard)));
      scope.post(`/${route}`, async (request) => {
        const delivery = (request as typeof request & { herald: VerifiedDelivery }).herald;
        assert.deepEqual(request.body, delivery.envelope);
        accepted.push({ route, delivery });
        return { ok: true };
      });
    });
  }
  // A route outside the scopes keeps Fastify's own JSON parsing.
  app.post('/plain', async (request) => ({ echoed: request.body }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, accepted, app, close: () => app.close() };
}

async function createWebhook(herald: TestHerald, url: string, secret: string): Promise<string> {
  const created = await herald.post('/api/webhooks', { url, events: ['project_created', 'tag_created', 'my_custom_event'], secret });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

/** Sends a captured delivery again, with changes, and answers the status and JSON body. */
async function resend(
  url: string,
  request: ReceivedRequest,
  change: { body?: Buffer; headers?: Record<string, string | undefined> } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'x-mia-signature', 'x-mia-token', 'x-signature', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  for (const [name, value] of Object.entries(change.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const response = await fetch(url, { method: 'POST', headers, body: new Uint8Array(change.body ?? request.body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A request whose `x-mia-signature` is sent twice, which fetch cannot do: written on a raw socket. */
function postWithRepeatedHeader(url: string, request: ReceivedRequest): Promise<{ status: number; body: any }> {
  const target = new URL(url);
  const signature = String(request.headers['x-mia-signature']);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(target.port), target.hostname, () => {
      socket.write(
        `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\n` +
          `X-Mia-Signature: ${signature}\r\nX-Mia-Signature: ${signature}\r\n` +
          `Content-Length: ${request.body.length}\r\nConnection: close\r\n\r\n`,
      );
      socket.end(request.body);
    });
    let text = '';
    socket.on('data', (chunk) => (text += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
      const body = text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
      resolve({ status, body: JSON.parse(body) });
    });
  });
}

describe('SDK receivers against real Herald deliveries', () => {
  let herald: TestHerald;
  let capture: Receiver;
  let rotationCapture: Receiver;
  const receivers = {} as Record<Framework, TestReceiver>;
  let published: { id: string; eventTimestamp: number };
  let rotated: ReceivedRequest;
  let olderId: string;

  before(async () => {
    herald = await startTestHerald();
    capture = await startReceiver();
    rotationCapture = await startReceiver();
    receivers.node = await startNodeReceiver();
    receivers.express = await startExpressReceiver();
    receivers.fastify = await startFastifyReceiver();
    const created = await herald.post('/api/event-types', { name: 'my_custom_event', schema: { type: 'object' } });
    assert.ok(created.status === 201 || created.status === 409, JSON.stringify(created.body));
    await createWebhook(herald, `${capture.url}/capture`, SECRET);
    for (const framework of FRAMEWORKS) {
      for (const scheme of SCHEMES) await createWebhook(herald, `${receivers[framework].url}/${scheme}`, SECRET);
    }
    // A rotated webhook: Herald signs with both secrets while the old one is in its grace period.
    const rotatedHook = await createWebhook(herald, `${rotationCapture.url}/rotated`, OLD_SECRET);
    const patched = await herald.patch(`/api/webhooks/${rotatedHook}`, { secret: NEW_SECRET, keepPreviousSecretFor: 3600 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));

    const eventTimestamp = Date.now();
    const answer = await herald.post('/api/events', {
      eventName: 'tag_created',
      eventTimestamp,
      payload: { tenantId: 'acme', projectId: 'shop', tagName: 'v1.2.3', message: 'näive release 🚀' },
    });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    published = { id: answer.body.id, eventTimestamp };
    await capture.waitForRequests(1);
    [rotated] = await rotationCapture.waitForRequests(1);
    // Once every receiver has the event, a second one stamped earlier: its real deliveries
    // verify but must be refused by the replay guards as older than what was accepted.
    await waitUntil(() => FRAMEWORKS.every((framework) => receivers[framework].accepted.length >= SCHEMES.length), {
      message: 'not every receiver accepted the first event',
    });
    const older = await herald.post('/api/events', {
      eventName: 'my_custom_event',
      eventTimestamp: eventTimestamp - 60_000,
      payload: { tenantId: 'acme', projectId: 'shop', note: 'stamped a minute earlier' },
    });
    assert.equal(older.status, 202, JSON.stringify(older.body));
    olderId = older.body.id;
    await capture.waitForRequests(2);
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await capture?.close();
    await rotationCapture?.close();
    for (const framework of FRAMEWORKS) await receivers[framework]?.close();
  });

  for (const framework of FRAMEWORKS) {
    test(`${framework}: every scheme verifies Herald's real delivery and exposes the envelope`, async () => {
      const receiver = receivers[framework];
      await waitUntil(() => SCHEMES.every((scheme) => receiver.accepted.some((a) => a.route === scheme)), {
        message: `${framework} receiver did not accept the event on every scheme route`,
      });
      for (const scheme of SCHEMES) {
        const { delivery } = receiver.accepted.find((a) => a.route === scheme)!;
        assert.equal(delivery.scheme, scheme === 'any' ? 'standard' : scheme);
        assert.equal(delivery.webhookId, scheme === 'standard' || scheme === 'any' ? published.id : undefined);
        const envelope: HeraldEnvelope = delivery.envelope;
        assert.ok(isHeraldEvent(envelope, 'tag_created'));
        assert.equal(envelope.payload.tagName, 'v1.2.3');
        assert.equal(envelope.eventTimestamp, published.eventTimestamp);
      }
      // Herald saw a 2xx on every webhook.
      await waitUntil(async () => {
        const hooks = await herald.get('/api/webhooks');
        const ours = hooks.body.data.filter((hook: { url: string }) => hook.url.startsWith(receiver.url));
        const counts = await Promise.all(
          ours.map(async (hook: { id: string }) => (await herald.get(`/api/webhooks/${hook.id}/deliveries?status=success`)).body.data.length),
        );
        return ours.length === SCHEMES.length && counts.every((count) => count === 1);
      }, { message: `${framework}: not every delivery succeeded` });
    });

    test(`${framework}: tampered body, wrong secret, stale timestamp and odd headers are refused with 401`, async () => {
      const { url } = receivers[framework];
      const [original] = capture.requests;
      const tampered = Buffer.from(original.body.toString('utf8').replace('v1.2.3', 'v9.9.9'));
      for (const scheme of SCHEMES) {
        const refused = await resend(`${url}/${scheme}`, original, { body: tampered });
        assert.deepEqual([refused.status, refused.body.error], [401, 'bad-signature'], `${scheme} with a tampered body`);
      }
      // A route configured with another secret refuses the genuine delivery.
      const wrongSecret = await resend(`${url}/rotation-old`, original);
      assert.deepEqual([wrongSecret.status, wrongSecret.body.error], [401, 'bad-signature']);
      // The id is signed: changing it breaks the signature.
      const otherId = await resend(`${url}/standard`, original, { headers: { 'webhook-id': 'evt_forged' } });
      assert.deepEqual([otherId.status, otherId.body.error], [401, 'bad-signature']);
      const stale = await resend(`${url}/stale`, original);
      assert.deepEqual([stale.status, stale.body.error], [401, 'stale-timestamp']);
      const missing = await resend(`${url}/standard`, original, { headers: { 'webhook-signature': undefined } });
      assert.deepEqual([missing.status, missing.body.error], [401, 'missing-headers']);
      const noMia = await resend(`${url}/mia`, original, { headers: { 'x-mia-signature': undefined, 'x-mia-token': undefined } });
      assert.deepEqual([noMia.status, noMia.body.error], [401, 'missing-headers']);
      const repeated = await postWithRepeatedHeader(`${url}/mia`, original);
      assert.deepEqual([repeated.status, repeated.body.error], [401, 'repeated-header']);
      // Prefixed signatures are accepted, but this one is a replay of an accepted event.
      const prefixed = await resend(`${url}/mia`, original, { headers: { 'x-mia-signature': `sha256=${original.headers['x-mia-signature']}` } });
      assert.deepEqual([prefixed.status, prefixed.body.error], [401, 'replayed']);
      const tooLarge = await resend(`${url}/hmac`, original, { body: Buffer.alloc(70 * 1024, 0x20) });
      assert.equal(tooLarge.status, 413);
    });

    test(`${framework}: a replayed webhook-id and an older eventTimestamp are refused`, async () => {
      const { url, accepted } = receivers[framework];
      const [original] = capture.requests;
      const before = accepted.length;
      // The exact delivery again: same id, same signatures, still within the tolerance.
      const replay = await resend(`${url}/standard`, original);
      assert.deepEqual([replay.status, replay.body.error], [401, 'replayed']);
      // The console schemes carry no id: an exact copy is still recognised by its signed bytes.
      for (const scheme of ['mia', 'hmac']) {
        const copy = await resend(`${url}/${scheme}`, original);
        assert.deepEqual([copy.status, copy.body.error], [401, 'replayed'], scheme);
      }
      // The older event reached every route from Herald itself and was refused each time.
      const older = capture.requests.find((request) => request.headers['webhook-id'] === olderId)!;
      assert.ok(older, 'the older event was captured');
      for (const scheme of SCHEMES) {
        const again = await resend(`${url}/${scheme}`, older);
        assert.deepEqual([again.status, again.body.error], [401, 'replayed'], `${scheme}: older eventTimestamp`);
      }
      const hooks = await herald.get('/api/webhooks');
      for (const hook of hooks.body.data.filter((h: { url: string }) => h.url.startsWith(url))) {
        await waitUntil(async () => {
          const rows = (await herald.get(`/api/webhooks/${hook.id}/deliveries?eventName=my_custom_event`)).body.data;
          return rows.length === 1 && rows[0].statusCode === 401;
        }, { message: `${hook.url}: the older event was not refused with 401` });
      }
      assert.ok(!accepted.some((a) => a.delivery.envelope.eventName === 'my_custom_event'), 'the older event reached a handler');
      assert.equal(accepted.length, before, 'nothing replayed reached the handler');
    });

    test(`${framework}: during a rotation either secret verifies the two v1 entries`, async () => {
      const { url, accepted } = receivers[framework];
      assert.equal(String(rotated.headers['webhook-signature']).split(' ').length, 2);
      for (const route of ['rotation-old', 'rotation-new']) {
        const answer = await resend(`${url}/${route}`, rotated);
        assert.ok(answer.status >= 200 && answer.status < 300, `${route}: ${JSON.stringify(answer.body)}`);
        assert.ok(accepted.some((a) => a.route === route && a.delivery.webhookId === published.id));
      }
    });
  }

  test('fastify: routes outside the verified scope keep normal JSON parsing', async () => {
    const response = await fetch(`${receivers.fastify.url}/plain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.deepEqual(await response.json(), { echoed: { a: 1 } });
  });

  test('the verify functions check each scheme over the real request', () => {
    const [request] = capture.requests;
    const mia = String(request.headers['x-mia-signature']);
    assert.equal(verifyMiaSignature(request.body, mia, SECRET), true);
    assert.equal(verifyMiaSignature(request.body.toString('utf8'), `sha256=${mia}`, SECRET), true);
    assert.equal(verifyMiaSignature(request.body, String(request.headers['x-mia-token']), SECRET), true);
    assert.equal(verifyMiaSignature(request.body, mia.toUpperCase(), SECRET), true);
    assert.equal(verifyMiaSignature(request.body, [mia], SECRET), true);
    assert.equal(verifyMiaSignature(request.body, [mia, mia], SECRET), false, 'repeated header');
    assert.equal(verifyMiaSignature(request.body, mia, ''), false, 'no secret configured');
    assert.equal(verifyMiaSignature(request.body, undefined, SECRET), false);
    assert.equal(verifyMiaSignature(request.body, mia, 'wrong-secret'), false);
    assert.equal(verifyMiaSignature(Buffer.concat([request.body, Buffer.from(' ')]), mia, SECRET), false);

    const hmac = String(request.headers['x-signature']);
    assert.equal(verifyHmacSignature(request.body, hmac, SECRET), true);
    assert.equal(verifyHmacSignature(request.body, `sha256=${hmac}`, SECRET), true);
    assert.equal(verifyHmacSignature(request.body, hmac, 'wrong-secret'), false);
    assert.equal(verifyHmacSignature(request.body, mia, SECRET), false, 'another scheme');

    const now = Number(request.headers['webhook-timestamp']) * 1000;
    const result = verifyStandardWebhook(request.body, request.headers, SECRET, { now });
    assert.equal(result.webhookId, published.id);
    assert.equal(verifyStandardWebhook(request.body, new Headers(request.headers as Record<string, string>), SECRET).webhookId, published.id);
    const reason = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        assert.ok(error instanceof WebhookVerificationError);
        return error.reason;
      }
      return 'accepted';
    };
    assert.equal(reason(() => verifyStandardWebhook(request.body, request.headers, 'wrong-secret')), 'bad-signature');
    assert.equal(reason(() => verifyStandardWebhook(request.body, request.headers, SECRET, { now: now + 301_000 })), 'stale-timestamp');
    assert.equal(reason(() => verifyStandardWebhook(request.body, request.headers, SECRET, { now: now - 301_000 })), 'stale-timestamp');
    assert.equal(reason(() => verifyStandardWebhook(request.body, request.headers, SECRET, { now: now + 299_000 })), 'accepted');
    assert.equal(reason(() => verifyStandardWebhook(request.body, request.headers, SECRET, { now: new Date(now + 60_000), toleranceSeconds: 30 })), 'stale-timestamp');
    assert.equal(reason(() => verifyStandardWebhook(request.body, {}, SECRET)), 'missing-headers');
    assert.equal(reason(() => verifyStandardWebhook(request.body, request.headers, [])), 'no-secret');
    assert.equal(reason(() => verifyStandardWebhook(request.body, { ...request.headers, 'webhook-id': ['a', 'b'] }, SECRET)), 'repeated-header');

    const rotatedNow = Number(rotated.headers['webhook-timestamp']) * 1000;
    for (const secret of [OLD_SECRET, NEW_SECRET, [NEW_SECRET, 'unrelated'], ['unrelated', OLD_SECRET]]) {
      assert.equal(reason(() => verifyStandardWebhook(rotated.body, rotated.headers, secret, { now: rotatedNow })), 'accepted');
    }
    assert.equal(reason(() => verifyStandardWebhook(rotated.body, rotated.headers, SECRET)), 'bad-signature');
    // The console schemes sign with the new secret only.
    assert.equal(verifyMiaSignature(rotated.body, rotated.headers['x-mia-signature'], NEW_SECRET), true);
    assert.equal(verifyMiaSignature(rotated.body, rotated.headers['x-mia-signature'], OLD_SECRET), false);
  });
});

describe('createReplayGuard', () => {
  test('refuses seen ids and older timestamps per sender, with bounded memory', () => {
    const guard = createReplayGuard({ maxIds: 2, maxSenders: 2 });
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 10, webhookId: 'e1' }), true);
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 10, webhookId: 'e1' }), false, 'same id');
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 10, webhookId: 'e2' }), true, 'same millisecond, other event');
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 9, webhookId: 'e3' }), false, 'older');
    assert.equal(guard.check({ sender: 'b', eventTimestamp: 1, webhookId: 'e1' }), true, 'senders are apart');
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 11, webhookId: 'e4' }), true);
    // maxIds = 2: e1 was forgotten, but its timestamp is older than the newest, so it stays refused.
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 10, webhookId: 'e1' }), false);
    assert.equal(guard.check({ eventTimestamp: 5 }), true, 'default sender');
    // maxSenders = 2: 'b' (least recently used) was forgotten when 'default' arrived.
    assert.equal(guard.check({ sender: 'b', eventTimestamp: 1, webhookId: 'e1' }), true);
    guard.forget();
    assert.equal(guard.check({ sender: 'a', eventTimestamp: 10, webhookId: 'e1' }), true);
  });
});
