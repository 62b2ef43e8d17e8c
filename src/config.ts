import path from 'node:path';
import { parseDuration, parseRetrySchedule } from './core/retry.js';
import { parseCidr } from './http/address-guard.js';
import { availableParallelism } from 'node:os';
import { defaultSendThreads } from './http/sender.js';

/**
 * Herald's configuration, read from the environment once at start-up and passed down.
 * Nothing else in the code reads `process.env`.
 */
export interface HeraldConfig {
  port: number;
  host: string;
  dataDir: string;
  /** When set, Herald uses this PostgreSQL database instead of the embedded store. */
  databaseUrl: string | null;
  /** The PostgreSQL schema Herald's tables live in. */
  databaseSchema: string;
  /** When set, this token is an instance admin token; when unset one is generated once. */
  adminToken: string | null;
  /** The 32-byte key webhook secrets are encrypted with; when unset, `encryption.key` in dataDir. */
  encryptionKey: Buffer | null;
  /** Unsafe switch: lets webhooks target loopback, private and link-local addresses. */
  allowPrivateNetworks: boolean;
  /** Internal ranges (CIDRs) webhooks and proxies may reach while private networks are off. */
  allowedNetworks: string[];
  retryScheduleMs: number[];
  /** A webhook is set inactive after no success for this long (HERALD_DISABLE_AFTER)... */
  disableAfterMs: number;
  /** ...and at least this many deliveries given up on in a row; 0 turns it off. */
  disableAfterFailures: number;
  deliveryTimeoutMs: number;
  /** Deliveries in flight at once in this process. */
  maxInFlight: number;
  /** Deliveries in flight at once to one webhook, so a slow receiver holds only its own slots. */
  maxInFlightPerWebhook: number;
  /** Worker threads that send the requests; 0 sends on the main thread (see ThreadSender). */
  sendThreads: number;
  /** SQLite runs on a thread of its own (see ThreadedSqliteStore); off, on the main thread. */
  storeThread: boolean;
  /** Unit used when Herald fills in a missing eventTimestamp. */
  eventTimestampUnit: 'ms' | 's';
  logLevel: string;
  /** How long SIGTERM waits for in-flight deliveries before releasing them. */
  shutdownGraceMs: number;
  /** API requests per minute and token (also the burst size); 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** Sends Strict-Transport-Security: only right when clients reach Herald over HTTPS. */
  hsts: boolean;
  /** Browser origins allowed to call the API; empty keeps CORS closed. */
  corsOrigins: string[];
  /** Webhooks one scope (the instance, a company, a project) may hold. */
  maxWebhooksPerScope: number;
  /** Largest request head (request line and headers) the API reads; larger ones get a 431. */
  maxHeaderBytes: number;
  /** Serves /metrics without a token (for a scraper on a trusted network); else it needs an admin token. */
  metricsPublic: boolean;
}

export const DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  dataDir: './data',
  databaseSchema: 'herald',
  retrySchedule: '5s,30s,2m,10m,1h',
  disableAfter: '5d',
  disableAfterFailures: 10,
  deliveryTimeoutMs: 10_000,
  maxInFlight: 512,
  maxInFlightPerWebhook: 32,
  eventTimestampUnit: 'ms',
  logLevel: 'info',
  shutdownGraceMs: 5_000,
  rateLimitPerMinute: 6_000,
  maxWebhooksPerScope: 500,
  maxHeaderBytes: 16 * 1024,
} as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env, cwd = process.cwd()): HeraldConfig {
  return {
    port: integer(env, 'HERALD_PORT', DEFAULTS.port, 0, 65_535),
    host: env.HERALD_HOST || DEFAULTS.host,
    dataDir: path.resolve(cwd, env.HERALD_DATA_DIR || DEFAULTS.dataDir),
    databaseUrl: databaseUrl(env),
    databaseSchema: schemaName(env),
    adminToken: adminToken(env),
    encryptionKey: encryptionKey(env),
    allowPrivateNetworks: flag(env, 'HERALD_ALLOW_PRIVATE_NETWORKS'),
    allowedNetworks: allowedNetworks(env),
    retryScheduleMs: retrySchedule(env),
    disableAfterMs: disableAfter(env),
    disableAfterFailures: integer(env, 'HERALD_DISABLE_AFTER_FAILURES', DEFAULTS.disableAfterFailures, 0, 1_000_000),
    deliveryTimeoutMs: integer(env, 'HERALD_DELIVERY_TIMEOUT_MS', DEFAULTS.deliveryTimeoutMs, 100, 300_000),
    maxInFlight: integer(env, 'HERALD_MAX_IN_FLIGHT', DEFAULTS.maxInFlight, 1, 10_000),
    maxInFlightPerWebhook: integer(
      env,
      'HERALD_MAX_IN_FLIGHT_PER_WEBHOOK',
      DEFAULTS.maxInFlightPerWebhook,
      1,
      10_000,
    ),
    sendThreads: integer(env, 'HERALD_SEND_THREADS', defaultSendThreads(), 0, 16),
    // Like a sending thread, worth it only with a core to spare.
    storeThread: flag(env, 'HERALD_STORE_THREAD', availableParallelism() > 1),
    eventTimestampUnit: oneOf(env, 'HERALD_EVENT_TIMESTAMP_UNIT', ['ms', 's'], DEFAULTS.eventTimestampUnit),
    logLevel: oneOf(
      env,
      'HERALD_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      DEFAULTS.logLevel,
    ),
    shutdownGraceMs: integer(env, 'HERALD_SHUTDOWN_GRACE_MS', DEFAULTS.shutdownGraceMs, 0, 120_000),
    rateLimitPerMinute: integer(env, 'HERALD_RATE_LIMIT_PER_MINUTE', DEFAULTS.rateLimitPerMinute, 0, 10_000_000),
    hsts: flag(env, 'HERALD_HSTS'),
    corsOrigins: corsOrigins(env),
    maxWebhooksPerScope: integer(env, 'HERALD_MAX_WEBHOOKS_PER_SCOPE', DEFAULTS.maxWebhooksPerScope, 1, 100_000),
    maxHeaderBytes: integer(env, 'HERALD_MAX_HEADER_BYTES', DEFAULTS.maxHeaderBytes, 1024, 1024 * 1024),
    metricsPublic: flag(env, 'HERALD_METRICS_PUBLIC'),
  };
}

