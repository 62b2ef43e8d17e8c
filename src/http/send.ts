import { request, type Dispatcher } from 'undici';
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
  /** Aborts the request when the process shuts down. */
  signal?: AbortSignal;
}

/**
 * Sends one request and never throws: every way a delivery can fail becomes a typed failure
 * with a cause a receiver's owner can act on. Redirects are not followed (a redirect could
 * lead past the address guard), so a 3xx is reported like any other non-2xx answer.
 */
export async function sendRequest(outbound: OutboundRequest, options: SendOptions): Promise<SendOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  // One controller and one timer per request: AbortSignal.timeout and AbortSignal.any cost
  // several times more, and this runs for every delivery.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no complete answer within ${options.timeoutMs} ms`, 'TimeoutError'));
  }, options.timeoutMs);
  const cancel = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) cancel();
  else options.signal?.addEventListener('abort', cancel, { once: true });
  try {
    const url = new URL(outbound.url);
    if (!options.allowPrivateNetworks) {
      if (options.viaProxy) await assertResolvesToPublic(url, options.allowedNetworks);
      else assertHostAllowed(url, options.allowedNetworks);
    }
    const response = await request(url, {
      method: outbound.method as Dispatcher.HttpMethod,
      headers: outbound.headers,
      body: outbound.body,
      dispatcher: options.dispatcher,
      signal: controller.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    const bodyStart = await readBodyStart(response.body);
    const retryAfter = response.headers['retry-after'];
    return {
      kind: 'response',
      statusCode: response.statusCode,
      retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      bodyStart,
      durationMs: elapsed(),
    };
  } catch (error) {
    const cancelled = options.signal?.aborted === true && !timedOut;
    return {
      kind: 'failure',
      error: cancelled
        ? { code: 'cancelled', message: 'Herald shut down during the request' }
        : blameProxy(classifyError(error, options.timeoutMs), options.viaProxy),
      durationMs: elapsed(),
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', cancel);
  }
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

async function readBodyStart(body: Dispatcher.ResponseData['body']): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let readBytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    readBytes += chunk.length;
    if (keptBytes < RESPONSE_BODY_KEPT_BYTES) {
      const slice = chunk.subarray(0, RESPONSE_BODY_KEPT_BYTES - keptBytes);
      kept.push(slice);
      keptBytes += slice.length;
    }
    if (readBytes >= RESPONSE_BODY_READ_LIMIT_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(kept).toString('utf8');
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
    if (TIMEOUT_CODES.has(code) || name === 'TimeoutError') {
      return { code: 'timeout', message: `no complete answer within ${timeoutMs} ms` };
    }
    if (DNS_CODES.has(code)) return { code: 'dns', message: `DNS lookup failed (${code})` };
    if (code === 'ECONNREFUSED') return { code: 'refused', message: 'connection refused' };
    if (isTlsError(code)) return { code: 'tls', message: `TLS failed: ${current.message}` };
    if (/proxy/i.test(current.message ?? '')) return { code: 'proxy', message: current.message };
    if (CONNECTION_CODES.has(code)) return { code: 'connection', message: `connection failed (${code})` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'connection', message };
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
