import type { Dispatcher } from 'undici';
import type { DeliveryError } from '../core/types.js';
import { assertHostAllowed, assertResolvesToPublic, type NetworkAllowList } from './address-guard.js';

/** Bytes of a receiver's response body kept for the delivery record. */
export const RESPONSE_BODY_KEPT_BYTES = 4 * 1024;
/** Bytes read from a receiver's response at most; past this the connection is dropped. */
export const RESPONSE_BODY_READ_LIMIT_BYTES = 64 * 1024;
export const USER_AGENT = 'Herald-Webhooks/0.1';

export interface OutboundRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
}

export type SendOutcome =
  | {
      kind: 'response';
      statusCode: number;
      retryAfter: string | undefined;
      bodyStart: string;
      durationMs: number;
    }
  | { kind: 'failure'; error: DeliveryError; durationMs: number };

export interface SendOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  /** Internal ranges reachable even with private networks off; the agent's lookup uses the same. */
  allowedNetworks?: NetworkAllowList;
  viaProxy: boolean;
  /** Holds the exchange until it is settled: the sender's, to cancel them all at shutdown. */
  inFlight?: Set<Exchange>;
}

/**
 * Sends one request and never throws: every way a delivery can fail becomes a typed failure
 * with a cause a receiver's owner can act on. Redirects are not followed (a redirect could
 * lead past the address guard), so a 3xx is reported like any other non-2xx answer.
 */
export function sendRequest(outbound: OutboundRequest, options: SendOptions): Promise<SendOutcome> {
  return new Promise((resolve) => {
    const exchange = new Exchange(resolve, options);
    options.inFlight?.add(exchange);
    void exchange.start(outbound);
  });
}

/** Why a request ended as `cancelled`: not the receiver's doing, so no attempt is counted. */
export const CANCELLED: DeliveryError = { code: 'cancelled', message: 'Herald shut down during the request' };

function failure(error: DeliveryError, started: number): SendOutcome {
  return { kind: 'failure', error, durationMs: Math.round(performance.now() - started) };
}

/**
 * One request's handler at undici's dispatch level: it keeps the start of the answer's body
 * as the chunks arrive, with no stream, promise or abort signal per request, which the
 * request() API adds and which cost more than the rest of a small exchange. The request's
 * whole time is bounded by one timer; cancel() ends it as `cancelled`. Either settles at once,
 * and a request still waiting for a connection is aborted as soon as it gets one.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private abortRequest: ((reason: Error) => void) | null = null;
  /** Set when this side ended the exchange (a timeout, a cancel) before undici could be told. */
  private endedWith: Error | null = null;
  private settled = false;
  private statusCode = 0;
  private retryAfter: string | undefined;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private readBytes = 0;

  /** The timer runs from here: the address checks count towards the request's time. */
  constructor(
    private readonly resolve: (outcome: SendOutcome) => void,
    private readonly options: SendOptions,
  ) {
    this.timer = setTimeout(() => this.end('timeout'), options.timeoutMs);
  }

  async start(outbound: OutboundRequest): Promise<void> {
    let url: URL;
    try {
      url = new URL(outbound.url);
      if (!this.options.allowPrivateNetworks) {
        if (this.options.viaProxy) await assertResolvesToPublic(url, this.options.allowedNetworks);
        else assertHostAllowed(url, this.options.allowedNetworks);
      }
    } catch (error) {
      this.onError(error as Error);
      return;
    }
    if (this.settled) return; // timed out or cancelled while the address was checked
    this.options.dispatcher.dispatch(
      {
        origin: url.origin,
        path: url.search ? `${url.pathname}${url.search}` : url.pathname,
        method: outbound.method as Dispatcher.HttpMethod,
        headers: outbound.headers,
        body: outbound.body,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      },
      this,
    );
  }

  cancel(): void {
    this.end('cancel');
  }

  onConnect(abort: (reason: Error) => void): void {
    this.abortRequest = abort;
    if (this.endedWith) abort(this.endedWith);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // an informational answer; the real one follows
    this.statusCode = statusCode;
    this.retryAfter = headerValue(rawHeaders, 'retry-after');
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.readBytes += chunk.length;
    if (this.keptBytes < RESPONSE_BODY_KEPT_BYTES) {
      const slice = chunk.subarray(0, RESPONSE_BODY_KEPT_BYTES - this.keptBytes);
      this.kept.push(slice);
      this.keptBytes += slice.length;
    }
    // Enough was read to judge the answer; the rest is not worth the connection's time.
    if (this.readBytes >= RESPONSE_BODY_READ_LIMIT_BYTES) {
      this.settleWithResponse();
      this.abortRequest?.(new Error('the answer is longer than Herald reads'));
      return false;
    }
    return true;
  }

  onComplete(): void {
    this.settleWithResponse();
  }

  onError(error: Error): void {
    this.settle(failure(blameProxy(classifyError(error, this.options.timeoutMs), this.options.viaProxy), this.started));
  }

  private end(by: 'timeout' | 'cancel'): void {
    if (this.settled) return;
    const error = by === 'timeout' ? timeoutError(this.options.timeoutMs) : CANCELLED;
    this.settle(failure(error, this.started));
    this.endedWith = new Error(error.message);
    this.abortRequest?.(this.endedWith);
  }

  private settleWithResponse(): void {
    this.settle({
      kind: 'response',
      statusCode: this.statusCode,
      retryAfter: this.retryAfter,
      bodyStart: Buffer.concat(this.kept).toString('utf8'),
      durationMs: Math.round(performance.now() - this.started),
    });
  }

  private settle(outcome: SendOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.options.inFlight?.delete(this);
    this.resolve(outcome);
  }
}

