import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadConfig, type HeraldConfig } from '../../src/config.js';
import { startHerald, type RunningHerald, type StartOptions } from '../../src/herald.js';
import { dropSchemas, schemaForFolder, TEST_DATABASE_URL } from './postgres.js';
import { makeTempDir, removeDir } from './tmp.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface ApiClient {
  request<T = any>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  get<T = any>(route: string): Promise<ApiResponse<T>>;
  post<T = any>(route: string, body: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  patch<T = any>(route: string, body: unknown): Promise<ApiResponse<T>>;
  delete<T = any>(route: string): Promise<ApiResponse<T>>;
}

export function apiClient(baseUrl: string, token: string = TEST_ADMIN_TOKEN): ApiClient {
  const request = async (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
  };
  return {
    request,
    get: (route) => request('GET', route),
    post: (route, body, headers) => request('POST', route, body, headers),
    patch: (route, body) => request('PATCH', route, body),
    delete: (route) => request('DELETE', route),
  };
}

export interface TestHerald extends ApiClient {
  url: string;
  dataDir: string;
  herald: RunningHerald;
  config: HeraldConfig;
  /** Stops Herald; the data folder stays unless `removeData` is set. */
  stop(options?: { removeData?: boolean }): Promise<void>;
}

/**
 * A Herald in this process on a fresh data folder, on loopback, with a fast retry schedule.
 * With HERALD_TEST_STORE=postgres it uses a fresh schema of the test PostgreSQL instead, so a
 * suite can be run once per store (see test/postgres/).
 */
export async function startTestHerald(
  overrides: Partial<HeraldConfig> = {},
  options: Pick<StartOptions, 'clock' | 'logger' | 'role'> = {},
): Promise<TestHerald> {
  const dataDir = overrides.dataDir ?? makeTempDir('herald-test-');
  const onPostgres = process.env.HERALD_TEST_STORE === 'postgres' && overrides.databaseUrl === undefined;
  // The schema follows the data folder, so a restart on the same folder finds its data again.
  const database = onPostgres ? { databaseUrl: TEST_DATABASE_URL, databaseSchema: schemaForFolder(dataDir) } : {};
  const config: HeraldConfig = {
    ...loadConfig({}),
    port: 0,
    host: '127.0.0.1',
    dataDir,
    adminToken: TEST_ADMIN_TOKEN,
    allowPrivateNetworks: true,
    retryScheduleMs: [50, 100, 150],
    deliveryTimeoutMs: 2_000,
    shutdownGraceMs: 1_000,
    logLevel: 'silent',
    ...database,
    ...overrides,
  };
  const herald = await startHerald(config, { ...options, logger: options.logger ?? pino({ level: config.logLevel }) });
  const url = herald.url as string;
  return {
    ...apiClient(url),
    url,
    dataDir,
    herald,
    config,
    async stop(options = {}) {
      await herald.stop();
      if (options.removeData) removeDir(dataDir);
      if (onPostgres && options.removeData) await dropSchemas([config.databaseSchema]);
    },
  };
}

export interface SpawnedProcess {
  process: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

export interface SpawnedHerald extends SpawnedProcess {
  url: string;
}

export interface SpawnedWorker extends SpawnedProcess {
  /** A worker has no API. */
  url: null;
}

/** What `herald serve` prints once it is ready: the API's address, or (a worker) that it delivers. */
const READY_LINE = /Herald is listening on (http:\/\/\S+)|Herald is delivering \(/;

/**
 * Herald as its own process (`herald serve ...args`), for crash, signal and scale-out tests;
 * resolves once its API listens. A process started as a worker has no API: use `spawnWorker`.
 */
export async function spawnHerald(env: Record<string, string>, args: string[] = []): Promise<SpawnedHerald> {
  const spawned = await spawnServe(env, args);
  if (spawned.url === null) {
    spawned.process.kill('SIGKILL');
    await spawned.exited;
    throw new Error(`herald started without an API (use spawnWorker for --role worker):\n${spawned.output()}`);
  }
  return { ...spawned, url: spawned.url };
}

/** A delivery-only Herald (`herald serve --role worker ...args`); resolves once it delivers. */
export async function spawnWorker(env: Record<string, string>, args: string[] = []): Promise<SpawnedWorker> {
  const spawned = await spawnServe(env, ['--role', 'worker', ...args]);
  if (spawned.url !== null) {
    spawned.process.kill('SIGKILL');
    await spawned.exited;
    throw new Error(`herald started with an API instead of as a worker:\n${spawned.output()}`);
  }
  return { ...spawned, url: null };
}

/** Starts `herald serve ...args` and waits for its ready line; a process that never gets there is killed. */
async function spawnServe(env: Record<string, string>, args: string[]): Promise<SpawnedProcess & { url: string | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HERALD_HOST: '127.0.0.1', HERALD_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const url = await new Promise<string | null>((resolve, reject) => {
    const fail = (reason: string) => {
      child.kill('SIGKILL');
      reject(new Error(`${reason}:\n${output}`));
    };
    const timer = setTimeout(() => fail('herald did not start'), 20_000);
    child.stdout!.on('data', () => {
      const match = READY_LINE.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] ?? null);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`herald exited early:\n${output}`));
    });
  });
  return { url, process: child, output: () => output, exited };
}