/** Splits a comma-separated variable; blanks around and between entries are ignored. */
function list(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function allowedNetworks(env: Env): string[] {
  return list(env, 'HERALD_ALLOWED_NETWORKS').map((entry) => {
    try {
      parseCidr(entry);
    } catch (error) {
      throw new ConfigError(`HERALD_ALLOWED_NETWORKS: ${(error as Error).message} (use e.g. 10.20.0.0/16 or fd00::/8)`);
    }
    return entry;
  });
}

/** Origins are compared as exact strings with the browser's Origin header, so each must be in
 * the form a browser sends: scheme, host, port only when not the default, no trailing slash. */
function corsOrigins(env: Env): string[] {
  return list(env, 'HERALD_CORS_ORIGINS').map((entry) => {
    let origin: string | null = null;
    try {
      const url = new URL(entry);
      if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
    } catch {
      // Reported below.
    }
    if (origin !== entry) {
      throw new ConfigError(`HERALD_CORS_ORIGINS: "${entry}" is not an origin such as https://console.example.com`);
    }
    return entry;
  });
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function flag(env: Env, name: string, fallback = false): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '') return fallback;
  if (['0', 'false', 'no'].includes(raw)) return false;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  throw new ConfigError(`${name} must be 1 or 0, got "${env[name]}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function retrySchedule(env: Env): number[] {
  try {
    return parseRetrySchedule(env.HERALD_RETRY_SCHEDULE || DEFAULTS.retrySchedule);
  } catch (error) {
    throw new ConfigError(`HERALD_RETRY_SCHEDULE ${(error as Error).message}`);
  }
}

function disableAfter(env: Env): number {
  try {
    return parseDuration(env.HERALD_DISABLE_AFTER || DEFAULTS.disableAfter);
  } catch (error) {
    throw new ConfigError(`HERALD_DISABLE_AFTER ${(error as Error).message}`);
  }
}

function databaseUrl(env: Env): string | null {
  const url = env.HERALD_DATABASE_URL;
  if (url === undefined || url === '') return null;
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('HERALD_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  return url;
}

function schemaName(env: Env): string {
  const schema = env.HERALD_DATABASE_SCHEMA || DEFAULTS.databaseSchema;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new ConfigError('HERALD_DATABASE_SCHEMA must be lowercase letters, digits and _');
  }
  return schema;
}

function adminToken(env: Env): string | null {
  const token = env.HERALD_ADMIN_TOKEN;
  if (token === undefined || token === '') return null;
  if (token.length < 16) throw new ConfigError('HERALD_ADMIN_TOKEN must be at least 16 characters');
  return token;
}

function encryptionKey(env: Env): Buffer | null {
  const text = env.HERALD_ENCRYPTION_KEY;
  if (text === undefined || text === '') return null;
  const key = parseEncryptionKey(text);
  // The value itself is never echoed: it is the key.
  if (!key) throw new ConfigError('HERALD_ENCRYPTION_KEY must be 32 bytes written as base64 or as 64 hex digits');
  return key;
}

/** 32 bytes as 64 hex digits or as base64 (standard or URL-safe); null for anything else. */
export function parseEncryptionKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed, 'base64');
  return key.length === 32 ? key : null;
}