/** A header's first value from undici's raw [name, value, ...] list; names in any case. */
function headerValue(rawHeaders: Buffer[], name: string): string | undefined {
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const candidate = rawHeaders[index];
    if (candidate.length === name.length && candidate.toString('latin1').toLowerCase() === name) {
      return rawHeaders[index + 1].toString('latin1');
    }
  }
  return undefined;
}

/**
 * Through a proxy, Herald only ever opens connections to the proxy: a target that refuses
 * comes back as the proxy's 502 or failed CONNECT. So a refused connection means the proxy
 * itself is unreachable, and saying "connection refused" would send the owner to the wrong host.
 */
function blameProxy(error: DeliveryError, viaProxy: boolean): DeliveryError {
  if (!viaProxy || error.code !== 'refused') return error;
  return { code: 'proxy', message: 'the proxy refused the connection' };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** Maps the error (or any error in its cause chain) to a delivery error code. */
export function classifyError(error: unknown, timeoutMs: number): DeliveryError {
  for (let current = error as (Error & { code?: string; cause?: unknown }) | undefined; current; current = current.cause as typeof current) {
    const code = current.code ?? '';
    const name = current.name ?? '';
    if (code === 'HERALD_BLOCKED_ADDRESS') return { code: 'blocked_address', message: current.message };
    if (TIMEOUT_CODES.has(code) || name === 'TimeoutError') return timeoutError(timeoutMs);
    if (DNS_CODES.has(code)) return { code: 'dns', message: `DNS lookup failed (${code})` };
    if (code === 'ECONNREFUSED') return { code: 'refused', message: 'connection refused' };
    if (isTlsError(code)) return { code: 'tls', message: `TLS failed: ${current.message}` };
    if (/proxy/i.test(current.message ?? '')) return { code: 'proxy', message: current.message };
    if (CONNECTION_CODES.has(code)) return { code: 'connection', message: `connection failed (${code})` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'connection', message };
}

function timeoutError(timeoutMs: number): DeliveryError {
  return { code: 'timeout', message: `no complete answer within ${timeoutMs} ms` };
}

function isTlsError(code: string): boolean {
  return (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('CERT_') ||
    code.startsWith('UNABLE_TO_') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'HOSTNAME_MISMATCH' ||
    code === 'EPROTO' ||
    code === 'UND_ERR_PRX_TLS'
  );
}
