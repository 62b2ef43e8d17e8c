import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBuckets } from '../../src/api/rate-limit.js';

function bucketsAt(perMinute: number, maxBuckets?: number) {
  const clock = { now: 1_000_000 };
  const buckets = new TokenBuckets({ perMinute, clock: () => clock.now, maxBuckets });
  return { buckets, clock };
}

describe('token buckets', () => {
  test('a fresh key may spend the whole burst, then waits for the refill', () => {
    const { buckets, clock } = bucketsAt(60);
    for (let i = 0; i < 60; i++) assert.deepEqual(buckets.take('a'), { allowed: true });
    assert.deepEqual(buckets.take('a'), { allowed: false, retryAfterMs: 1_000 });
    clock.now += 500;
    assert.deepEqual(buckets.take('a'), { allowed: false, retryAfterMs: 500 });
    clock.now += 500;
    assert.deepEqual(buckets.take('a'), { allowed: true });
    assert.equal(buckets.take('a').allowed, false);
  });

  test('keys do not share a bucket', () => {
    const { buckets } = bucketsAt(1);
    assert.equal(buckets.take('a').allowed, true);
    assert.equal(buckets.take('a').allowed, false);
    assert.equal(buckets.take('b').allowed, true);
  });

  test('a refill never goes past the burst size, and a clock stepping back drains nothing', () => {
    const { buckets, clock } = bucketsAt(2);
    clock.now += 10 * 60_000;
    assert.equal(buckets.take('a').allowed, true);
    assert.equal(buckets.take('a').allowed, true);
    assert.equal(buckets.take('a').allowed, false);
    clock.now -= 60_000;
    assert.equal(buckets.take('a').allowed, false);
  });

  test('buckets idle for a refill period are dropped, and the count is capped', () => {
    const { buckets, clock } = bucketsAt(60, 3);
    for (const key of ['a', 'b', 'c']) buckets.take(key);
    assert.equal(buckets.size, 3);
    buckets.take('d');
    assert.equal(buckets.size, 3, 'the least recently used one made room');
    clock.now += 60_000;
    buckets.take('e');
    assert.equal(buckets.size, 1, 'full-again buckets are forgotten');
  });
});
