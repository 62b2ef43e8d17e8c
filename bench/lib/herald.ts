/**
 * Herald as the benchmarks run it: its environment per store, one process or an API process
 * with workers on PostgreSQL, and the few API calls the benchmarks make (an event type,
 * webhooks, published events).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';
import { runHeraldCommand, startHerald, type HeraldProcess } from './processes.js';
import type { BenchSettings, StoreKind } from './settings.js';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
/** A custom event type with no schema: its tenant and project ids at /tenantId and /projectId. */
export const BENCH_EVENT = 'bench_event';
/** Published before a measurement, to webhooks of its own (see WarmUp in measure.ts). */
export const BENCH_WARM_UP_EVENT = 'bench_warm_up';
export const BENCH_TENANT = 'bench';
const WEBHOOK_SECRET = 'bench-webhook-secret';

export const AUTH_HEADERS = {
  authorization: `Bearer ${ADMIN_TOKEN}`,
  'content-type': 'application/json',
} as const;

export interface ClusterOptions {
  store: StoreKind;
  /** PostgreSQL only: delivery runs in this many `--role worker` processes beside one `--role api`. */
  workers?: number;
  /** More HERALD_* variables, e.g. a delivery timeout. */
  env?: Record<string, string>;
  /** A `herald export` file loaded with `herald import` before Herald starts. */
  importFile?: string;
}

