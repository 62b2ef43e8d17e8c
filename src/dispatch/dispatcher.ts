import type { Logger } from 'pino';
import type { Sender, SendOutcome } from '../http/index.js';
import type {
  AttemptRecord,
  AutoDisablePolicy,
  ClaimedBatch,
  ClaimedDelivery,
  ClaimRequest,
  HandOffOffer,
  PublishHandOff,
  Store,
} from '../store/index.js';
import { handedOffLease, leaseEndingOn } from './hand-off.js';
import type { DeliveryMetrics } from './metrics.js';
import { attemptRecord, judgeOutcome, nextStep, prepareRequest } from './steps.js';

/**
 * Deliveries claimed per store round trip, at most, by the store's kind. A SQLite claim only
 * reads (see ClaimBook): one of 300 costs little more than one of 100, and while batch
 * publishes hold the store's thread (a claim gets every other turn) it fills more slots per
 * turn. A PostgreSQL claim rewrites every row it takes, and larger ones measured no better.
 */
const CLAIM_BATCH_SIZE: Readonly<Record<Store['kind'], number>> = { sqlite: 300, postgres: 100 };
/**
 * A busy dispatcher refills its slots in chunks: it claims once a quarter of a limit (all
 * slots, or one webhook's) is free, not at every answer, so that one store round trip claims
 * many deliveries. An idle one claims at once whatever the count.
 */
const REFILL_SHARE = 4;
/** Outcomes are written together: once this many wait, or this long after the first. No slot
 * waits for the write (see UNRECORDED_SLOTS_SHARE), so a longer wait only makes writes fewer. */
const RECORD_BATCH_SIZE = 500;
const RECORD_DELAY_MS = 25;
/**
 * A slot is free again once its answer is judged, before the outcome is written: the writes
 * then take whatever piled up while the last one ran, so a slow write makes the next one
 * larger rather than holding every slot. Claims stop while more than this many slots' worth of
 * outcomes wait to be written: the store is behind, and a claim would only add to its work.
 */
const UNRECORDED_SLOTS_SHARE = 1;
/** An idle dispatcher looks at the store at least this often, to pick up claims that lapsed. */
const IDLE_POLL_MS = 1_000;
/** How long the loop waits after the store failed before it tries again. */
const STORE_ERROR_BACKOFF_MS = 1_000;
/** A claim lapses this long after the request's own timeout, then another process may take
 * it: long enough to write the outcome after the last byte, short enough that a dead process's
 * deliveries are not held up for long. */
const LEASE_MARGIN_MS = 5_000;
/**
 * A publish (of this process, or of an API-only one this dispatcher offered to) claims its
 * deliveries for this dispatcher (see PublishHandOff) while fewer than this many times
 * maxInFlight of them wait to be read. They wait in the store, not in memory, and this bounds
 * how much work the other processes cannot help with (up to HANDED_OFF_WAIT_MS): a fan-out to
 * 10,000 webhooks is handed over whole.
 */
const HANDED_OFF_SHARE = 32;
/**
 * How long a handed-off batch may wait to be read; what is left of it after that is given back
 * for any process to claim. A handed-off claim's lease is this plus an ordinary one's, so it is
 * also how much later than an ordinary claim's a dead process's batch is taken over. A full
 * hand-off share (16,384 deliveries by default) is read in one to three seconds at the
 * benchmarks' rates; a worker slower than that gives the rest back.
 */
export const HANDED_OFF_WAIT_MS = 10_000;
/** Deliveries read from a handed-off batch at a time, at most: a read writes nothing, so it
 * costs little more for 300 than for 100. */
const HANDED_OFF_PAGE = 300;
/** While handed-off batches are read, the store is asked for due work at least this often. */
const DUE_LOOK_MS = 100;
/** Slots of a webhook whose receiver last timed out or could not be reached. */
const STRUGGLING_SLOTS = 2;
/** Failures where the receiver never answered. */
const UNANSWERED_ERRORS = new Set(['timeout', 'connection', 'refused', 'dns', 'tls', 'proxy']);

