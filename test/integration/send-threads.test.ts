import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadSender, type SenderSettings } from '../../src/http/index.js';
import type { OutboundRequest } from '../../src/http/index.js';
import { createTestPki, removeDir, startReceiver, type Receiver, type TestPki } from '../support/index.js';
import { startTestHerald } from '../support/herald.js';

/**
 * Requests sent from worker threads (HERALD_SEND_THREADS): what leaves a thread is the same
 * request the main thread would have sent, over the same kind of connection, and shutting down
 * still cancels what is in flight.
 */

const SETTINGS: SenderSettings = { allowPrivateNetworks: true, allowedNetworks: [], timeoutMs: 5_000 };
const NO_TRANSPORT = { base64CA: null, proxyUrl: null };

function outbound(url: string, body: string): OutboundRequest {
  return {
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': 'evt_thread' },
    body: Buffer.from(body, 'utf8'),
  };
}

describe('sending threads', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => removeDir(pki.dir));

  test("a request crosses to a thread intact and trusts the webhook's own CA there", async () => {
    const receiver = await startReceiver({
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      responder: () => ({ status: 201, body: 'created', headers: { 'retry-after': '7' } }),
    });
    const sender = new ThreadSender(SETTINGS, 1);
    try {
      const body = JSON.stringify({ eventName: 'project_created', payload: { name: 'naïve ✓' } });
      const outcome = await sender.send(outbound(`${receiver.url}/hooks`, body), { base64CA: pki.base64CA, proxyUrl: null });
      assert.equal(outcome.kind, 'response');
      assert.equal(outcome.kind === 'response' && outcome.statusCode, 201);
      assert.equal(outcome.kind === 'response' && outcome.bodyStart, 'created');
      assert.equal(outcome.kind === 'response' && outcome.retryAfter, '7');
      const [received] = receiver.requests;
      assert.equal(received.url, '/hooks');
      assert.equal(received.headers['webhook-id'], 'evt_thread');
      assert.equal(received.body.toString('utf8'), body);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  test('without the CA the thread refuses the certificate, as the main thread would', async () => {
    const receiver = await startReceiver({ tls: { certPem: pki.certPem, keyPem: pki.keyPem } });
    const sender = new ThreadSender(SETTINGS, 1);
    try {
      const outcome = await sender.send(outbound(receiver.url, '{}'), NO_TRANSPORT);
      assert.equal(outcome.kind === 'failure' && outcome.error.code, 'tls');
      assert.equal(receiver.requests.length, 0);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  test('many requests over two threads each get their own answer', async () => {
    const receiver = await startReceiver({ responder: (request) => ({ status: 200, body: request.url }) });
    const sender = new ThreadSender(SETTINGS, 2);
    try {
      const paths = Array.from({ length: 300 }, (_, index) => `/hook-${index % 30}/${index}`);
      const outcomes = await Promise.all(paths.map((path) => sender.send(outbound(`${receiver.url}${path}`, '{}'), NO_TRANSPORT)));
      assert.deepEqual(
        outcomes.map((outcome) => (outcome.kind === 'response' ? outcome.bodyStart : outcome.error.code)),
        paths,
      );
      assert.equal(receiver.requests.length, 300);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  test('cancelling ends the requests in flight on the threads, and any sent after', async () => {
    const receiver: Receiver = await startReceiver({ responder: () => 'hang' });
    const sender = new ThreadSender(SETTINGS, 2);
    try {
      const pending = [0, 1, 2, 3].map((index) => sender.send(outbound(`${receiver.url}/slow-${index}`, '{}'), NO_TRANSPORT));
      await receiver.waitForRequests(4);
      sender.cancelAll();
      for (const outcome of await Promise.all(pending)) assert.equal(outcome.kind === 'failure' && outcome.error.code, 'cancelled');
      const late = await sender.send(outbound(receiver.url, '{}'), NO_TRANSPORT);
      assert.equal(late.kind === 'failure' && late.error.code, 'cancelled');
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  test('a thread that ends hands its requests back as cancelled, and a new one takes over', async () => {
    const receiver = await startReceiver({ responder: (request) => (request.url === '/slow' ? 'hang' : { status: 200 }) });
    const sender = new ThreadSender(SETTINGS, 1);
    try {
      const stuck = sender.send(outbound(`${receiver.url}/slow`, '{}'), NO_TRANSPORT);
      await receiver.waitForRequests(1);
      // What a crash of the thread would do: end it from outside.
      const [thread] = (sender as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads;
      await thread.worker.terminate();
      const outcome = await stuck;
      assert.equal(outcome.kind === 'failure' && outcome.error.code, 'cancelled');
      const after = await sender.send(outbound(`${receiver.url}/fine`, '{}'), NO_TRANSPORT);
      assert.equal(after.kind === 'response' && after.statusCode, 200);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  test('Herald delivers with its threads and without: sending threads, and SQLite on its own', async () => {
    for (const threads of [{ sendThreads: 0, storeThread: false }, { sendThreads: 2, storeThread: true }]) {
      const receiver = await startReceiver();
      const herald = await startTestHerald(threads);
      try {
        const created = await herald.post('/api/webhooks', { url: `${receiver.url}/hook`, events: ['project_created'] });
        assert.equal(created.status, 201);
        const published = await herald.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't', projectId: 'p' } });
        assert.equal(published.status, 202);
        const [delivered] = await receiver.waitForRequests(1);
        assert.match(String(delivered.headers['webhook-signature']), /^v1,/);
      } finally {
        await herald.stop({ removeData: true });
        await receiver.close();
      }
    }
  });
});
