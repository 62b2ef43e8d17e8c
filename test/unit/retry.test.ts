import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideRetry,
  JITTER_RATIO,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  parseRetrySchedule,
} from '../../src/core/retry.js';

describe('retry schedule', () => {
  test('parses the documented format', () => {
    assert.deepEqual(parseRetrySchedule('5s,30s,2m,10m,1h'), [5_000, 30_000, 120_000, 600_000, 3_600_000]);
    assert.deepEqual(parseRetrySchedule('250ms, 1.5s ,1d'), [250, 1_500, 86_400_000]);
  });

  test('refuses malformed schedules naming the bad item', () => {
    assert.throws(() => parseRetrySchedule(''), /comma-separated/);
    assert.throws(() => parseRetrySchedule('5s,,1m'), /comma-separated/);
    assert.throws(() => parseRetrySchedule('5s,soon'), /"soon" is not a duration/);
    assert.throws(() => parseRetrySchedule('-5s'), /is not a duration/);
  });
});

describe('retry decision', () => {
  const scheduleMs = [1_000, 10_000];

  test('follows the schedule, then repeats its last delay', () => {
    const middle = () => 0.5; // no jitter at the midpoint
    assert.deepEqual(decideRetry({ attemptsMade: 1, maxAttempts: 5, scheduleMs, random: middle }), {
      kind: 'retry',
      delayMs: 1_000,
    });
    assert.deepEqual(decideRetry({ attemptsMade: 2, maxAttempts: 5, scheduleMs, random: middle }), {
      kind: 'retry',
      delayMs: 10_000,
    });
    assert.deepEqual(decideRetry({ attemptsMade: 4, maxAttempts: 5, scheduleMs, random: middle }), {
      kind: 'retry',
      delayMs: 10_000,
    });
  });

  test('gives up once maxAttempts attempts were made', () => {
    assert.deepEqual(decideRetry({ attemptsMade: 5, maxAttempts: 5, scheduleMs }), { kind: 'give-up' });
    assert.deepEqual(decideRetry({ attemptsMade: 1, maxAttempts: 1, scheduleMs }), { kind: 'give-up' });
  });

  test('jitter stays within its ratio at both extremes', () => {
    const low = decideRetry({ attemptsMade: 1, maxAttempts: 3, scheduleMs, random: () => 0 });
    const high = decideRetry({ attemptsMade: 1, maxAttempts: 3, scheduleMs, random: () => 0.999999 });
    assert.deepEqual(low, { kind: 'retry', delayMs: 1_000 * (1 - JITTER_RATIO) });
    assert.ok(high.kind === 'retry' && high.delayMs <= 1_000 * (1 + JITTER_RATIO));
  });

  test("a receiver's Retry-After lengthens the delay, up to a cap", () => {
    const decision = decideRetry({ attemptsMade: 1, maxAttempts: 3, scheduleMs, retryAfterMs: 60_000, random: () => 0.5 });
    assert.deepEqual(decision, { kind: 'retry', delayMs: 60_000 });
    const capped = decideRetry({ attemptsMade: 1, maxAttempts: 3, scheduleMs, retryAfterMs: 10 * MAX_RETRY_AFTER_MS });
    assert.deepEqual(capped, { kind: 'retry', delayMs: MAX_RETRY_AFTER_MS });
  });

  test('Retry-After reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60_000);
    assert.equal(parseRetryAfter('whenever', now), null);
    assert.equal(parseRetryAfter(undefined, now), null);
  });
});
