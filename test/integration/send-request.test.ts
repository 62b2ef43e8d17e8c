import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalSender, RESPONSE_BODY_KEPT_BYTES, type OutboundRequest, type SenderSettings } from '../../src/http/index.js';

/**
 * What one request brings back from a receiver that answers in an awkward way: the start of a
 * body too long to keep, an answer that never ends, a header in another case.
 */

const SETTINGS: SenderSettings = { allowPrivateNetworks: true, allowedNetworks: [], timeoutMs: 5_000 };
const NO_TRANSPORT = { base64CA: null, proxyUrl: null };

function outbound(url: string): OutboundRequest {
  return { url, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') };
}

async function withServer(handler: http.RequestListener, run: (url: string) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('sending one request', () => {
  test('a long answer is kept to its first 4 KiB, and its status and Retry-After (in any case) are read', async () => {
    const body = 'abcdefghij'.repeat(1_000);
    await withServer(
      (_request, response) => {
        response.writeHead(503, { 'RETRY-AFTER': '120', 'content-type': 'text/plain' });
        response.end(body);
      },
      async (url) => {
        const sender = new LocalSender(SETTINGS);
        try {
          const outcome = await sender.send(outbound(url), NO_TRANSPORT);
          assert.equal(outcome.kind, 'response');
          if (outcome.kind !== 'response') return;
          assert.equal(outcome.statusCode, 503);
          assert.equal(outcome.retryAfter, '120');
          assert.equal(outcome.bodyStart, body.slice(0, RESPONSE_BODY_KEPT_BYTES));
        } finally {
          await sender.close();
        }
      },
    );
  });

  test('an answer whose body never ends is judged on what came, long before the timeout', async () => {
    let writing: NodeJS.Timeout | undefined;
    await withServer(
      (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = 'x'.repeat(8 * 1024);
        writing = setInterval(() => response.write(chunk), 1);
        response.on('close', () => clearInterval(writing));
      },
      async (url) => {
        const sender = new LocalSender({ ...SETTINGS, timeoutMs: 30_000 });
        try {
          const outcome = await sender.send(outbound(url), NO_TRANSPORT);
          assert.equal(outcome.kind, 'response');
          if (outcome.kind !== 'response') return;
          assert.equal(outcome.statusCode, 200);
          assert.equal(outcome.bodyStart, 'x'.repeat(RESPONSE_BODY_KEPT_BYTES));
        } finally {
          clearInterval(writing);
          await sender.close();
        }
      },
    );
  });

  test('a request sent after cancelAll comes back cancelled without reaching the receiver', async () => {
    let received = 0;
    await withServer(
      (_request, response) => {
        received++;
        response.end('ok');
      },
      async (url) => {
        const sender = new LocalSender(SETTINGS);
        try {
          sender.cancelAll();
          const outcome = await sender.send(outbound(url), NO_TRANSPORT);
          assert.deepEqual(outcome.kind === 'failure' && outcome.error.code, 'cancelled');
          assert.equal(received, 0);
        } finally {
          await sender.close();
        }
      },
    );
  });
});