export interface Cluster {
  apiUrl: string;
  /** The processes that deliver (the single process, or the workers). */
  deliverers: HeraldProcess[];
  all: HeraldProcess[];
  /** HERALD_* variables the processes ran with (the admin token left out). */
  env: Record<string, string>;
  /** Runs `work`; an error it throws gets the tail of Herald's own output added, to say why. */
  explain<T>(work: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

/** Lines of each Herald process's output added to an error. */
const LOG_LINES_ON_ERROR = 8;

/**
 * Starts Herald on a fresh store: a temporary data folder, and on PostgreSQL a fresh schema,
 * both removed by `stop`. The rate limit is off (a benchmark is one very busy token), private
 * networks are allowed (the receiver is on loopback) and scopes may hold plenty of webhooks.
 */
export async function startCluster(settings: BenchSettings, options: ClusterOptions): Promise<Cluster> {
  await settleWrites(settings);
  const dataDir = makeTemporaryDir('herald-bench-data-');
  const schema = options.store === 'postgres' ? `herald_bench_${randomBytes(5).toString('hex')}` : null;
  const env: Record<string, string> = {
    HERALD_DATA_DIR: dataDir,
    HERALD_ADMIN_TOKEN: ADMIN_TOKEN,
    // Shared by every process of one database.
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HERALD_ALLOW_PRIVATE_NETWORKS: '1',
    HERALD_LOG_LEVEL: 'warn',
    HERALD_RATE_LIMIT_PER_MINUTE: '0',
    HERALD_MAX_WEBHOOKS_PER_SCOPE: '100000',
    // The benchmarks end Herald with SIGTERM: in-flight requests to a hung receiver need not wait long.
    HERALD_SHUTDOWN_GRACE_MS: '1000',
    ...(schema ? { HERALD_DATABASE_URL: settings.databaseUrl, HERALD_DATABASE_SCHEMA: schema } : {}),
    ...settings.heraldEnv,
    ...options.env,
  };
  const started: HeraldProcess[] = [];
  const stop = async () => {
    await Promise.all(started.map((process) => process.kill()));
    removeDir(dataDir);
    if (schema) await dropSchema(settings.databaseUrl, schema);
  };
  try {
    if (options.importFile) await runHeraldCommand(env, ['import', options.importFile]);
    const workers = options.store === 'postgres' ? (options.workers ?? 0) : 0;
    const api = await startHerald(env, workers > 0 ? 'api' : 'all', settings.heraldNodeArgs);
    started.push(api);
    // One at a time: each runs the migrations under an advisory lock anyway.
    for (let i = 0; i < workers; i += 1) started.push(await startHerald(env, 'worker', settings.heraldNodeArgs));
    return {
      apiUrl: api.url!,
      deliverers: workers > 0 ? started.slice(1) : [api],
      all: started,
      env: publicEnv(env),
      explain: (work) => explainFailures(started, work),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function explainFailures<T>(processes: HeraldProcess[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const logs = processes.flatMap((process) => distinctLines(process.output()).slice(-LOG_LINES_ON_ERROR));
    if (logs.length === 0 || !(error instanceof Error)) throw error;
    throw new Error(`${error.message}\nherald's last log lines:\n${logs.join('\n')}`);
  }
}

/** A log line is JSON (pino): its message and error are what say why, not its stack. */
function briefLogLine(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: string; err?: { message?: string; code?: string; detail?: string } };
    const err = entry.err ? `: ${entry.err.message ?? ''}${entry.err.code ? ` (${entry.err.code})` : ''}` : '';
    // Process and transaction numbers differ on every line: left out, repeats fold into one.
    const detail = entry.err?.detail ? ` ${entry.err.detail.replace(/\s+/g, ' ').replace(/\d+/g, 'N')}` : '';
    return `${entry.msg ?? ''}${err}${detail}`.slice(0, 300);
  } catch {
    return line.slice(0, 300);
  }
}

/** The output's lines made brief, repeats folded into one with a count, in order of first appearance. */
function distinctLines(output: string): string[] {
  const counts = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const brief = briefLogLine(line);
    counts.set(brief, (counts.get(brief) ?? 0) + 1);
  }
  return [...counts].map(([line, count]) => (count > 1 ? `${line} (x${count})` : line));
}

function publicEnv(env: Record<string, string>): Record<string, string> {
  const { HERALD_ADMIN_TOKEN: _token, HERALD_ENCRYPTION_KEY: _key, ...rest } = env;
  return rest;
}

/**
 * Writes to disk what earlier runs left in memory, before Herald starts: the kernel's dirty
 * pages (`sync`) and, when the benchmarks use PostgreSQL, its dirty buffers (`CHECKPOINT`).
 * Otherwise a writeback or a checkpoint that the previous run's writes set off lands in this
 * run's measured seconds: in one of the two runs a figure compares (isolation's calm and
 * troubled runs) and not in the other. A database user not allowed to checkpoint skips that.
 */
async function settleWrites(settings: BenchSettings): Promise<void> {
  spawnSync('sync');
  if (!settings.stores.includes('postgres')) return;
  const client = new pg.Client({ connectionString: settings.databaseUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('CHECKPOINT');
  } catch {
    // Not reachable (the run reports that where it matters) or not allowed: nothing to settle.
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** null when the benchmarks' PostgreSQL answers, else why it does not. */
export async function postgresReachable(databaseUrl: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---- API calls -------------------------------------------------------------------------------

/** The calls that set a benchmark up; the measured load goes through the load client instead. */
export class HeraldApi {
  private readonly agent = new Agent({ connections: 16 });

  constructor(readonly url: string) {}

  async call<T = unknown>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const response = await request(`${this.url}${route}`, {
      method,
      headers: AUTH_HEADERS,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.agent,
    });
    const text = await response.body.text();
    if (response.statusCode >= 300) throw new Error(`${method} ${route}: ${response.statusCode} ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  createEventType(name = BENCH_EVENT): Promise<unknown> {
    return this.call('POST', '/api/event-types', { name, description: describeEvent(name) });
  }

  createWebhook(url: string, scope: { tenantId?: string; projectId?: string; events?: string[] } = {}): Promise<{ id: string }> {
    return this.call('POST', '/api/webhooks', { url, events: [BENCH_EVENT], secret: WEBHOOK_SECRET, ...scope });
  }

  /** Creates many webhooks, `concurrency` requests at a time; resolves with the time it took. */
  async createWebhooks(
    count: number,
    describe: (index: number) => { url: string; tenantId?: string; projectId?: string; events?: string[] },
    concurrency = 8,
  ): Promise<number> {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const { url, ...scope } = describe(next++);
        await this.createWebhook(url, scope);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return performance.now() - started;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/**
 * The usual set-up: `count` project webhooks (tenant `bench`, projects p0..p(count-1)), webhook
 * i at `<receiver>/<group>/i`, so an event for project pi matches exactly webhook i.
 */
export async function createProjectWebhooks(api: HeraldApi, receiverUrl: string, count: number, group = 'w'): Promise<void> {
  await api.createEventType();
  await api.createWebhooks(count, (index) => ({
    url: `${receiverUrl}/${group}/${index}`,
    tenantId: BENCH_TENANT,
    projectId: `p${index}`,
  }));
}

/** One event for project p(index % webhooks): it matches exactly one of the project webhooks. */
export function projectEvent(index: number, webhooks: number): object {
  return { eventName: BENCH_EVENT, payload: { tenantId: BENCH_TENANT, projectId: `p${index % webhooks}`, seq: index } };
}

/**
 * The publish body with a send time, for the load client's template: `{{n}}` picks the
 * project (so the webhook), `{{sentAt}}` is filled in as the request goes out.
 */
export function stampedEventTemplate(): string {
  return `{"eventName":"${BENCH_EVENT}","payload":{"tenantId":"${BENCH_TENANT}","projectId":"p{{n}}","sentAt":{{sentAt}}}}`;
}

/**
 * Writes `total` events as batch publish bodies of up to `batchSize`, one body per line, for the
 * load client to send; returns the file and the number of bodies. The caller removes the folder.
 */
export function writeBatchBodies(dir: string, total: number, batchSize: number, webhooks: number): { path: string; count: number } {
  const lines: string[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const events = [];
    for (let index = start; index < Math.min(total, start + batchSize); index += 1) events.push(projectEvent(index, webhooks));
    lines.push(JSON.stringify({ events }));
  }
  const file = path.join(dir, `batches-${total}-${batchSize}.ndjson`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { path: file, count: lines.length };
}

/** The bytes Herald sends for one event: the envelope as it serialises it. */
export function deliveryBodyLike(index: number, webhooks: number): string {
  const event = projectEvent(index, webhooks) as { eventName: string; payload: object };
  return JSON.stringify({ eventName: event.eventName, eventTimestamp: Date.now(), payload: event.payload });
}

function describeEvent(name: string): string {
  return name === BENCH_WARM_UP_EVENT ? 'benchmark warm-up events' : 'benchmark events';
}

/** A bench event type as `herald export` writes a custom one. */
function benchEventType(name: string) {
  return {
    name,
    description: describeEvent(name),
    schema: { type: 'object' },
    tenantIdPointer: '/tenantId',
    projectIdPointer: '/projectId',
    aliases: [],
    builtin: false,
  };
}

/** An id of the shape Herald gives webhooks: a time part, a sequence, random hex. */
function webhookId(index: number): string {
  return `wh_${Date.now().toString(36).padStart(10, '0')}${index.toString(36).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
}

/**
 * Writes a `herald export` file holding the bench event types and one instance webhook per URL,
 * for `herald import`: the bulk way to set up many webhooks (see the fan-out benchmark). The
 * `warmUpUrls` webhooks hear only BENCH_WARM_UP_EVENT.
 */
export function writeWebhookSnapshot(dir: string, urls: string[], warmUpUrls: string[] = []): string {
  const now = Date.now();
  const subscriptions = [
    ...urls.map((url) => ({ url, event: BENCH_EVENT })),
    ...warmUpUrls.map((url) => ({ url, event: BENCH_WARM_UP_EVENT })),
  ];
  const webhooks = subscriptions.map(({ url, event }, index) => ({
    id: webhookId(index),
    name: null,
    url,
    events: [event],
    tenantId: null,
    projectId: null,
    method: 'POST',
    contentType: 'application/json',
    maxAttempts: 6,
    active: true,
    base64CA: null,
    proxyUrl: null,
    createdAt: now,
    updatedAt: now,
    secret: WEBHOOK_SECRET,
  }));
  const eventTypes = [benchEventType(BENCH_EVENT), benchEventType(BENCH_WARM_UP_EVENT)];
  const snapshot = { format: 'herald-export', version: 1, exportedAt: new Date(now).toISOString(), webhooks, eventTypes, tokens: [] };
  const file = path.join(dir, `webhooks-${subscriptions.length}.json`);
  writeFileSync(file, JSON.stringify(snapshot));
  return file;
}

/** Temporary folders not removed yet, so an interrupted run can still clean up after itself. */
const temporaryDirs = new Set<string>();

function makeTemporaryDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaryDirs.add(dir);
  return dir;
}

export function makeWorkDir(): string {
  return makeTemporaryDir('herald-bench-work-');
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  temporaryDirs.delete(dir);
}

/** Removes every temporary folder still there; the runner calls it on its way out. */
export function removeTemporaryDirs(): void {
  for (const dir of temporaryDirs) removeDir(dir);
}
