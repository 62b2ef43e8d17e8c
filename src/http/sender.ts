import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { threadEntrySource } from '../core/threads.js';
import { AgentPool, type TargetTransport } from './agents.js';
import { NetworkAllowList } from './address-guard.js';
import { CANCELLED, sendRequest, type Exchange, type OutboundRequest, type SendOutcome } from './send.js';

const THREAD_YOUNG_GENERATION_MB = 6;

/** What every request of a sender shares; plain data, so a sending thread can be given it. */
export interface SenderSettings {
  allowPrivateNetworks: boolean;
  /** Internal ranges reachable even with private networks off (HERALD_ALLOWED_NETWORKS), as CIDRs. */
  allowedNetworks: readonly string[];
  /** A request's whole time, and the connect timeout. */
  timeoutMs: number;
}

/** Sends deliveries' requests; never throws (see sendRequest). */
export interface Sender {
  send(request: OutboundRequest, transport: TargetTransport): Promise<SendOutcome>;
  /** Ends every request in flight, and any sent after: each comes back as a `cancelled` failure. */
  cancelAll(): void;
  /** Closes the connections (and threads); call once nothing is in flight. */
  close(): Promise<void>;
}

/** Sends on this thread's event loop, through one connection pool per (CA, proxy) pair. */
export class LocalSender implements Sender {
  private readonly agents: AgentPool;
  private readonly allowedNetworks: NetworkAllowList;
  private readonly inFlight = new Set<Exchange>();
  private cancelled = false;

  constructor(private readonly settings: SenderSettings) {
    // One allow-list for the pre-send check and the connect-time lookup, so the two agree.
    this.allowedNetworks = new NetworkAllowList(settings.allowedNetworks);
    this.agents = new AgentPool({
      allowPrivateNetworks: settings.allowPrivateNetworks,
      allowedNetworks: this.allowedNetworks,
      connectTimeoutMs: settings.timeoutMs,
    });
  }

  send(request: OutboundRequest, transport: TargetTransport): Promise<SendOutcome> {
    if (this.cancelled) return Promise.resolve(cancelledOutcome());
    return sendRequest(request, {
      dispatcher: this.agents.dispatcherFor(transport),
      timeoutMs: this.settings.timeoutMs,
      allowPrivateNetworks: this.settings.allowPrivateNetworks,
      allowedNetworks: this.allowedNetworks,
      viaProxy: transport.proxyUrl !== null,
      inFlight: this.inFlight,
    });
  }

  cancelAll(): void {
    this.cancelled = true;
    for (const exchange of [...this.inFlight]) exchange.cancel();
  }

  close(): Promise<void> {
    return this.agents.close();
  }
}

/** One request handed to a sending thread, and its answer. The body goes as text: a small
 * Buffer is a view of a shared 8 KiB pool, and copying a view to a thread copies all of it. */
export interface ThreadJob {
  id: number;
  request: Omit<OutboundRequest, 'body'> & { body: string };
  transport: TargetTransport;
}
export interface ThreadAnswer {
  id: number;
  outcome: SendOutcome;
}
/** Messages to a sending thread: jobs in batches, or the order to cancel everything. */
export type ToThread = { kind: 'send'; jobs: ThreadJob[] } | { kind: 'cancel' };

/**
 * Sends on other threads, each running a LocalSender: the HTTP work (writing requests, parsing
 * answers, TLS) leaves the thread that claims, signs and records, so on a machine with a spare
 * core the two overlap instead of taking turns. Jobs go out, and answers come back, in one
 * message per event-loop turn rather than one per request: a message costs about as much as a
 * small request. Requests to one URL always go to the same thread, so they share its
 * connections. A thread that dies fails its requests as `cancelled` (the dispatcher hands those
 * back unattempted) and is replaced.
 */
export class ThreadSender implements Sender {
  private readonly threads: SendingThread[];
  private cancelled = false;

  /** `onThreadError` hears why a thread ended by itself (it is replaced either way). */
  constructor(settings: SenderSettings, count: number, onThreadError: (error: Error) => void = () => undefined) {
    this.threads = Array.from({ length: count }, () => new SendingThread(settings, onThreadError));
  }

  send(request: OutboundRequest, transport: TargetTransport): Promise<SendOutcome> {
    if (this.cancelled) return Promise.resolve(cancelledOutcome());
    return this.threads[threadIndex(request.url, this.threads.length)].send(request, transport);
  }

  cancelAll(): void {
    this.cancelled = true;
    for (const thread of this.threads) thread.cancel();
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}

/**
 * Sending threads to start by default: one when the machine has a core to spare for it, none
 * (send on the main thread) on a single core, where a thread would only add hand-over costs.
 */
export function defaultSendThreads(): number {
  return availableParallelism() > 1 ? 1 : 0;
}

export function createSender(settings: SenderSettings, threads: number, onThreadError?: (error: Error) => void): Sender {
  return threads > 0 ? new ThreadSender(settings, threads, onThreadError) : new LocalSender(settings);
}

function cancelledOutcome(): SendOutcome {
  return { kind: 'failure', error: CANCELLED, durationMs: 0 };
}

function threadIndex(key: string, count: number): number {
  if (count === 1) return 0;
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
  return Math.abs(hash) % count;
}

/** One worker thread and the requests waiting on it. */
class SendingThread {
  private worker: Worker;
  private readonly waiting = new Map<number, (outcome: SendOutcome) => void>();
  private outbox: ThreadJob[] = [];
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly settings: SenderSettings,
    private readonly onError: (error: Error) => void,
  ) {
    this.worker = this.spawn();
  }

  send(request: OutboundRequest, transport: TargetTransport): Promise<SendOutcome> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      // Referenced while it has work: an answer still to come keeps the process alive.
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, resolve);
      if (this.outbox.length === 0) setImmediate(() => this.flush());
      this.outbox.push({ id, request: { ...request, body: request.body.toString('utf8') }, transport });
    });
  }

  cancel(): void {
    this.post({ kind: 'cancel' });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
    this.failWaiting();
  }

  private spawn(): Worker {
    const worker = new Worker(threadEntrySource(import.meta.url, 'send-thread'), {
      eval: true,
      workerData: this.settings,
      // A sending thread's objects live for one request: a small young generation collects
      // them as often, without growing the process by tens of MB under sustained load. A
      // process-wide --max-semi-space-size (as `npm run serve` gives) overrides this limit:
      // there every thread's young generation follows the flag.
      resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
    });
    worker.on('message', (answers: ThreadAnswer[]) => {
      for (const { id, outcome } of answers) {
        this.waiting.get(id)?.(outcome);
        this.waiting.delete(id);
      }
      if (this.waiting.size === 0) worker.unref();
    });
    // A thread that ends by itself (it should not) takes its requests with it: they are handed
    // back as cancelled, and a new thread takes its place.
    worker.on('error', (error) => this.onError(error));
    worker.on('exit', () => {
      if (this.closing) return;
      this.outbox = [];
      this.failWaiting();
      this.worker = this.spawn();
    });
    worker.unref();
    return worker;
  }

  private flush(): void {
    const jobs = this.outbox;
    this.outbox = [];
    if (jobs.length > 0) this.post({ kind: 'send', jobs });
  }

  private post(message: ToThread): void {
    this.worker.postMessage(message);
  }

  private failWaiting(): void {
    for (const resolve of this.waiting.values()) resolve(cancelledOutcome());
    this.waiting.clear();
  }
}
