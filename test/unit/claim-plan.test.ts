import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { headWindow, perWebhookLookFollows, planSlots, WINDOW_PASSED_OVER_MAX } from '../../src/store/claim-plan.js';
import { chooseFromHead } from '../../src/store/sqlite/sqlite-store.js';
import type { ClaimRequest } from '../../src/store/types.js';

function claimRequest(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    workerId: 'worker-a',
    now: 1_000,
    limit: 100,
    leaseMs: 30_000,
    inFlightByWebhook: new Map(),
    maxInFlightPerWebhook: 5,
    ...overrides,
  };
}

/** Due rows as the SQLite window gives them, counting how many were read. */
function countedRows(webhookIds: string[]): { rows: Iterable<Record<string, unknown>>; read: () => number } {
  let read = 0;
  function* rows() {
    for (const [index, webhookId] of webhookIds.entries()) {
      read++;
      yield { seq: index + 1, webhook_id: webhookId, active: 1 };
    }
  }
  return { rows: rows(), read: () => read };
}

describe('claim route', () => {
  test('the per-webhook look follows a window read to its end', () => {
    assert.equal(perWebhookLookFollows(200, 150, 200), true);
  });

  test('a window that ended early and took most of what it read left nothing behind', () => {
    assert.equal(perWebhookLookFollows(120, 100, 200), false);
    assert.equal(perWebhookLookFollows(0, 0, 200), false);
  });

  test('a window that passed over many rows it could not take is followed by the per-webhook look', () => {
    // A held-up backlog shorter than the window: read to its end it leaves nothing behind, yet
    // every claim would read it again unless the route changes.
    assert.equal(perWebhookLookFollows(150, 1, 200), true);
    assert.equal(perWebhookLookFollows(WINDOW_PASSED_OVER_MAX, 0, 200), true);
    assert.equal(perWebhookLookFollows(WINDOW_PASSED_OVER_MAX - 1, 0, 200), false);
  });

  test('SQLite stops reading the window once it has passed over enough rows', () => {
    const request = claimRequest({ inFlightByWebhook: new Map([['wh_slow', 5]]) });
    const backlog = [...Array.from({ length: 150 }, () => 'wh_slow'), 'wh_other'];
    const { rows, read } = countedRows(backlog);
    const window = headWindow(request.limit);
    assert.ok(backlog.length < window, 'the backlog is shorter than the window');

    const result = chooseFromHead(rows, planSlots(request), request);
    assert.deepEqual(result.chosen, []);
    assert.equal(result.read, WINDOW_PASSED_OVER_MAX);
    assert.equal(read(), WINDOW_PASSED_OVER_MAX, 'no row past the bound is read');
    assert.equal(perWebhookLookFollows(result.read, result.chosen.length, window), true);
  });

  test('SQLite still reads on past rows it takes', () => {
    const request = claimRequest({ maxInFlightPerWebhook: 1_000 });
    const { rows } = countedRows(Array.from({ length: 150 }, (_, index) => `wh_${index % 3}`));
    const result = chooseFromHead(rows, planSlots(request), request);
    assert.equal(result.chosen.length, 100, 'the claim is full');
    assert.equal(result.read, 100);
  });
});
