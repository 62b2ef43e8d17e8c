import type { AttemptRecord, AutoDisablePolicy } from './types.js';

/** A webhook's run of failures: the columns both stores keep for automatic disabling. */
export interface FailureRun {
  active: boolean;
  failingSince: number | null;
  consecutiveFailures: number;
  disabledReason: string | null;
  disabledAt: number | null;
}

/**
 * The run after these outcomes of one webhook's deliveries, taken in the order they started.
 * A success ends the run; a delivery given up on extends it (a retry changes nothing). With a
 * policy, a run of at least `afterFailures` that began `afterMs` or more before the failure that
 * extends it sets the webhook inactive, with the reason. Times are the records' own, never a
 * clock's, so the rule can be tested with any times.
 */
export function nextFailureRun(run: FailureRun, records: readonly AttemptRecord[], policy?: AutoDisablePolicy): FailureRun {
  let next = { ...run };
  const ordered = [...records].sort((a, b) => a.startedAt - b.startedAt);
  for (const record of ordered) {
    if (record.next.kind === 'delivered') {
      next = { ...next, failingSince: null, consecutiveFailures: 0 };
    } else if (record.next.kind === 'gave-up') {
      const failingSince = next.failingSince ?? record.startedAt;
      const consecutiveFailures = next.consecutiveFailures + 1;
      next = { ...next, failingSince, consecutiveFailures };
      if (
        next.active &&
        policy !== undefined &&
        policy.afterFailures > 0 &&
        consecutiveFailures >= policy.afterFailures &&
        record.startedAt - failingSince >= policy.afterMs
      ) {
        next = {
          ...next,
          active: false,
          disabledAt: record.startedAt,
          disabledReason: `no successful delivery since ${new Date(failingSince).toISOString()} (${consecutiveFailures} deliveries failed in a row)`,
        };
      }
    }
  }
  return next;
}

export function sameFailureRun(a: FailureRun, b: FailureRun): boolean {
  return (
    a.active === b.active &&
    a.failingSince === b.failingSince &&
    a.consecutiveFailures === b.consecutiveFailures &&
    a.disabledReason === b.disabledReason &&
    a.disabledAt === b.disabledAt
  );
}

export function failureRunOf(row: Record<string, unknown>): FailureRun {
  return {
    active: row.active === 1 || row.active === true,
    failingSince: (row.failing_since as number | null) ?? null,
    consecutiveFailures: (row.consecutive_failures as number | null) ?? 0,
    disabledReason: (row.disabled_reason as string | null) ?? null,
    disabledAt: (row.disabled_at as number | null) ?? null,
  };
}
