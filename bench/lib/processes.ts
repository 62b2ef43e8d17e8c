/**
 * Starting, talking to and ending the benchmarks' child processes: Herald (`herald serve`), the
 * receiver, the load client and the bare API. Each runs in its own process so that none of
 * them borrows another's event loop; every child is tracked and killed when the runner ends.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type {
  ClientCommand,
  ClientEvent,
  LoadJob,
  LoadResult,
  ReceiverCommand,
  ReceiverEvent,
  ReceiverMode,
  ReceiverStats,
} from './messages.js';
import { ROOT } from './settings.js';

const TSX = ['--import', 'tsx'];
/** Herald as it runs in production (`npm run serve`): compiled by `npm run build` (see
 * buildHerald), not through tsx, with the node options of that script. */
const HERALD_MAIN = path.join(ROOT, 'dist/cli/main.js');
const HERALD_NODE_OPTIONS = serveNodeOptions();
const START_TIMEOUT_MS = 30_000;
/** Output kept per child, for the error message when it fails. */
const OUTPUT_KEPT_CHARS = 16_000;

const children = new Set<ChildProcess>();

/** The `--` options between `node` and the script in package.json's `serve`. */
function serveNodeOptions(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = manifest.scripts.serve.split(/\s+/);
  const script = words.indexOf('dist/cli/main.js');
  if (script < 0) throw new Error(`package.json's serve script no longer runs dist/cli/main.js: ${manifest.scripts.serve}`);
  return words.slice(1, script).filter((word) => word.startsWith('--'));
}

/** Kills every child still running; called when the runner ends, however it ends. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Keeps the tail of a child's stdout and stderr; reading them also keeps its pipes from filling up. */
function captureOutput(child: ChildProcess): () => string {
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => output;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited(child);
}

/** SIGTERM first, so a profile asked for with BENCH_HERALD_NODE_ARGS gets written; SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/**
 * Sends `command` (when given) and resolves with the first IPC message `accept` returns a value
 * for; fails when the child has exited, exits first, or says nothing within `timeoutMs`.
 */
