/**
 * The benchmarks' knobs, read from the environment once by the runner and passed down.
 * `BENCH_SCALE` multiplies every default size and duration (0.1 for a quick run); a size given
 * by its own variable is taken as it is.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type StoreKind = 'sqlite' | 'postgres';

export interface BenchSettings {
  scale: number;
  stores: StoreKind[];
  databaseUrl: string;
  resultsDir: string;
  /** Extra node arguments for the Herald processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them. */
  heraldNodeArgs: string[];
  /** Herald settings for every Herald process, e.g. "HERALD_STORE_THREAD=0 HERALD_SEND_THREADS=2" to compare. */
  heraldEnv: Record<string, string>;
  /** The baseline client's pool: connections per origin and requests outstanding at once. */
  rawConnections: number;
  rawConcurrency: number;
  /**
   * The longest one measurement may wait for its deliveries: a Herald too slow to finish in time
   * is measured on what it delivered by then, and the figure says so.
   */
  maxWaitMs: number;
  /** Concurrent batch requests while publishing batches to Herald. */
  publishConcurrency: number;
  /** Webhooks the throughput, latency and backlog events are spread over, one webhook per event. */
  webhooks: number;
  throughputDeliveries: number;
  /** Throughput figures are measured this many times over; the round of the median ratio is kept. */
  throughputRounds: number;
  latencyRates: number[];
  latencySeconds: number;
  fanoutWebhooks: number;
  fanoutPaths: number;
  /** Fan-out figures are measured this many times over, as throughput's; the median round is kept. */
  fanoutRounds: number;
  /**
   * How the fan-out webhooks are made: `import` (a `herald export` file loaded with `herald
   * import`, the bulk path) or `api` (one POST /api/webhooks each).
   */
  fanoutSetup: 'import' | 'api';
  backlogDeliveries: number;
  backlogStores: StoreKind[];
  backlogTimeoutMs: number;
  ingestBatchEvents: number;
  ingestSingleRequests: number;
  ingestClients: number;
  isolationWebhooks: number;
  isolationRate: number;
  isolationSeconds: number;
  isolationTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

export function loadSettings(env: Env): BenchSettings {
  const scale = positiveNumber(env, 'BENCH_SCALE', 1);
  const sized = (name: string, full: number, min: number) => positiveInteger(env, name, Math.max(min, Math.round(full * scale)));
  const timed = (name: string, fullSeconds: number) => positiveNumber(env, name, Math.max(2, fullSeconds * scale));
  const stores = storeList(env, 'BENCH_STORES', ['sqlite', 'postgres']);
  return {
    scale,
    stores,
    databaseUrl: env.BENCH_DATABASE_URL || env.HERALD_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
    resultsDir: path.resolve(ROOT, env.BENCH_RESULTS_DIR || 'bench/results'),
    heraldNodeArgs: (env.BENCH_HERALD_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== ''),
    heraldEnv: heraldEnv(env.BENCH_HERALD_ENV ?? ''),
    rawConnections: positiveInteger(env, 'BENCH_RAW_CONNECTIONS', 64),
    rawConcurrency: positiveInteger(env, 'BENCH_RAW_CONCURRENCY', 256),
    maxWaitMs: positiveNumber(env, 'BENCH_MAX_WAIT_SECONDS', 120) * 1000,
    publishConcurrency: positiveInteger(env, 'BENCH_PUBLISH_CONCURRENCY', 4),
    webhooks: positiveInteger(env, 'BENCH_WEBHOOKS', 50),
    throughputDeliveries: sized('BENCH_THROUGHPUT_DELIVERIES', 50_000, 100),
    throughputRounds: positiveInteger(env, 'BENCH_THROUGHPUT_ROUNDS', 3),
    latencyRates: numberList(env, 'BENCH_LATENCY_RATES', [200, 1000]),
    latencySeconds: timed('BENCH_LATENCY_SECONDS', 10),
    fanoutWebhooks: sized('BENCH_FANOUT_WEBHOOKS', 10_000, 100),
    fanoutPaths: positiveInteger(env, 'BENCH_FANOUT_PATHS', 100),
    fanoutRounds: positiveInteger(env, 'BENCH_FANOUT_ROUNDS', 3),
    fanoutSetup: oneOf(env, 'BENCH_FANOUT_SETUP', ['import', 'api'], 'import'),
    backlogDeliveries: sized('BENCH_BACKLOG_DELIVERIES', 200_000, 1000),
    backlogStores: storeList(env, 'BENCH_BACKLOG_STORES', ['sqlite']).filter((store) => stores.includes(store)),
    backlogTimeoutMs: positiveInteger(env, 'BENCH_BACKLOG_TIMEOUT_MS', 120_000),
    ingestBatchEvents: sized('BENCH_INGEST_EVENTS', 100_000, 1000),
    ingestSingleRequests: sized('BENCH_INGEST_REQUESTS', 20_000, 200),
    ingestClients: positiveInteger(env, 'BENCH_INGEST_CLIENTS', 32),
    isolationWebhooks: evenInteger(env, 'BENCH_ISOLATION_WEBHOOKS', 20),
    isolationRate: positiveInteger(env, 'BENCH_ISOLATION_RATE', 200),
    isolationSeconds: timed('BENCH_ISOLATION_SECONDS', 10),
    isolationTimeoutMs: positiveInteger(env, 'BENCH_ISOLATION_TIMEOUT_MS', 2_000),
  };
}

function positiveNumber(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function positiveInteger(env: Env, name: string, fallback: number): number {
  const value = positiveNumber(env, name, fallback);
  if (!Number.isInteger(value)) throw new Error(`${name} must be a whole number, got "${env[name]}"`);
  return value;
}

function evenInteger(env: Env, name: string, fallback: number): number {
  const value = positiveInteger(env, name, fallback);
  if (value % 2 !== 0) throw new Error(`${name} must be even (half hang, half answer), got ${value}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function numberList(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((entry) => Number(entry.trim()));
  if (values.some((value) => !Number.isFinite(value) || value <= 0)) {
    throw new Error(`${name} must be comma-separated positive numbers, got "${raw}"`);
  }
  return values;
}

function storeList(env: Env, name: string, fallback: StoreKind[]): StoreKind[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  for (const entry of entries) {
    if (entry !== 'sqlite' && entry !== 'postgres') throw new Error(`${name}: "${entry}" is not sqlite or postgres`);
  }
  return entries as StoreKind[];
}

/** "NAME=value NAME=value", each name a HERALD_ variable. */
function heraldEnv(text: string): Record<string, string> {
  const pairs = text.split(/\s+/).filter((pair) => pair !== '');
  return Object.fromEntries(
    pairs.map((pair) => {
      const match = /^(HERALD_[A-Z0-9_]+)=(.*)$/.exec(pair);
      if (!match) throw new Error(`BENCH_HERALD_ENV: "${pair}" is not HERALD_NAME=value`);
      return [match[1], match[2]];
    }),
  );
}
