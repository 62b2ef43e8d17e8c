import { Agent, request } from 'undici';
import { ApiError, UnreachableError, UsageError } from './failures.js';

/**
 * The HTTP side of the commands that talk to a running Herald: one request, its JSON answer, and
 * every failure turned into an {@link ApiError} or {@link UnreachableError} the command line
 * knows how to explain.
 */

export const DEFAULT_HERALD_URL = 'http://localhost:8080';
const USER_AGENT = 'herald-cli';
/** A full batch of large events takes Herald a moment to validate and store; more is a hang. */
const REQUEST_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface Connection {
  /** Herald's address without `/api`, e.g. `http://localhost:8080`. */
  baseUrl: string;
  token: string;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Checks the connection settings before any request, so a mistake is a usage error, not a network one. */
export function connectionFrom(options: { url?: string; token?: string }): Connection {
  const baseUrl = (options.url ?? DEFAULT_HERALD_URL).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new UsageError(`"${baseUrl}" is not a URL`, 'give Herald\'s address as --url http://host:port (or set HERALD_URL)');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`"${baseUrl}" is not an http or https URL`, 'give Herald\'s address as --url http://host:port');
  }
  if (!options.token) {
    throw new UsageError(
      'no API token: set HERALD_TOKEN (or pass --token)',
      'use the admin token Herald printed on its first start, or make one with `herald token create --role admin`',
    );
  }
  return { baseUrl, token: options.token };
}

/** A client for one command's requests; `close()` releases its connections. */
export class HeraldApi {
  readonly #agent = new Agent({ connectTimeout: CONNECT_TIMEOUT_MS });

  constructor(readonly connection: Connection) {}

  async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options: CallOptions = {}): Promise<ApiAnswer<T>> {
    const url = `${this.connection.baseUrl}/api${path}${queryString(options.query)}`;
    const hasBody = options.body !== undefined;
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(url, {
        method,
        dispatcher: this.#agent,
        headers: {
          authorization: `Bearer ${this.connection.token}`,
          'user-agent': USER_AGENT,
          accept: 'application/json',
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        body: hasBody ? JSON.stringify(options.body) : undefined,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
    } catch (error) {
      throw new UnreachableError(this.connection.baseUrl, networkReason(error));
    }
    const body = parseBody(await answer.body.text());
    if (answer.statusCode >= 400) throw apiErrorOf(answer.statusCode, body, answer.headers['retry-after']);
    return { status: answer.statusCode, body: body as T, headers: answer.headers };
  }

  get<T>(path: string, query?: CallOptions['query']): Promise<ApiAnswer<T>> {
    return this.call<T>('GET', path, { query });
  }

  post<T>(path: string, body: unknown, headers?: Record<string, string>): Promise<ApiAnswer<T>> {
    return this.call<T>('POST', path, { body, headers });
  }

  delete<T>(path: string): Promise<ApiAnswer<T>> {
    return this.call<T>('DELETE', path);
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** Runs one command's work with a client, and always releases its connections afterwards. */
export async function withApi<T>(connection: Connection, work: (api: HeraldApi) => Promise<T>): Promise<T> {
  const api = new HeraldApi(connection);
  try {
    return await work(api);
  } finally {
    await api.close();
  }
}

/** Ids from the command line go into paths: encoded, so `../tokens` cannot reach another route. */
export function pathSegment(value: string): string {
  return encodeURIComponent(value);
}

function queryString(query: CallOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

function parseBody(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function apiErrorOf(status: number, body: unknown, retryAfter: string | string[] | undefined): ApiError {
  const seconds = typeof retryAfter === 'string' && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined;
  if (body && typeof body === 'object') {
    const { error, message, field } = body as { error?: unknown; message?: unknown; field?: unknown };
    if (typeof error === 'string' && typeof message === 'string') {
      return new ApiError(status, error, message, typeof field === 'string' ? field : undefined, seconds);
    }
  }
  // Not Herald's error shape: something else (a proxy, another service) answered at that address.
  const text = typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : '';
  return new ApiError(status, `http_${status}`, `the server answered ${status}${text}`, undefined, seconds);
}

/** The system's own words for a failed connection, which people search for ("ECONNREFUSED"). */
function networkReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${code})`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'the connection timed out';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
    default:
      return typeof code === 'string' ? `${(error as Error).message} (${code})` : (error as Error).message;
  }
}
