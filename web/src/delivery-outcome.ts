import type { ApiClient, DeliveryDetail, DeliveryError } from './api';

/**
 * What became of a delivery the console just queued (a test event, a resend), once its first
 * attempt is over: that is what the operator who clicked wants to know. Later retries show in
 * the history like any others.
 */
export type FirstAttempt =
  | { kind: 'delivered'; delivery: DeliveryDetail }
  | { kind: 'failed'; delivery: DeliveryDetail }
  /** Not attempted within the wait: Herald is busy, or the webhook is inactive. */
  | { kind: 'not-sent-yet' };

/** How long the console watches a queued delivery before saying it has not gone out yet. */
const WATCH_MS = 20_000;
const POLL_MS = 500;

/** Polls the delivery until its first attempt is over, the wait ends, or `signal` aborts. */
export async function watchFirstAttempt(
  api: ApiClient,
  webhookId: string,
  deliveryId: string,
  signal: AbortSignal,
): Promise<FirstAttempt> {
  const deadline = Date.now() + WATCH_MS;
  while (!signal.aborted && Date.now() < deadline) {
    const delivery = await api.getDelivery(webhookId, deliveryId);
    if (delivery.status === 'success') return { kind: 'delivered', delivery };
    if (delivery.status === 'error' || delivery.attempts > 0) return { kind: 'failed', delivery };
    await pause(POLL_MS, signal);
  }
  return { kind: 'not-sent-yet' };
}

/** One line on a failed attempt: the receiver's status code or the cause, then the retry plan. */
export function describeFailure(delivery: DeliveryDetail): string {
  const cause = delivery.statusCode !== null ? `the receiver answered ${delivery.statusCode}` : errorText(delivery.error);
  const next =
    delivery.status === 'pending' && delivery.nextAttemptAt
      ? '; Herald tries again'
      : delivery.status === 'error'
        ? '; Herald gave up on it'
        : '';
  return `${cause}${next}`;
}

export function errorText(error: DeliveryError | null): string {
  return error ? `${error.code}: ${error.message}` : 'no answer';
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      window.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
