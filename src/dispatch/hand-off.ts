import type { ClaimedBatch, ClaimRequest, HandOffOffer, PublishHandOff, Store } from '../store/index.js';

/**
 * Hand-offs between processes (PostgreSQL): an API-only process has no dispatcher to claim its
 * publishes for, so workers offer theirs. Each worker's HandOffOffering says every
 * OFFER_EVERY_MS how many deliveries it would take; an API process's RemoteHandOff claims each
 * publish's deliveries for the worker with the most room left and tells it the batch. Every
 * message may be lost (they go by NOTIFY): a batch its worker never hears of lapses at its
 * lease's end and is claimed as usual, as a dead worker's would be.
 */

/** How often a worker renews its offer. */
const OFFER_EVERY_MS = 500;
/** An offer not renewed for this long is of a worker that stopped or cannot be heard. */
const OFFER_EXPIRES_MS = 4 * OFFER_EVERY_MS;

/**
 * A lease of about `leaseMs` from `now` that ends on an even (parity 0) or odd (1) millisecond:
 * a worker's ordinary claims end on even ones and handed-off batches on odd ones, so a batch's
 * rows are told from the worker's other claims by that time (see ClaimedBatch).
 */
export function leaseEndingOn(now: number, leaseMs: number, parity: 0 | 1): number {
  return Math.abs(now + leaseMs) % 2 === parity ? leaseMs : leaseMs + 1;
}

/** The lease of deliveries handed off at `now`, for a worker whose handed-off lease is `leaseMs`. */
export function handedOffLease(now: number, leaseMs: number): number {
  return leaseEndingOn(now, leaseMs, 1);
}

/** What the worker side needs of a dispatcher. */
export interface OfferingDispatcher {
  readonly workerId: string;
  offer(): HandOffOffer | undefined;
  take(batch: ClaimedBatch): void;
}

/** A worker's side: keeps offering its dispatcher's room, and gives it the batches meant for it. */
export class HandOffOffering {
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly dispatcher: OfferingDispatcher,
  ) {}

  start(): void {
    if (!this.store.onHandOffMessage || this.timer) return;
    this.unsubscribe = this.store.onHandOffMessage((message) => {
      if (message.kind === 'batch' && message.batch.workerId === this.dispatcher.workerId) this.dispatcher.take(message.batch);
    });
    this.sendOffer();
    this.timer = setInterval(() => this.sendOffer(), OFFER_EVERY_MS);
    this.timer.unref();
  }

  /** Stops offering, and tells the API processes so; batches already under way are still taken. */
  withdraw(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    const offer = this.dispatcher.offer();
    if (offer) this.store.sendHandOffMessage?.({ kind: 'offer', offer: { ...offer, room: 0 } });
  }

  /** Stops listening too: call once the dispatcher has stopped (it gives back what it is sent after). */
  stop(): void {
    this.withdraw();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private sendOffer(): void {
    const offer = this.dispatcher.offer();
    if (offer) this.store.sendHandOffMessage?.({ kind: 'offer', offer });
  }
}

/** An API-only process's side: claims each publish for the offering worker with the most room. */
export class RemoteHandOff implements PublishHandOff {
  private readonly offers = new Map<string, { offer: HandOffOffer; heardAt: number; taken: number }>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {
    this.unsubscribe = store.onHandOffMessage?.((message) => {
      if (message.kind === 'offer') this.hear(message.offer);
    }) ?? (() => undefined);
  }

  claimFor(now: number): ClaimRequest | undefined {
    const chosen = this.roomiest();
    if (!chosen) return undefined;
    const { offer, taken } = chosen;
    return {
      workerId: offer.workerId,
      now,
      limit: offer.room - taken,
      leaseMs: handedOffLease(now, offer.leaseMs),
      // The worker's slots are not known here: it gives back what it has no slot for.
      inFlightByWebhook: new Map(),
      maxInFlightPerWebhook: offer.maxInFlightPerWebhook,
    };
  }

  take(batch: ClaimedBatch): void {
    const entry = this.offers.get(batch.workerId);
    if (entry) entry.taken += batch.count;
    this.store.sendHandOffMessage?.({ kind: 'batch', batch });
  }

  stop(): void {
    this.unsubscribe();
  }

  private hear(offer: HandOffOffer): void {
    if (offer.room <= 0) this.offers.delete(offer.workerId);
    else this.offers.set(offer.workerId, { offer, heardAt: this.clock(), taken: 0 });
  }

  /** The live offer with the most room left, if any has some. */
  private roomiest() {
    const now = this.clock();
    let best: { offer: HandOffOffer; taken: number } | null = null;
    for (const [workerId, entry] of this.offers) {
      if (now - entry.heardAt > OFFER_EXPIRES_MS) {
        this.offers.delete(workerId);
        continue;
      }
      const left = entry.offer.room - entry.taken;
      if (left > 0 && (!best || left > best.offer.room - best.taken)) best = entry;
    }
    return best;
  }
}
