import type { ClaimRequest } from './types.js';

/**
 * How a claim is made, the same on both stores.
 *
 * The cheap way is to read the oldest due deliveries (a bounded window of the due index) and
 * take from each webhook no more than its free slots. That fails when the window is filled by
 * deliveries nobody may take now: the backlog of a webhook whose slots are all busy (a slow
 * receiver, or simply one receiver taking most of the traffic), or of an inactive webhook.
 * Skipping those rows inside the index scan would cost the whole backlog on every claim, so
 * the stores look per webhook instead: one index probe for each webhook with pending work,
 * oldest due first, and a short range read for each webhook that has free slots. The cost
 * follows the number of webhooks with pending work, never the length of a backlog.
 *
 * Which comes first depends on the last per-webhook look: when only a few webhooks had due
 * work and this worker has deliveries in flight (their webhooks' backlogs are likely at the
 * head), the per-webhook look is cheaper than the window and goes first; otherwise the window
 * goes first and the per-webhook look follows if due work may have been left behind the window,
 * or if the window passed over many rows it could not take. The per-webhook look costs a
 * statement per webhook, the window one for all, hence "a few".
 */

/** Rows of the due index read per claim before falling back to the per-webhook look. */
export function headWindow(limit: number): number {
  return Math.max(limit * 2, 64);
}

/**
 * Rows a window may pass over (deliveries of webhooks without a free slot, or inactive) before
 * the per-webhook look follows it. A held-up backlog shorter than the window left nothing behind
 * it, so the look never followed and the route never changed: every claim read the whole backlog
 * again. With half of 20 webhooks hanging at 200 events/s, claims read 224 rows on average.
 */
export const WINDOW_PASSED_OVER_MAX = 64;

/**
 * Whether the per-webhook look follows a window that gave fewer deliveries than the claim's limit:
 * `read` rows of the due index were read, `window` at most, and `taken` of them claimed.
 */
export function perWebhookLookFollows(read: number, taken: number, window: number): boolean {
  return read >= window || read - taken >= WINDOW_PASSED_OVER_MAX;
}

/** Up to this many webhooks with due work, the per-webhook look may go first. */
const PER_WEBHOOK_FIRST_MAX = 4;

export class ClaimRoute {
  private dueWebhooks = Number.POSITIVE_INFINITY;

  /** `busyWebhooks`: how many webhooks this worker has deliveries in flight for. */
  perWebhookFirst(busyWebhooks: number): boolean {
    return busyWebhooks > 0 && this.dueWebhooks <= PER_WEBHOOK_FIRST_MAX;
  }

  /** Told how many webhooks with due work and free slots the last per-webhook look found. */
  sawDueWebhooks(count: number): void {
    this.dueWebhooks = count;
  }
}

/** Free slots per webhook in this worker; webhooks without a free slot are `saturated`. */
export interface SlotPlan {
  saturated: string[];
  busy: Record<string, number>;
}

export function planSlots(request: ClaimRequest): SlotPlan {
  const saturated: string[] = [];
  const busy: Record<string, number> = {};
  for (const [webhookId, count] of request.inFlightByWebhook) {
    if (count >= request.maxInFlightPerWebhook) saturated.push(webhookId);
    else busy[webhookId] = count;
  }
  return { saturated, busy };
}

/** The plan after a first batch was claimed: those deliveries now hold slots too. */
export function afterClaimed(plan: SlotPlan, claimedWebhookIds: readonly string[], cap: number): SlotPlan {
  const saturated = [...plan.saturated];
  const busy = { ...plan.busy };
  for (const webhookId of claimedWebhookIds) busy[webhookId] = (busy[webhookId] ?? 0) + 1;
  for (const [webhookId, count] of Object.entries(busy)) {
    if (count < cap) continue;
    saturated.push(webhookId);
    delete busy[webhookId];
  }
  return { saturated, busy };
}
