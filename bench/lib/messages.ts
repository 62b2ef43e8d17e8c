/**
 * The messages the benchmark runner exchanges with its child processes over IPC. Every time in
 * them is `preciseNow()`: milliseconds since the epoch with sub-millisecond resolution, so a
 * time taken in one process can be subtracted from a time taken in another on the same machine.
 */

export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

// ---- receiver ------------------------------------------------------------------------------

export type ReceiverMode = 'answer' | 'hang';

export type ReceiverCommand =
  /**
   * Send `reached` once `count` distinct requests (of `group`, or of all) have been answered,
   * or after `deadlineMs` with what was answered by then, so a slow run stays bounded in time.
   */
  | { type: 'expect'; count: number; group?: string; deadlineMs: number }
  /** `hang` holds every answer back; switching to `answer` answers the held ones too. */
  | { type: 'mode'; mode: ReceiverMode }
  | { type: 'stats' }
  | { type: 'reset' };

export interface GroupStats {
  received: number;
  answered: number;
  /** Receipt time minus the `sentAt` found in the body, one entry per request that had one. */
  latenciesMs: number[];
}

export interface ReceiverStats {
  received: number;
  /** Distinct requests answered 200 (a repeat of the same webhook-id and URL counts once). */
  answered: number;
  duplicates: number;
  /** Requests still waiting for an answer (hang mode or a /hang path). */
  held: number;
  firstReceivedAt: number | null;
  lastAnsweredAt: number | null;
  groups: Record<string, GroupStats>;
  /** Bytes of header names and values over all requests received (what the parser read). */
  headerBytes: number;
  /** The header names of the last request received, sorted. */
  lastHeaderNames: string[];
}

export type ReceiverEvent =
  | { type: 'ready'; port: number }
  /** `at` is when the last counted request was answered; `complete` is false when the deadline came first. */
  | { type: 'reached'; at: number; count: number; complete: boolean }
  | { type: 'stats'; stats: ReceiverStats }
  | { type: 'mode-set'; mode: ReceiverMode; released: number };

// ---- load client -----------------------------------------------------------------------------

/**
 * What each request carries. `template` is filled in per request: `{{sentAt}}` with the send
 * time and `{{n}}` with the request's number modulo `cycle` (to spread requests over webhooks).
 * `file` holds one body per line, used in turn (large batches stay out of the IPC channel).
 */
export type BodySpec =
  | { kind: 'fixed'; text: string }
  | { kind: 'file'; path: string }
  | { kind: 'template'; template: string; cycle: number };

export interface LoadJob {
  /** Used in turn, request i going to urls[i % urls.length]. */
  urls: string[];
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  /** A header given a value of its own in every request (`evt_raw` and the request's number,
   * as long as an event id), so a receiver that drops repeats by it counts each. */
  uniqueIdHeader?: string;
  body: BodySpec;
  /** Requests in total. */
  count: number;
  /** Requests outstanding at once at most. */
  concurrency: number;
  /** Connections per origin in the client's pool. */
  connections: number;
  /** When set, requests start at this fixed rate (open loop) instead of as fast as possible. */
  ratePerSecond?: number;
  /** No request starts later than this long after the first (what is outstanding is awaited). */
  deadlineMs: number;
  /** No request starts after one has failed: a single failure already voids the figure. */
  stopOnFailure?: boolean;
}

export interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  /** Answers by status code, and network errors by their code. */
  outcomes: Record<string, number>;
  startedAt: number;
  finishedAt: number;
  /** CPU time (user + system) the client process spent on the job, in milliseconds. */
  cpuMs: number;
  /** Time from sending each request to its complete answer. */
  requestLatenciesMs: number[];
  /** Rate mode: requests that started more than 5 ms after their slot because the client was behind. */
  late: number;
  /** True when the job's deadline (or, with stopOnFailure, a failure) stopped it before `count` requests were sent. */
  cut: boolean;
}

export type ClientCommand = { type: 'run'; job: LoadJob };

export type ClientEvent =
  | { type: 'ready' }
  | { type: 'done'; result: LoadResult }
  | { type: 'error'; message: string };
