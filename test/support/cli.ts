import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './wait.js';

/** The `herald` command run from the sources, as a child process, the way people run it. */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The whole environment besides PATH: nothing leaks in from the shell running the tests. */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed; without it stdin is empty (not a terminal). */
  input?: string;
}

function spawnHeraldCli(args: string[], options: CliOptions): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs `herald ...args` to its end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const child = spawnHeraldCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdin!.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface RunningCli {
  process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout or stderr once it appears. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts a command that keeps running (`herald listen`); stop it with `stop()`. */
export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  const child = spawnHeraldCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForOutput: (pattern, timeoutMs = 15_000) =>
      waitUntil(() => pattern.exec(stdout) ?? pattern.exec(stderr), {
        timeoutMs,
        message: `herald ${args[0]} never printed ${pattern} (stdout: ${stdout}; stderr: ${stderr})`,
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
