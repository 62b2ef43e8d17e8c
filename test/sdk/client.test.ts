import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startReceiver, waitUntil, type Receiver } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';
import { Herald, HeraldApiError } from '../../src/sdk/index.js';

/**
 * The producer client against a real Herald, and through a flaky proxy in front of it that
 * answers 503 once, to check that retries reuse the idempotency key and never duplicate.
 */

interface FlakyProxy {
  url: string;
  /** Idempotency keys of the requests seen, in order. */
  keys: string[];
  close(): Promise<void>;
}

/**
 * Forwards requests to `target`. The first request is forwarded too (Herald stores the event),
 * but the client is told 503 with `Retry-After`, like a gateway that lost the answer.
 */
async function startFlakyProxy(target: string, retryAfter = '1'): Promise<FlakyProxy> {
  const keys: string[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    keys.push(String(req.headers['idempotency-key']));
    const upstream = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers: {
        authorization: String(req.headers.authorization),
        'content-type': String(req.headers['content-type']),
        'idempotency-key': String(req.headers['idempotency-key']),
      },
      body: new Uint8Array(Buffer.concat(chunks)),
    });
    const text = await upstream.text();
    if (keys.length === 1) {
      res.writeHead(503, { 'retry-after': retryAfter, 'content-type': 'application/json' }).end('{"error":"unavailable"}');
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const replayed = upstream.headers.get('idempotent-replayed');
    if (replayed) headers['idempotent-replayed'] = replayed;
    res.writeHead(upstream.status, headers).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keys,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('Herald producer client', () => {
  let herald: TestHerald;
  let receiver: Receiver;
  let client: Herald;

  before(async () => {
    herald = await startTestHerald();
    receiver = await startReceiver();
    const created = await herald.post('/api/webhooks', { url: `${receiver.url}/hook`, events: ['project_created', 'tag_created', 'service_created', 'company_user_removed'], secret: 'client-test-secret' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    client = new Herald({ baseUrl: `${herald.url}/`, token: herald.config.adminToken as string });
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await receiver?.close();
  });

  test('publishes one event and a batch; the events are delivered', async () => {
    const single = await client.publish({ eventName: 'project_created', payload: { tenantId: 'acme', projectId: 'shop' } });
    assert.match(single.id, /\S/);
    assert.equal(single.deliveries, 1);
    assert.equal(single.replayed, false);

    const batch = await client.publishBatch([
      { eventName: 'tag_created', eventTimestamp: 1_795_000_000_000, payload: { tenantId: 'acme', projectId: 'shop', tagName: 'v1' } },
      { eventName: 'company_user_removed', payload: { userId: 'u1', email: 'u1@example.com', resource: { companyId: 'acme' } } },
    ]);
    assert.equal(batch.events.length, 2);
    const ids = [single.id, ...batch.events.map((event) => event.id)];
    await waitUntil(() => ids.every((id) => receiver.requests.some((request) => request.headers['webhook-id'] === id)), {
      message: 'not every published event was delivered',
    });
  });

  test('a given idempotency key makes a repeat return the first answer', async () => {
    const key = `order-${Date.now()}`;
    const event = { eventName: 'service_created', payload: { tenantId: 'acme', projectId: 'shop', serviceName: 'api' } } as const;
    const first = await client.publish(event, { idempotencyKey: key });
    const second = await client.publish(event, { idempotencyKey: key });
    assert.equal(second.id, first.id);
    assert.equal(second.replayed, true);
    const reused = await client
      .publish({ eventName: 'service_created', payload: { tenantId: 'acme', projectId: 'shop', serviceName: 'other' } }, { idempotencyKey: key })
      .catch((error: unknown) => error);
    assert.ok(reused instanceof HeraldApiError);
    assert.equal(reused.status, 409);
    assert.equal(reused.code, 'idempotency_key_reused');
  });

  for (const kind of ['single', 'batch'] as const) {
    test(`${kind}: a 503 is retried after Retry-After with the same key, and nothing is duplicated`, async () => {
      const proxy = await startFlakyProxy(herald.url);
      try {
        const flaky = new Herald({ baseUrl: proxy.url, token: herald.config.adminToken as string, retries: 2 });
        const startedAt = Date.now();
        const tenantId = `flaky-${kind}`;
        const ids =
          kind === 'single'
            ? [(await flaky.publish({ eventName: 'project_created', payload: { tenantId, projectId: 'p' } })).id]
            : (
                await flaky.publishBatch([
                  { eventName: 'project_created', payload: { tenantId, projectId: 'p1' } },
                  { eventName: 'project_created', payload: { tenantId, projectId: 'p2' } },
                ])
              ).events.map((event) => event.id);
        assert.ok(Date.now() - startedAt >= 900, 'Retry-After: 1 was honoured');
        assert.equal(proxy.keys.length, 2);
        assert.match(proxy.keys[0], /\S{16,}/, 'a key was generated');
        assert.equal(proxy.keys[1], proxy.keys[0], 'the retry reused the key');

        // Herald stored the events once: one delivery per event, no second copy.
        await waitUntil(() => ids.every((id) => receiver.requests.some((r) => r.headers['webhook-id'] === id)));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const ours = receiver.requests.filter((r) => JSON.parse(r.body.toString('utf8')).payload.tenantId === tenantId);
        assert.equal(ours.length, ids.length, 'each event was delivered exactly once');
      } finally {
        await proxy.close();
      }
    });
  }

  test('network errors are retried; an exhausted retry budget surfaces the last error', async () => {
    let calls = 0;
    const failing: typeof fetch = async (input, init) => {
      calls++;
      if (calls === 1) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const retrying = new Herald({ baseUrl: herald.url, token: herald.config.adminToken as string, fetch: failing, retryDelayMs: 10 });
    const result = await retrying.publish({ eventName: 'project_created', payload: { tenantId: 'net', projectId: 'p' } });
    assert.equal(calls, 2);
    assert.equal(result.deliveries, 1);

    const alwaysBusy: typeof fetch = async () => new Response('{"error":"rate_limited","message":"slow down"}', { status: 429, headers: { 'retry-after': '0' } });
    const busy = new Herald({ baseUrl: herald.url, token: 't', fetch: alwaysBusy, retries: 2, retryDelayMs: 1 });
    const error = await busy.publish({ eventName: 'x_custom', payload: {} }).catch((e: unknown) => e);
    assert.ok(error instanceof HeraldApiError);
    assert.deepEqual([error.status, error.code, error.message], [429, 'rate_limited', 'slow down']);
  });

  test('a 400 surfaces as HeraldApiError naming the field, without retries', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const counted = new Herald({ baseUrl: herald.url, token: herald.config.adminToken as string, fetch: counting });
    const error = await counted
      // @ts-expect-error projectId is required by the project_created payload type
      .publish({ eventName: 'project_created', payload: { tenantId: 'acme' } })
      .catch((e: unknown) => e);
    assert.ok(error instanceof HeraldApiError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.code, 'validation_failed');
    assert.match(error.field ?? '', /payload/);
    assert.equal(calls, 1);

    const unauthorized = await new Herald({ baseUrl: herald.url, token: 'not-a-token' })
      .publish({ eventName: 'project_created', payload: { tenantId: 'a', projectId: 'b' } })
      .catch((e: unknown) => e);
    assert.ok(unauthorized instanceof HeraldApiError);
    assert.deepEqual([unauthorized.status, unauthorized.code], [401, 'unauthorized']);
  });
});