export interface DispatcherOptions {
  store: Store;
  /** Sends the requests; the dispatcher cancels what is still in flight at the end of stop(). */
  sender: Sender;
  logger: Logger;
  workerId: string;
  maxInFlight: number;
  maxInFlightPerWebhook: number;
  deliveryTimeoutMs: number;
  retryScheduleMs: readonly number[];
  shutdownGraceMs: number;
  clock?: () => number;
  random?: () => number;
  /** When a failing webhook is set inactive by itself; without it, never. */
  autoDisable?: AutoDisablePolicy;
  /** Told about every attempt's outcome; optional. */
  metrics?: DeliveryMetrics;
}

/**
 * The delivery loop: claim due deliveries, send each, record the outcomes in batches, sleep
 * until new work is queued, a slot frees up, or the next retry falls due. All retry state is in
 * the store; what this object holds in memory is only what is in flight right now.
 */
export class Dispatcher implements PublishHandOff {
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly inFlightByWebhook = new Map<string, number>();
  /** Webhooks whose receiver last timed out or could not be reached (see slotsTaken). */
  private readonly struggling = new Set<string>();
  private readonly unrecorded: AttemptRecord[] = [];
  /** Batches a publish claimed for this dispatcher, oldest first, each read up to `afterId`. */
  private readonly handedOff: Array<{ batch: ClaimedBatch; afterId: string | null; left: number }> = [];
  /** Whether the last claim found due work (see dueWorkMayWait). */
  private lastClaimFound = false;
  /** Whether the last look for work read a handed-off batch: a claim may follow it. */
  private readBatchLast = false;
  /** Outcomes in the write that is running. */
  private beingWritten = 0;
  private flushing: Promise<void> | null = null;
  private scheduledFlush: Promise<void> | null = null;
  private flushNow: (() => void) | null = null;
  private nudged = false;
  /** When the loop last looked for due work, claiming or (with no free slot) not. */
  private lastLookAt = 0;
  private wakeUp: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly clock: () => number;
  private readonly claimBatchSize: number;

