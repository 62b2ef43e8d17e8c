import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntil } from '../support/index.js';
import { startTestHerald } from '../support/herald.js';

/**
 * A receiver that never answers: Herald gives it its full share of slots only until the first
 * timeout, then two at most, until it answers again. A receiver that answers keeps its share.
 */

const PER_WEBHOOK_SLOTS = 8;

/** Counts requests still open (hanging) at each moment; answers none of them. */
async function startHangingReceiver() {
  let open = 0;
  let closed = 0;
  let arrived = 0;
  let mostOpenAfterFirstBatch = 0;
  const server = http.createServer((request) => {
    arrived += 1;
    open += 1;
    if (closed >= PER_WEBHOOK_SLOTS) mostOpenAfterFirstBatch = Math.max(mostOpenAfterFirstBatch, open);
    request.socket.on('close', () => {
      open -= 1;
      closed += 1;
    });
    request.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats: () => ({ arrived, closed, open, mostOpenAfterFirstBatch }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('a receiver that times out holds two slots after its first timeout, not its whole share', async () => {
  const receiver = await startHangingReceiver();
  const herald = await startTestHerald({
    maxInFlightPerWebhook: PER_WEBHOOK_SLOTS,
    deliveryTimeoutMs: 300,
    // Timed-out deliveries wait far past the test: what arrives is only the first attempts.
    retryScheduleMs: [600_000],
  });
  try {
    const created = await herald.post('/api/webhooks', { url: `${receiver.url}/hook`, events: ['tag_created'], secret: 'slow-secret-123' });
    assert.equal(created.status, 201);
    const events = Array.from({ length: 24 }, (_, index) => ({ eventName: 'tag_created', payload: { tenantId: 't', projectId: 'p', tagName: `v${index}` } }));
    const published = await herald.post('/api/events', { events });
    assert.equal(published.status, 202, JSON.stringify(published.body));

    // The first batch takes the full share; once it has timed out, at most two hang at a time.
    await waitUntil(() => receiver.stats().arrived >= 16, { timeoutMs: 20_000 });
    const stats = receiver.stats();
    assert.ok(stats.mostOpenAfterFirstBatch <= 2, `at most 2 open after the first timeouts, saw ${JSON.stringify(stats)}`);
    assert.ok(stats.mostOpenAfterFirstBatch >= 1);
  } finally {
    await herald.stop({ removeData: true });
    await receiver.close();
  }
});
