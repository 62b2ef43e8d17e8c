export interface WaitUntilOptions {
  /** Give up after this long; defaults to 10 s. */
  timeoutMs?: number;
  /** Pause between two probes; defaults to 25 ms. */
  intervalMs?: number;
  /** Leads the timeout error so a failing test says what it was waiting for. */
  message?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_INTERVAL_MS = 25;

/**
 * Polls `probe` until it yields a truthy value and returns that value.
 * Exceptions from the probe count as "not yet", so a probe may read state
 * that is still being built; the last outcome is reported on timeout.
 */
export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  opts: WaitUntilOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastOutcome: string;

  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      lastOutcome = `last value: ${describe(value)}`;
    } catch (error) {
      lastOutcome = `last error: ${describe(error)}`;
    }
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) {
      const what = opts.message ?? 'condition not met';
      throw new Error(`${what} (timed out after ${timeoutMs} ms; ${lastOutcome})`);
    }
    await pause(Math.min(intervalMs, remainingMs));
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
