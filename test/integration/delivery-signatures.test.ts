import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, ReceivedRequest } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';

/**
 * What a receiver written from the documentation does: recompute every signature from the raw
 * body bytes and the shared secret with nothing but node:crypto, and compare in constant time.
 * Nothing here imports Herald's own signing code, so a mistake there cannot hide itself.
 */

// Non-ASCII on purpose: the secret must be used as UTF-8 bytes by every scheme.
const SECRET = 'sécret-ключ-秘密-🔑-0042';
const WRONG_SECRET = 'secret-kljuch-mimi-0042';
const CUSTOM_CONTENT_TYPE = 'application/vnd.herald.event+json; charset=utf-8';

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  assert.equal(typeof value, 'string', `header ${name} is missing or repeated`);
  return value as string;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Console scheme: hex(sha256(body bytes followed by the secret's bytes)). */
function verifyMia(body: Buffer, secret: string, received: string): boolean {
  const expected = createHash('sha256').update(Buffer.concat([body, Buffer.from(secret, 'utf8')])).digest('hex');
  return sameText(expected, received);
}

/** Workspace scheme: hex(HMAC-SHA256(key = secret, message = body)). */
function verifyHmac(body: Buffer, secret: string, received: string): boolean {
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
  return sameText(expected, received);
}

/** Standard Webhooks: `v1,` + base64(HMAC-SHA256(secret bytes, `${id}.${timestamp}.${body}`)).
 * The header may list several space-separated signatures; one matching is enough. */
function verifyStandard(body: Buffer, secret: string, headers: IncomingHttpHeaders): boolean {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]);
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(signed).digest('base64');
  return header(headers, 'webhook-signature')
    .split(' ')
    .some((entry) => entry.startsWith('v1,') && sameText(entry.slice(3), expected));
}

interface Verdict {
  mia: boolean;
  token: boolean;
  hmac: boolean;
  standard: boolean;
}

function verifyAll(request: ReceivedRequest, secret: string): Verdict {
  return {
    mia: verifyMia(request.body, secret, header(request.headers, 'x-mia-signature')),
    token: verifyMia(request.body, secret, header(request.headers, 'x-mia-token')),
    hmac: verifyHmac(request.body, secret, header(request.headers, 'x-signature')),
    standard: verifyStandard(request.body, secret, request.headers),
  };
}

const ALL_VALID: Verdict = { mia: true, token: true, hmac: true, standard: true };
const NONE_VALID: Verdict = { mia: false, token: false, hmac: false, standard: false };

