/**
 * Retry policy: the delays between attempts are configuration (`HERALD_RETRY_SCHEDULE`), the
 * state lives in the store (`next_attempt_at`), and this module only computes the next time.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Jitter spreads retries of many deliveries that failed together: each delay is scaled by
 * a random factor in [1 - JITTER_RATIO, 1 + JITTER_RATIO]. */
export const JITTER_RATIO = 0.2;

/** A receiver's Retry-After is honoured, but never pushes a retry further than this. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** Parses `5s,30s,2m,10m,1h` into milliseconds. Throws with the offending item on bad input. */
export function parseRetrySchedule(text: string): number[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.length === 0 || items.some((item) => item === '')) {
    throw new Error('must be a comma-separated list of delays such as 5s,30s,2m,10m,1h');
  }
  return items.map(parseDuration);
}

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration (examples: 500ms, 5s, 2m, 1h)`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'give-up' };

/**
 * What to do after attempt number `attemptsMade` (1-based) failed. The schedule's last delay
 * repeats when `maxAttempts` outruns it.
 */
export function decideRetry(params: {
  attemptsMade: number;
  maxAttempts: number;
  scheduleMs: readonly number[];
  retryAfterMs?: number | null;
  random?: () => number;
}): RetryDecision {
  const { attemptsMade, maxAttempts, scheduleMs } = params;
  if (attemptsMade >= maxAttempts) return { kind: 'give-up' };
  const base = scheduleMs[Math.min(attemptsMade - 1, scheduleMs.length - 1)];
  const random = params.random ?? Math.random;
  const jittered = Math.round(base * (1 - JITTER_RATIO + 2 * JITTER_RATIO * random()));
  const retryAfter = Math.min(params.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS);
  return { kind: 'retry', delayMs: Math.max(jittered, retryAfter) };
}

/** Reads a Retry-After header (delta-seconds or HTTP date) into milliseconds from `nowMs`. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}
