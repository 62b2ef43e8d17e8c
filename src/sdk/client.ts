import { randomUUID } from 'node:crypto';
import type { PublishableEvent } from './events.js';

/** Options of {@link Herald}. */
export interface HeraldClientOptions {
  /** Herald's address, e.g. `https://herald.example.com` (without `/api`). */
  baseUrl: string;
  /** An API token with the `publisher` (or `admin`) role. */
  token: string;
  /** The fetch implementation; defaults to the global one. */
  fetch?: typeof fetch;
  /** Retries after the first attempt for network errors, 5xx and 429. Defaults to 3. */
  retries?: number;
  /** First backoff delay; doubled on each retry, with jitter. Defaults to 250 ms. */
  retryDelayMs?: number;
  /** Longest wait before a retry, including one asked for by `Retry-After`. Defaults to 30 s. */
  maxRetryDelayMs?: number;
  /** Time limit of one attempt. Defaults to 30 s. */
  timeoutMs?: number;
}

/** Options of one publish call. */
export interface PublishOptions {
  /**
   * Makes a repeat of the request return the first answer instead of publishing again. One is
   * generated when absent, and every retry of the call reuses it, so a retry never duplicates
   * an event. Pass your own to make retries across process restarts safe as well.
   */
  idempotencyKey?: string;
  /** Aborts the call, including waits between retries. */
  signal?: AbortSignal;
}

/** Herald's answer to a published event. */
export interface PublishResult {
  /** The event id; receivers get it as `webhook-id`. */
  id: string;
  /** How many webhooks the event goes to. */
  deliveries: number;
  /** True when Herald answered a repeat of an earlier request with the same idempotency key. */
  replayed: boolean;
}

/** Herald's answer to a published batch. */
export interface PublishBatchResult {
  events: { id: string; deliveries: number }[];
  replayed: boolean;
}

/**
 * A 4xx answer from Herald (or a 5xx / 429 once retries are used up). `code` is Herald's error
 * code (`validation_failed`, `unknown_event_type`, `idempotency_key_reused`, `unauthorized`...)
 * and `field`, when present, the JSON path of the offending input.
 */
export class HeraldApiError extends Error {
  override readonly name = 'HeraldApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

type AnyEvent = { eventName: string; eventTimestamp?: number; payload: object };

const RETRYABLE_STATUS = (status: number): boolean => status === 429 || status >= 500;

/**
 * A client for Herald's publish API.
 *
 * ```ts
 * const herald = new Herald({ baseUrl: 'https://herald.example.com', token: process.env.HERALD_TOKEN! });
 * await herald.publish({ eventName: 'project_created', payload: { tenantId: 'acme', projectId: 'shop' } });
 * ```
 */
export class Herald {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #timeoutMs: number;

  constructor(options: HeraldClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retries = Math.max(0, options.retries ?? 3);
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Publishes one event. Resolves once Herald has stored it (its `202`).
   *
   * @throws {@link HeraldApiError} on a 4xx answer, or a 5xx / 429 once retries are used up
   */
  async publish<const E extends AnyEvent>(event: E & PublishableEvent<E>, options: PublishOptions = {}): Promise<PublishResult> {
    const { body, replayed } = await this.#post(event, options);
    const answer = body as { id: string; deliveries: number };
    return { id: answer.id, deliveries: answer.deliveries, replayed };
  }

  /**
   * Publishes up to 1000 events in one request; Herald accepts the whole batch or none of it.
   *
   * @throws {@link HeraldApiError} as {@link Herald.publish} does
   */
  async publishBatch<const E extends readonly AnyEvent[]>(
    events: E & { [I in keyof E]: PublishableEvent<E[I]> },
    options: PublishOptions = {},
  ): Promise<PublishBatchResult> {
    const { body, replayed } = await this.#post({ events }, options);
    return { events: (body as PublishBatchResult).events, replayed };
  }

  async #post(payload: unknown, options: PublishOptions): Promise<{ body: unknown; replayed: boolean }> {
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const text = JSON.stringify(payload);
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.#retries;
      let response: Response;
      try {
        const signals = [AbortSignal.timeout(this.#timeoutMs), ...(options.signal ? [options.signal] : [])];
        response = await this.#fetch(`${this.#baseUrl}/api/events`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.#token}`,
            'content-type': 'application/json',
            'idempotency-key': idempotencyKey,
          },
          body: text,
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        // A network error or timeout: the request may or may not have arrived, and the
        // idempotency key makes sending it again safe.
        if (last || options.signal?.aborted) throw error;
        await this.#pause(this.#backoff(attempt), options.signal);
        continue;
      }
      const body = await readJson(response);
      if (response.ok) return { body, replayed: response.headers.get('idempotent-replayed') === 'true' };
      if (!RETRYABLE_STATUS(response.status) || last) throw toApiError(response.status, body);
      const asked = retryAfterMs(response.headers.get('retry-after'));
      await this.#pause(Math.min(asked ?? this.#backoff(attempt), this.#maxRetryDelayMs), options.signal);
    }
  }

  #backoff(attempt: number): number {
    const base = this.#retryDelayMs * 2 ** attempt;
    return Math.min(this.#maxRetryDelayMs, base / 2 + Math.random() * (base / 2));
  }

  #pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toApiError(status: number, body: unknown): HeraldApiError {
  if (body && typeof body === 'object') {
    const { error, message, field } = body as { error?: unknown; message?: unknown; field?: unknown };
    return new HeraldApiError(
      status,
      typeof error === 'string' ? error : `http_${status}`,
      typeof message === 'string' ? message : `Herald answered ${status}`,
      typeof field === 'string' ? field : undefined,
    );
  }
  return new HeraldApiError(status, `http_${status}`, typeof body === 'string' && body ? body.slice(0, 200) : `Herald answered ${status}`);
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
