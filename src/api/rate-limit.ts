import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../core/errors.js';

/** Buckets kept at most; beyond this the least recently used is dropped (it starts full again). */
const DEFAULT_MAX_BUCKETS = 10_000;
const MS_PER_MINUTE = 60_000;

export interface TokenBucketOptions {
  /** Tokens added per minute; also the bucket size, so an idle caller may burst that much. */
  perMinute: number;
  clock: () => number;
  maxBuckets?: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * One token bucket per key. A bucket left alone long enough to fill up again is the same as a
 * fresh one, so such buckets are dropped on a periodic sweep: memory follows the number of
 * callers active within the last refill period, and a hard cap bounds it regardless.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;
  private readonly perMs: number;
  /** Time for an empty bucket to fill: after this, an untouched bucket is no longer needed. */
  private readonly refillMs: number;
  private readonly maxBuckets: number;
  private lastSweepAt: number;

  constructor(private readonly options: TokenBucketOptions) {
    this.capacity = options.perMinute;
    this.perMs = options.perMinute / MS_PER_MINUTE;
    this.refillMs = Math.ceil(this.capacity / this.perMs);
    this.maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
    this.lastSweepAt = options.clock();
  }

  get size(): number {
    return this.buckets.size;
  }

  take(key: string): TakeResult {
    const now = this.options.clock();
    this.sweepIfDue(now);
    const bucket = this.refilled(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.perMs) };
  }

  private refilled(key: string, now: number): Bucket {
    const existing = this.buckets.get(key);
    // Re-inserted on every use, so the map's order is least recently used first.
    this.buckets.delete(key);
    const bucket = existing ?? { tokens: this.capacity, updatedAt: now };
    // A clock that steps back must not drain a bucket.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(this.capacity, bucket.tokens + elapsed * this.perMs);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value as string);
    return bucket;
  }

  private sweepIfDue(now: number): void {
    if (now - this.lastSweepAt < this.refillMs) return;
    this.lastSweepAt = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt >= this.refillMs) this.buckets.delete(key);
    }
  }
}

/**
 * Limits the API per token. Registered after the authentication hook in the /api scope, so a
 * request without a valid token has been answered 401 before it could use up anyone's budget.
 */
export function installRateLimit(api: FastifyInstance, options: { perMinute: number; clock: () => number }): void {
  if (options.perMinute === 0) return;
  const buckets = new TokenBuckets(options);
  api.addHook('onRequest', async (request, reply) => {
    // No principal means authentication is not (or no longer) an onRequest hook before this one;
    // the authentication step answers such requests itself.
    const tokenId = request.principal?.tokenId;
    if (tokenId === undefined) return;
    const result = buckets.take(tokenId);
    if (result.allowed) return;
    reply.header('retry-after', String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))));
    throw new HeraldError('rate_limited');
  });
}
