/**
 * Replay protection for receivers. The console scheme signs only the body, so a captured request
 * verifies forever; Standard Webhooks binds a time and an id, but a request can still be replayed
 * within the timestamp tolerance. The guard closes both gaps by remembering, per sender, the
 * newest `eventTimestamp` accepted and the most recent `webhook-id`s.
 */

/** What {@link ReplayGuard.check} looks at. */
export interface ReplayCheck {
  /**
   * Whose events these are: usually the webhook (one secret, one sender). Events of different
   * senders are tracked apart. Defaults to `"default"`.
   */
  sender?: string;
  /** The envelope's `eventTimestamp` (signed, since it is in the body). */
  eventTimestamp?: number;
  /** The `webhook-id` header (the event id, the same on every retry). */
  webhookId?: string;
}

/** Options of {@link createReplayGuard}. */
export interface ReplayGuardOptions {
  /** Webhook ids remembered per sender; the oldest are forgotten first. Defaults to 10 000. */
  maxIds?: number;
  /** Senders remembered; the least recently seen is forgotten first. Defaults to 1 000. */
  maxSenders?: number;
}

/** Remembers what was accepted; see {@link createReplayGuard}. */
export interface ReplayGuard {
  /**
   * Answers true and records the request when it is new; false when its `webhookId` was already
   * accepted for this sender or its `eventTimestamp` is older than the newest one accepted.
   * Equal timestamps pass (two events may share a millisecond).
   */
  check(request: ReplayCheck): boolean;
  /** Forgets a sender entirely (for tests, or when a webhook is deleted). */
  forget(sender?: string): void;
}

interface SenderState {
  newestTimestamp: number;
  ids: Set<string>;
}

/**
 * Creates an in-memory replay guard with bounded memory. The common case is one line:
 *
 * ```ts
 * if (!guard.check({ sender: 'billing-hook', eventTimestamp, webhookId })) return reply(401);
 * ```
 *
 * Memory stays within `maxSenders * maxIds` ids. The state lives in the process: several
 * receiver processes, or a restart, need a shared store to keep the same guarantees.
 *
 * Note that refusing older timestamps also refuses a legitimate late retry of an earlier event
 * once a newer one was accepted; that is the price of the console scheme's missing timestamp.
 */
export function createReplayGuard(options: ReplayGuardOptions = {}): ReplayGuard {
  const maxIds = Math.max(1, options.maxIds ?? 10_000);
  const maxSenders = Math.max(1, options.maxSenders ?? 1_000);
  // Map iteration order is insertion order: re-inserting on use makes it an LRU.
  const senders = new Map<string, SenderState>();

  return {
    check({ sender = 'default', eventTimestamp, webhookId }) {
      let state = senders.get(sender);
      if (state) {
        senders.delete(sender);
        senders.set(sender, state);
        if (webhookId !== undefined && state.ids.has(webhookId)) return false;
        if (eventTimestamp !== undefined && eventTimestamp < state.newestTimestamp) return false;
      } else {
        state = { newestTimestamp: Number.NEGATIVE_INFINITY, ids: new Set() };
        senders.set(sender, state);
        if (senders.size > maxSenders) senders.delete(senders.keys().next().value as string);
      }
      if (eventTimestamp !== undefined && eventTimestamp > state.newestTimestamp) state.newestTimestamp = eventTimestamp;
      if (webhookId !== undefined) {
        state.ids.add(webhookId);
        if (state.ids.size > maxIds) state.ids.delete(state.ids.values().next().value as string);
      }
      return true;
    },
    forget(sender) {
      if (sender === undefined) senders.clear();
      else senders.delete(sender);
    },
  };
}