  constructor(private readonly options: DispatcherOptions) {
    this.clock = options.clock ?? Date.now;
    this.claimBatchSize = CLAIM_BATCH_SIZE[options.store.kind];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.options.store.onDeliveriesQueued(() => this.nudge());
    this.loopDone = this.loop().catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'the delivery loop stopped on an error');
    });
  }

  /**
   * Stops claiming, lets in-flight deliveries finish for up to the grace period, cancels the
   * rest and gives their claims back, so another run delivers them.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.nudge();
    await this.loopDone;
    await this.giveBackHandedOff();
    const settled = Promise.allSettled([...this.inFlight.values()]);
    const grace = new Promise((resolve) => setTimeout(resolve, this.options.shutdownGraceMs).unref());
    await Promise.race([settled, grace]);
    this.options.sender.cancelAll();
    await settled;
    await this.flushRecords();
  }

  /** What a publish of this process may claim for this dispatcher now (see PublishHandOff). */
  claimFor(now: number): ClaimRequest | undefined {
    const room = this.handOffRoom();
    if (room <= 0) return undefined;
    return {
      workerId: this.options.workerId,
      now,
      limit: room,
      leaseMs: handedOffLease(now, this.handedOffLeaseMs()),
      inFlightByWebhook: this.slotsTaken(),
      maxInFlightPerWebhook: this.options.maxInFlightPerWebhook,
    };
  }

  /** What publishes of other processes may claim for this dispatcher (see HandOffOffering). */
  offer(): HandOffOffer | undefined {
    if (!this.options.store.readClaimedBatch) return undefined;
    return {
      workerId: this.options.workerId,
      room: Math.max(this.handOffRoom(), 0),
      leaseMs: this.handedOffLeaseMs(),
      maxInFlightPerWebhook: this.options.maxInFlightPerWebhook,
    };
  }

  get workerId(): string {
    return this.options.workerId;
  }

  take(batch: ClaimedBatch): void {
    this.handedOff.push({ batch, afterId: null, left: batch.count });
    if (this.running) this.nudge();
    else void this.giveBackHandedOff(); // a publish that finished as the dispatcher stopped
  }

  /** How many more deliveries may be handed off to this dispatcher: none once it stops. */
  private handOffRoom(): number {
    if (!this.running || !this.options.store.readClaimedBatch) return 0;
    const waiting = this.handedOff.reduce((sum, entry) => sum + entry.left, 0);
    return this.options.maxInFlight * HANDED_OFF_SHARE - waiting;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private nudge(): void {
    this.nudged = true;
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.flushLeftovers();
        if (this.storeIsBehind()) {
          await this.writeInProgress();
          continue;
        }
        if (!this.hasRoom()) {
          await this.waitForNudge(IDLE_POLL_MS); // a finishing delivery nudges once there is room
          continue;
        }
        if (await this.claimAndLaunch()) continue; // more may be due right now
        await this.sleep();
      } catch (error) {
        // The database may be restarting or briefly unreachable: nothing is lost (the work
        // is in the store), so wait a moment and look again rather than stop delivering.
        this.options.logger.error({ err: error }, 'the store failed; the delivery loop retries shortly');
        await this.pause(STORE_ERROR_BACKOFF_MS);
      }
    }
  }

  /** Whether enough slots are free for a claim to be worth its round trip (see REFILL_SHARE). */
  private hasRoom(): boolean {
    return this.inFlight.size === 0 || this.freeSlots() >= this.refillChunk();
  }

  /** More outcomes wait to be written than UNRECORDED_SLOTS_SHARE allows: claims wait. */
  private storeIsBehind(): boolean {
    return this.unrecorded.length + this.beingWritten > this.options.maxInFlight * UNRECORDED_SLOTS_SHARE;
  }

  /** Settles with the write that is running or scheduled (its failure is logged where it runs). */
  private async writeInProgress(): Promise<void> {
    await (this.flushing ?? this.scheduledFlush)?.catch(() => undefined);
  }

  private freeSlots(): number {
    return this.options.maxInFlight - this.inFlight.size;
  }

  private refillChunk(): number {
    return Math.min(chunkOf(this.options.maxInFlight), this.claimBatchSize);
  }

  /** Outcomes a failed write left behind are written before anything else; a write that is
   * running or scheduled takes them anyway. */
  private async flushLeftovers(): Promise<void> {
    if (this.unrecorded.length > 0 && !this.flushing && !this.scheduledFlush) await this.flushRecords();
  }

  /** Claims what fits in the free slots and starts it; true when more may be waiting. */
  private async claimAndLaunch(): Promise<boolean> {
    if (this.handedOff.length > 0 && !(this.readBatchLast && this.dueWorkMayWait())) {
      this.readBatchLast = true;
      await this.launchHandedOff();
      return true;
    }
    this.readBatchLast = false;
    const wanted = Math.min(this.freeSlots(), this.claimBatchSize);
    this.lastLookAt = this.clock();
    const claimed = wanted > 0 ? await this.claim(wanted) : [];
    this.lastClaimFound = claimed.length > 0;
    for (const delivery of claimed) this.launch(delivery);
    return (wanted > 0 && claimed.length === wanted) || this.handedOff.length > 0;
  }

  private claim(limit: number): Promise<ClaimedDelivery[]> {
    return this.options.store.claimDueDeliveries({
      workerId: this.options.workerId,
      now: this.lastLookAt,
      limit,
      leaseMs: this.ordinaryLeaseMs(this.lastLookAt),
      inFlightByWebhook: this.slotsTaken(),
      maxInFlightPerWebhook: this.options.maxInFlightPerWebhook,
    });
  }

  /**
   * Whether due work (retries, other processes' events) may be waiting while handed-off batches
   * are read. A new batch is read first (its events are the newest, and one round trip from
   * being sent); after it, batches and claims take turns while claims find work, and without,
   * the store is asked again every DUE_LOOK_MS. A stream of publishes must not hold back the
   * retries.
   */
  private dueWorkMayWait(): boolean {
    return this.lastClaimFound || this.clock() - this.lastLookAt >= DUE_LOOK_MS;
  }

  private leaseMs(): number {
    return this.options.deliveryTimeoutMs + LEASE_MARGIN_MS;
  }

  /**
   * Ordinary claims' leases end on even milliseconds (see leaseEndingOn): a claim may take rows
   * of a batch's range that the publish left unclaimed, even before the batch is taken.
   */
  private ordinaryLeaseMs(now: number): number {
    return leaseEndingOn(now, this.leaseMs(), 0);
  }

  /** A handed-off claim's lease, before it is made to end on an odd millisecond. */
  private handedOffLeaseMs(): number {
    return this.leaseMs() + HANDED_OFF_WAIT_MS;
  }

  /**
   * Reads the next part of the oldest handed-off batch into the free slots. A delivery is sent
   * only with a whole ordinary lease still ahead of it, as a claimed one would be; what a
   * webhook has no slot for now (another batch filled them), or what an inactive webhook's, is
   * given back to be claimed as usual.
   */
  private async launchHandedOff(): Promise<void> {
    const { store, workerId } = this.options;
    const entry = this.handedOff[0];
    const now = this.clock();
    if (now + this.leaseMs() > entry.batch.leaseEndsAt) {
      this.handedOff.shift();
      await store.releaseClaimedBatch!(workerId, entry.batch, entry.afterId, now);
      return;
    }
    const limit = Math.min(this.freeSlots(), HANDED_OFF_PAGE);
    const page = await store.readClaimedBatch!(workerId, entry.batch, entry.afterId, limit, now);
    entry.afterId = page.lastId ?? entry.afterId;
    entry.left -= page.read;
    if (page.read < limit) this.handedOff.shift();
    const givenBack = [...page.inactive];
    for (const delivery of page.deliveries) {
      const webhookId = delivery.webhook.id;
      if (this.webhookFreeSlots(webhookId, this.inFlightByWebhook.get(webhookId) ?? 0) > 0) this.launch(delivery);
      else givenBack.push(delivery.id);
    }
    if (givenBack.length > 0) await store.releaseClaims(workerId, givenBack, now);
  }

  /** Gives back every batch still waiting to be read, for another process or a later run. */
  private async giveBackHandedOff(): Promise<void> {
    const { store, workerId } = this.options;
    for (const entry of this.handedOff.splice(0)) {
      await store.releaseClaimedBatch!(workerId, entry.batch, entry.afterId, this.clock()).catch((error: unknown) => {
        // The claims lapse by themselves at the lease's end.
        this.options.logger.error({ err: error }, 'giving back handed-off deliveries failed');
      });
    }
  }

  /**
   * Deliveries in flight per webhook, as the claim should count them: a webhook with fewer
   * free slots than its refill chunk is shown as full. A webhook whose receiver last timed out
   * or could not be reached gets STRUGGLING_SLOTS at most: a receiver that hangs then holds a
   * few slots for the length of a timeout instead of its whole share, and the others keep theirs.
   */
  private slotsTaken(): ReadonlyMap<string, number> {
    const cap = this.options.maxInFlightPerWebhook;
    const taken = new Map<string, number>();
    for (const webhookId of new Set([...this.inFlightByWebhook.keys(), ...this.struggling])) {
      const free = this.webhookFreeSlots(webhookId, this.inFlightByWebhook.get(webhookId) ?? 0);
      taken.set(webhookId, free >= chunkOf(this.webhookCap(webhookId)) ? cap - free : cap);
    }
    return taken;
  }

  private webhookCap(webhookId: string): number {
    const cap = this.options.maxInFlightPerWebhook;
    return this.struggling.has(webhookId) ? Math.min(STRUGGLING_SLOTS, cap) : cap;
  }

  private webhookFreeSlots(webhookId: string, inFlight: number): number {
    return Math.max(this.webhookCap(webhookId) - inFlight, 0);
  }

  /**
   * A receiver that answers, whatever the status, is not slow; one that did not answer may be.
   * True when the webhook got its slots back.
   */
  private noteReceiver(webhookId: string, outcome: SendOutcome): boolean {
    if (outcome.kind === 'response') return this.struggling.delete(webhookId);
    if (UNANSWERED_ERRORS.has(outcome.error.code)) this.struggling.add(webhookId);
    return false;
  }

  /** Waits for a nudge, the next due time, or the idle poll, whichever comes first. */
  private async sleep(): Promise<void> {
    if (this.takeNudge()) return;
    // Webhooks without a free slot are left out: their backlog must not make the loop think
    // other webhooks' retries are held back too. A finishing delivery nudges for them.
    const nextDue = await this.options.store.nextDueAt(this.saturatedWebhooks());
    // Work that was due when the loop last looked but was not claimed waits for a free slot: a
    // finishing delivery nudges. Work that fell due only since then (a retry whose time came
    // while claiming, or a timer that fired a little early) is claimed at once, not a poll later.
    const heldBack = nextDue !== null && nextDue <= this.lastLookAt;
    const untilDue = nextDue === null ? IDLE_POLL_MS : Math.max(nextDue - this.clock(), 0);
    await this.waitForNudge(heldBack ? IDLE_POLL_MS : Math.min(untilDue, IDLE_POLL_MS));
  }

  private takeNudge(): boolean {
    const nudged = this.nudged;
    this.nudged = false;
    return nudged;
  }

  /** Returns at once if a nudge came since the last one was taken; else waits for one or `ms`. */
  private async waitForNudge(ms: number): Promise<void> {
    if (this.takeNudge()) return;
    await this.pause(ms);
    this.nudged = false;
  }

  /** Waits `ms`, or less when nudged (new work, a free slot, or stop). A nudge takes effect
   * after the I/O callbacks already due have run, so the slots freed by a burst of answers are
   * filled by one claim rather than one claim each. */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        setImmediate(resolve);
      };
    });
    this.wakeUp = null;
  }

  private saturatedWebhooks(): string[] {
    const saturated: string[] = [];
    for (const [webhookId, count] of this.slotsTaken()) {
      if (count >= this.options.maxInFlightPerWebhook) saturated.push(webhookId);
    }
    return saturated;
  }

  private launch(delivery: ClaimedDelivery): void {
    const webhookId = delivery.webhook.id;
    this.inFlightByWebhook.set(webhookId, (this.inFlightByWebhook.get(webhookId) ?? 0) + 1);
    const done = this.deliver(delivery)
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, deliveryId: delivery.id }, 'delivery step failed unexpectedly');
      })
      .finally(() => this.release(webhookId, delivery.id));
    this.inFlight.set(delivery.id, done);
  }

  /** Frees a delivery's slot; nudges the loop when that makes a claim worth it again. */
  private release(webhookId: string, deliveryId: string): void {
    this.inFlight.delete(deliveryId);
    const remaining = (this.inFlightByWebhook.get(webhookId) ?? 1) - 1;
    if (remaining === 0) this.inFlightByWebhook.delete(webhookId);
    else this.inFlightByWebhook.set(webhookId, remaining);
    // Slots free up one at a time, so "worth it" is crossed exactly at the chunk's size.
    const roomOpened = this.freeSlots() === this.refillChunk();
    const webhookRoomOpened = this.webhookFreeSlots(webhookId, remaining) === chunkOf(this.webhookCap(webhookId));
    if (roomOpened || (webhookRoomOpened && this.hasRoom()) || this.inFlight.size === 0) this.nudge();
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const startedAt = this.clock();
    const request = prepareRequest(delivery, startedAt);
    const { base64CA, proxyUrl } = delivery.webhook;
    const outcome = await this.options.sender.send(request, { base64CA, proxyUrl });
    if (outcome.kind === 'failure' && outcome.error.code === 'cancelled') {
      // Not the receiver's fault: hand the delivery back without counting an attempt.
      await this.options.store.releaseClaims(this.options.workerId, [delivery.id], this.clock());
      return;
    }
    if (this.noteReceiver(delivery.webhook.id, outcome)) this.nudge();
    const now = this.clock();
    const judgement = judgeOutcome(outcome, now);
    const next = nextStep(judgement, delivery, {
      scheduleMs: this.options.retryScheduleMs,
      nowMs: now,
      random: this.options.random,
    });
    this.logAttempt(delivery, judgement, next);
    this.options.metrics?.attemptFinished({
      outcome: next.kind === 'gave-up' ? 'gave_up' : next.kind,
      statusCode: judgement.statusCode,
      durationMs: outcome.durationMs,
    });
    this.unrecorded.push(attemptRecord({ delivery, request, outcome, judgement, next, startedAt }));
    this.flushSoon();
  }

  /** Flushes once RECORD_BATCH_SIZE outcomes wait or RECORD_DELAY_MS after the first: outcomes
   * are written together in one transaction. */
  private flushSoon(): void {
    if (!this.scheduledFlush) {
      let due!: () => void;
      const scheduled = new Promise<void>((resolve) => (due = resolve));
      const timer = setTimeout(due, RECORD_DELAY_MS);
      // Once the batch is full, still after the I/O callbacks already due: they may add to it.
      this.flushNow = () => {
        clearTimeout(timer);
        setImmediate(due);
      };
      this.scheduledFlush = scheduled
        .then(() => {
          this.scheduledFlush = null;
          this.flushNow = null;
          return this.flushRecords();
        })
        .catch((error: unknown) => {
          // The outcomes stay in memory; the loop writes them before its next claim.
          this.options.logger.error({ err: error }, 'writing delivery outcomes failed; they are written again shortly');
          this.nudge();
        });
    }
    if (this.unrecorded.length >= RECORD_BATCH_SIZE) this.flushNow?.();
  }

  /** Writes every waiting record in one transaction; concurrent callers share the write. */
  private async flushRecords(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.unrecorded.length === 0) return;
    const batch = this.unrecorded.splice(0);
    this.beingWritten = batch.length;
    this.flushing = this.options.store
      .recordAttempts(this.options.workerId, batch, this.options.autoDisable)
      .catch((error: unknown) => {
        // Kept for the next flush; if this process dies first, the claims lapse and the
        // deliveries are sent again: at least once either way.
        this.unrecorded.unshift(...batch);
        throw error;
      })
      .finally(() => {
        this.flushing = null;
        this.beingWritten = 0;
      });
    await this.flushing;
  }

  private logAttempt(
    delivery: ClaimedDelivery,
    judgement: ReturnType<typeof judgeOutcome>,
    next: ReturnType<typeof nextStep>,
  ): void {
    const fields = {
      deliveryId: delivery.id,
      webhookId: delivery.webhook.id,
      eventId: delivery.eventId,
      attempt: delivery.attemptsMade + 1,
      statusCode: judgement.statusCode,
      next: next.kind,
    };
    if (judgement.kind === 'delivered') this.options.logger.debug(fields, 'delivered');
    else if (next.kind === 'gave-up') this.options.logger.warn({ ...fields, error: judgement.error }, 'gave up');
    else this.options.logger.info({ ...fields, error: judgement.error }, 'attempt failed, will retry');
  }
}

/** The part of a limit that must be free before slots are refilled; at least one slot. */
function chunkOf(limit: number): number {
  return Math.max(1, Math.floor(limit / REFILL_SHARE));
}