async function createWebhook(herald: TestHerald, body: Record<string, unknown>): Promise<string> {
  const created = await herald.post('/api/webhooks', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function waitForSuccess(herald: TestHerald, webhookId: string, count: number): Promise<void> {
  await waitUntil(
    async () => {
      const list = await herald.get(`/api/webhooks/${webhookId}/deliveries?status=success`);
      return list.body.data.length >= count;
    },
    { message: `webhook ${webhookId} expected ${count} successful deliveries` },
  );
}

describe('delivery signatures', () => {
  let herald: TestHerald;
  let postReceiver: Receiver;
  let putReceiver: Receiver;
  let postWebhookId: string;
  let putWebhookId: string;

  // A receiver that checks the signatures itself and answers 401 when one does not verify, so
  // Herald's own history also shows whether the receiver accepted the request.
  const verifyingResponder = (request: ReceivedRequest) => {
    const verdict = verifyAll(request, SECRET);
    const ok = Object.values(verdict).every(Boolean);
    return ok ? { status: 204 } : { status: 401, body: JSON.stringify(verdict) };
  };

  before(async () => {
    postReceiver = await startReceiver({ responder: verifyingResponder });
    putReceiver = await startReceiver({ responder: verifyingResponder });
    herald = await startTestHerald();
    postWebhookId = await createWebhook(herald, {
      url: `${postReceiver.url}/hooks/post`,
      events: ['project_created', 'configuration_saved'],
      secret: SECRET,
    });
    putWebhookId = await createWebhook(herald, {
      url: `${putReceiver.url}/hooks/put?source=herald`,
      events: ['project_created', 'configuration_saved'],
      secret: SECRET,
      method: 'PUT',
      contentType: CUSTOM_CONTENT_TYPE,
    });
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await postReceiver?.close();
    await putReceiver?.close();
  });

  test('every signature header verifies over the raw body, for POST and for PUT', async () => {
    const published = await herald.post('/api/events', {
      eventName: 'project_created',
      eventTimestamp: 1_700_000_000,
      payload: { tenantId: 'acme', projectId: 'billing' },
    });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 2);
    await waitForSuccess(herald, postWebhookId, 1);
    await waitForSuccess(herald, putWebhookId, 1);

    // One request per (event, webhook), nothing more.
    assert.equal(postReceiver.requests.length, 1);
    assert.equal(putReceiver.requests.length, 1);
    const [viaPost] = postReceiver.requests;
    const [viaPut] = putReceiver.requests;

    assert.equal(viaPost.method, 'POST');
    assert.equal(viaPost.url, '/hooks/post');
    assert.equal(viaPost.headers['content-type'], 'application/json');
    assert.equal(viaPut.method, 'PUT');
    assert.equal(viaPut.url, '/hooks/put?source=herald');
    assert.equal(viaPut.headers['content-type'], CUSTOM_CONTENT_TYPE);

    for (const request of [viaPost, viaPut]) {
      assert.deepEqual(verifyAll(request, SECRET), ALL_VALID);
      assert.match(header(request.headers, 'user-agent'), /herald/i);
      assert.equal(header(request.headers, 'x-mia-signature'), header(request.headers, 'x-mia-token'));
      assert.match(header(request.headers, 'x-mia-signature'), /^[0-9a-f]{64}$/);
      assert.match(header(request.headers, 'x-signature'), /^[0-9a-f]{64}$/);
      assert.match(header(request.headers, 'webhook-signature'), /^v1,[A-Za-z0-9+/]{43}=$/);
      assert.equal(header(request.headers, 'webhook-id'), published.body.id);
      const timestamp = header(request.headers, 'webhook-timestamp');
      assert.match(timestamp, /^\d{10}$/, 'webhook-timestamp is whole unix seconds');
      // Seconds, not milliseconds: a receiver compares it with its own clock to refuse replays.
      assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 600);

      // The body is the envelope, serialised once, with exactly the three documented fields.
      const envelope = JSON.parse(request.body.toString('utf8'));
      assert.deepEqual(Object.keys(envelope), ['eventName', 'eventTimestamp', 'payload']);
      assert.deepEqual(envelope, {
        eventName: 'project_created',
        eventTimestamp: 1_700_000_000,
        payload: { tenantId: 'acme', projectId: 'billing' },
      });
    }
    // Both webhooks got byte-identical bodies, since the event was serialised only once.
    assert.ok(viaPost.body.equals(viaPut.body));
  });

  test('unicode in the payload is signed over its UTF-8 bytes', async () => {
    const payload = {
      tenantId: 'société-Ω',
      projectId: 'プロジェクト-1',
      revisionName: 'main',
      savedChangesId: 'chg-1',
      author: { id: 'u-1', name: 'Zoë Ångström 🚀 — 张伟' },
      note: 'quotes " and \\ backslashes, tabs\tand a newline\n',
    };
    const published = await herald.post('/api/events', { eventName: 'configuration_saved', payload });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    await waitForSuccess(herald, postWebhookId, 2);
    await waitForSuccess(herald, putWebhookId, 2);

    for (const receiver of [postReceiver, putReceiver]) {
      const request = receiver.requests.find((r) => r.headers['webhook-id'] === published.body.id);
      assert.ok(request, 'the unicode event arrived');
      // Multi-byte characters travel as raw UTF-8, so bytes and characters differ in number.
      const text = request.body.toString('utf8');
      assert.notEqual(request.body.length, text.length);
      assert.deepEqual(JSON.parse(text).payload, payload);
      assert.deepEqual(verifyAll(request, SECRET), ALL_VALID);
    }
  });

  test('the signatures do not verify with another secret or a changed body', () => {
    const [request] = postReceiver.requests;
    assert.ok(request);
    assert.deepEqual(verifyAll(request, WRONG_SECRET), NONE_VALID);
    // The same secret spelled with different characters is a different secret.
    assert.deepEqual(verifyAll(request, SECRET.normalize('NFD')), NONE_VALID);

    const tampered: ReceivedRequest = {
      ...request,
      body: Buffer.from(request.body.toString('utf8').replace('acme', 'acmf'), 'utf8'),
    };
    assert.equal(tampered.body.length, request.body.length);
    assert.deepEqual(verifyAll(tampered, SECRET), NONE_VALID);

    // Standard Webhooks binds the id and time: replaying the body under another id fails.
    const replayed: ReceivedRequest = { ...request, headers: { ...request.headers, 'webhook-id': 'evt_other' } };
    assert.equal(verifyStandard(replayed.body, SECRET, replayed.headers), false);
  });

  test('a webhook with a different secret gets signatures the first secret cannot verify', async () => {
    const otherReceiver = await startReceiver();
    try {
      const otherId = await createWebhook(herald, {
        url: `${otherReceiver.url}/other`,
        events: ['project_created'],
        secret: WRONG_SECRET,
      });
      const published = await herald.post('/api/events', {
        eventName: 'project_created',
        payload: { tenantId: 'acme', projectId: 'other' },
      });
      assert.equal(published.status, 202);
      await waitForSuccess(herald, otherId, 1);
      const [request] = otherReceiver.requests;
      assert.deepEqual(verifyAll(request, WRONG_SECRET), ALL_VALID);
      assert.deepEqual(verifyAll(request, SECRET), NONE_VALID);
    } finally {
      await otherReceiver.close();
    }
  });
});