function exchange<M, T>(
  child: ChildProcess,
  command: unknown,
  accept: (message: M) => T | undefined,
  what: string,
  timeoutMs: number,
  output: () => string = () => '',
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const fail = (reason: string) => {
      cleanup();
      reject(new Error(`${what}: ${reason}\n${output()}`));
    };
    const onMessage = (message: unknown) => {
      const value = accept(message as M);
      if (value === undefined) return;
      cleanup();
      resolve(value);
    };
    const onExit = (code: number | null, signal: string | null) => fail(`the process ended (${code ?? signal}) first`);
    const timer = setTimeout(() => fail(`no answer within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
    if (command === undefined) return;
    if (!child.connected) {
      fail('the process has ended');
      return;
    }
    child.send(command as object, (error) => {
      if (error) fail(`could not send (${error.message})`);
    });
  });
}

/** Sends a message that needs no answer; a child that has ended is not an error here. */
function tell(child: ChildProcess, command: object): void {
  if (child.connected) child.send(command, () => undefined);
}

function forkChild(file: string, args: string[] = []): { child: ChildProcess; output: () => string } {
  const child = track(
    fork(path.join(ROOT, 'bench/lib', file), args, {
      cwd: ROOT,
      execArgv: TSX,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  // Send failures are handled where the message is sent; this keeps one from ending the runner.
  child.on('error', () => undefined);
  return { child, output: captureOutput(child) };
}

// ---- Herald ----------------------------------------------------------------------------------

export interface HeraldProcess {
  /** The API's address; null for a worker. */
  url: string | null;
  pid: number;
  output(): string;
  /** SIGTERM, then SIGKILL if it has not ended within a few seconds. */
  kill(): Promise<void>;
}

/** Runs a one-off `herald <args>` command (e.g. `import file`) to its end; rejects when it fails. */
export async function runHeraldCommand(env: Record<string, string>, args: string[]): Promise<string> {
  const child = track(
    spawn(process.execPath, [HERALD_MAIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const output = captureOutput(child);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown')));
  if (code !== 0) throw new Error(`herald ${args.join(' ')} failed (${code}):\n${output()}`);
  return output();
}

/** How long a Herald gets to end after SIGTERM (its in-flight grace is set shorter). */
const HERALD_STOP_GRACE_MS = 5_000;

/** What `herald serve` prints once it is ready. */
const READY_LINE = /Herald is listening on (http:\/\/\S+)|Herald is delivering \(/;

/** Compiles Herald's sources into dist/ (`npm run build`), so each run measures the code as it is. */
export function buildHerald(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

/** Starts the compiled `herald serve [--role role]` and waits for its ready line. */
export async function startHerald(
  env: Record<string, string>,
  role: 'all' | 'api' | 'worker' = 'all',
  nodeArgs: string[] = [],
): Promise<HeraldProcess> {
  const child = track(
    spawn(process.execPath, [...HERALD_NODE_OPTIONS, ...nodeArgs, HERALD_MAIN, 'serve', '--role', role], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HERALD_HOST: '127.0.0.1',
        HERALD_PORT: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const output = captureOutput(child);
  const url = await new Promise<string | null>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`herald (${role}) did not start in time:\n${output()}`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout!.on('data', () => {
      const match = READY_LINE.exec(output());
      if (!match) return;
      clearTimeout(timer);
      resolve(match[1] ?? null);
    });
    child.once('exit', (code, signal) => fail(new Error(`herald (${role}) exited (${code ?? signal}):\n${output()}`)));
  });
  return { url, pid: child.pid!, output, kill: () => stopChild(child, HERALD_STOP_GRACE_MS) };
}

// ---- receiver --------------------------------------------------------------------------------

export interface ReceiverProcess {
  url: string;
  pid: number;
  /**
   * Resolves once `count` distinct requests (of `group`) were answered, or at `deadlineMs` with
   * what was answered by then (`complete: false`).
   */
  waitForAnswered(count: number, deadlineMs: number, group?: string): Promise<Reached>;
  setMode(mode: ReceiverMode): Promise<number>;
  stats(): Promise<ReceiverStats>;
  reset(): void;
  kill(): Promise<void>;
}

export interface Reached {
  /** When the last counted request was answered, on the receiver's clock. */
  at: number;
  count: number;
  complete: boolean;
}

/** Time given to a child beyond a deadline of its own, before it is called stuck. */
const DEADLINE_SLACK_MS = 60_000;

export async function startReceiver(options: { latency?: boolean } = {}): Promise<ReceiverProcess> {
  const { child, output } = forkChild('receiver.ts', options.latency ? ['--latency'] : []);
  const ask = <T>(command: ReceiverCommand, accept: (event: ReceiverEvent) => T | undefined, what: string, timeoutMs: number) =>
    exchange(child, command, accept, what, timeoutMs, output);
  const port = await exchange<ReceiverEvent, number>(
    child,
    undefined,
    (event) => (event.type === 'ready' ? event.port : undefined),
    'receiver start',
    START_TIMEOUT_MS,
    output,
  );
  const stats = () => ask({ type: 'stats' }, (event) => (event.type === 'stats' ? event.stats : undefined), 'receiver stats', 60_000);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async waitForAnswered(count, deadlineMs, group) {
      try {
        return await ask(
          { type: 'expect', count, group, deadlineMs },
          (event) => (event.type === 'reached' ? { at: event.at, count: event.count, complete: event.complete } : undefined),
          'receiver',
          deadlineMs + DEADLINE_SLACK_MS,
        );
      } catch (error) {
        const seenStats = await stats().catch(() => null);
        const seen = seenStats
          ? `${seenStats.answered} answered, ${seenStats.received} received, ${seenStats.held} held`
          : 'no stats';
        throw new Error(`waiting for ${count} answered requests${group ? ` in ${group}` : ''}: ${(error as Error).message} (${seen})`);
      }
    },
    setMode: (mode) => ask({ type: 'mode', mode }, (event) => (event.type === 'mode-set' ? event.released : undefined), 'receiver mode', 60_000),
    stats,
    reset: () => tell(child, { type: 'reset' } satisfies ReceiverCommand),
    kill: () => killChild(child),
  };
}

// ---- load client -----------------------------------------------------------------------------

export interface ClientProcess {
  pid: number;
  run(job: LoadJob): Promise<LoadResult>;
  kill(): Promise<void>;
}

export async function startClient(): Promise<ClientProcess> {
  const { child, output } = forkChild('raw-client.ts');
  await exchange<ClientEvent, true>(child, undefined, (event) => (event.type === 'ready' ? true : undefined), 'client start', START_TIMEOUT_MS, output);
  return {
    pid: child.pid!,
    async run(job) {
      const result = await exchange<ClientEvent, LoadResult | Error>(
        child,
        { type: 'run', job } satisfies ClientCommand,
        (event) => (event.type === 'done' ? event.result : event.type === 'error' ? new Error(event.message) : undefined),
        'load client',
        // Requests outstanding at the deadline may still take a receiver's or Herald's timeout.
        job.deadlineMs + DEADLINE_SLACK_MS,
        output,
      );
      if (result instanceof Error) throw result;
      return result;
    },
    kill: () => killChild(child),
  };
}

/**
 * Runs one job in a fresh client process, then ends it. `before`, when given, runs first in the
 * same process (a warm-up, say), so the job itself runs on code the JIT has already compiled.
 */
export async function runLoad(job: LoadJob, before?: (client: ClientProcess) => Promise<void>): Promise<LoadResult> {
  const client = await startClient();
  try {
    await before?.(client);
    return await client.run(job);
  } finally {
    await client.kill();
  }
}

// ---- bare API --------------------------------------------------------------------------------

export interface BareApiProcess {
  url: string;
  kill(): Promise<void>;
}

/** A Fastify route that answers publishes with 202 and stores nothing: the ingest baseline. */
export async function startBareApi(): Promise<BareApiProcess> {
  const { child, output } = forkChild('bare-api.ts');
  const port = await exchange<{ type: string; port: number }, number>(
    child,
    undefined,
    (event) => (event.type === 'ready' ? event.port : undefined),
    'bare API start',
    START_TIMEOUT_MS,
    output,
  );
  return { url: `http://127.0.0.1:${port}`, kill: () => killChild(child) };
}

// ---- CPU -------------------------------------------------------------------------------------

/** Clock ticks per second of /proc's CPU times (USER_HZ), 100 on every Linux build that matters. */
const TICKS_PER_SECOND = 100;

export interface CpuReading {
  processes: number;
  /** The part of `processes` spent on their main threads (JavaScript's event loop): the rest
   * went to their other threads (sending, store, V8's compiler and garbage collector helpers). */
  mainThreads: number;
  database: number;
}

/**
 * CPU time (user + system, every thread) used so far by the given processes and, with
 * `withDatabase`, by every PostgreSQL server process, in milliseconds; null where there is no
 * /proc. Taken before and after a measurement, it says what the work cost whatever else the
 * machine was doing: a wall-clock figure on a shared machine moves with its neighbours, the
 * CPU spent per delivery much less.
 */
export function cpuMillis(pids: number[], withDatabase = false): CpuReading | null {
  if (!existsSync('/proc/self/stat')) return null;
  const databasePids = withDatabase ? processesNamed('postgres') : [];
  return {
    processes: sumTicks(pids.map((pid) => `/proc/${pid}/stat`)),
    mainThreads: sumTicks(pids.map((pid) => `/proc/${pid}/task/${pid}/stat`)),
    database: sumTicks(databasePids.map((pid) => `/proc/${pid}/stat`)),
  };
}

/** The CPU time Herald's processes (and the database server's) spent per delivery between two readings. */
export function cpuSpent(before: CpuReading | null, after: CpuReading | null, deliveries: number) {
  if (!before || !after || deliveries === 0) return null;
  const perDelivery = (ms: number) => (ms * 1000) / deliveries;
  return {
    heraldMs: after.processes - before.processes,
    databaseMs: after.database - before.database,
    heraldUsPerDelivery: perDelivery(after.processes - before.processes),
    heraldMainThreadUsPerDelivery: perDelivery(after.mainThreads - before.mainThreads),
    databaseUsPerDelivery: perDelivery(after.database - before.database),
  };
}

/** CPU milliseconds in these /proc stat files: a process's (all its threads) or one thread's. */
function sumTicks(statFiles: string[]): number {
  let ticks = 0;
  for (const file of statFiles) {
    try {
      const stat = readFileSync(file, 'utf8');
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Ended since it was listed.
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

function processesNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // Ended since it was listed.
    }
  }
  return pids;
}

// ---- memory ----------------------------------------------------------------------------------

/** A process's resident set size in bytes, from /proc (or `ps` where there is no /proc); null once it has ended. */
export function residentBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    try {
      const kilobytes = Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim());
      return Number.isFinite(kilobytes) && kilobytes > 0 ? kilobytes * 1024 : null;
    } catch {
      return null;
    }
  }
}

export interface RssSample {
  at: number;
  phase: string;
  bytes: number;
}

/** Samples a process's RSS at a fixed interval, labelling each sample with the current phase. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  phase = 'idle';
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const bytes = residentBytes(this.pid);
    if (bytes !== null) this.samples.push({ at: Date.now(), phase: this.phase, bytes });
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  peak(phase?: string): number {
    let peak = 0;
    for (const sample of this.samples) if (phase === undefined || sample.phase === phase) peak = Math.max(peak, sample.bytes);
    return peak;
  }
}
