import type { ApiClient, DeliverySummary, Webhook } from './api';

/** Herald set the webhook inactive by itself (its deliveries kept failing), and says why. */
export function isAutoDisabled(webhook: Webhook): boolean {
  return !webhook.active && webhook.disabledReason !== null;
}

/** The time an automatic disabling's reason names ("no successful delivery since <time> (...)"). */
export function failingSinceOf(reason: string | null): Date | null {
  const match = reason ? /\bsince (\d{4}-\d{2}-\d{2}T[0-9:.]+Z)\b/.exec(reason) : null;
  if (!match) return null;
  const date = new Date(match[1]);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The deliveries given up on in the run of failures that had the webhook disabled. */
export interface FailedRun {
  /** What `resend-failed` needs to reach the run's first delivery. */
  since: Date;
  /** The deliveries `resend-failed` will queue again from `since`. */
  count: number;
}

/**
 * Finds the run in the webhook's history. The reason names when the run began, which is when the
 * first delivery given up on was last attempted; `resend-failed` picks deliveries by when they
 * were created, which is earlier, so `since` is the earliest creation among the run's failures.
 * Without a time in the reason, the run is what failed after the last success.
 */
export async function findFailedRun(api: ApiClient, webhook: Webhook): Promise<FailedRun | null> {
  const [failed, succeeded] = await Promise.all([
    api.listDeliveries(webhook.id, { status: 'error' }),
    api.listDeliveries(webhook.id, { status: 'success' }),
  ]);
  return failedRunOf(failed, succeeded, failingSinceOf(webhook.disabledReason));
}

export function failedRunOf(
  failed: readonly DeliverySummary[],
  succeeded: readonly DeliverySummary[],
  failingSince: Date | null,
): FailedRun | null {
  const lastSuccess = Math.max(...succeeded.map(attemptedAt), Number.NEGATIVE_INFINITY);
  const inRun = failingSince
    ? (delivery: DeliverySummary) => attemptedAt(delivery) >= failingSince.getTime()
    : (delivery: DeliverySummary) => attemptedAt(delivery) > lastSuccess;
  const run = failed.filter(inRun);
  if (run.length === 0) return null;
  const since = Math.min(...run.map((delivery) => Date.parse(delivery.createdAt)));
  return { since: new Date(since), count: countCreatedSince(failed, new Date(since)) };
}

/** How many of these deliveries were created at or after `since`, as `resend-failed` counts. */
export function countCreatedSince(deliveries: readonly DeliverySummary[], since: Date): number {
  return deliveries.filter((delivery) => Date.parse(delivery.createdAt) >= since.getTime()).length;
}

function attemptedAt(delivery: DeliverySummary): number {
  return Date.parse(delivery.dispatchedAt ?? delivery.createdAt);
}
