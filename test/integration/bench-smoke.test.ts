import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMillis } from '../../bench/lib/processes.js';
import { makeTempDir, removeDir } from '../support/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUN_LIMIT_MS = 60_000;

/** Runs `npm run bench -- ...args` to its end; resolves with its exit code and output. */
function runBench(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'bench', '--', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`the benchmark run did not end within ${RUN_LIMIT_MS / 1000} s:\n${output}`));
    }, RUN_LIMIT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// Timings are never asserted: this only keeps the harness from rotting unnoticed.
/**
 * Runs one benchmark on SQLite at a hundredth of its size, with `env` on top, into a results
 * folder of its own; asserts it ended well, hands its output and folder to `check`, then removes
 * the folder.
 */
async function tinySqliteRun(
  benchmark: string,
  env: Record<string, string>,
  check: (output: string, resultsDir: string) => void,
): Promise<void> {
  const resultsDir = makeTempDir('herald-bench-smoke-');
  try {
    const { code, output } = await runBench([benchmark], {
      BENCH_SCALE: '0.01',
      BENCH_STORES: 'sqlite',
      BENCH_RESULTS_DIR: resultsDir,
      ...env,
    });
    assert.equal(code, 0, output);
    check(output, resultsDir);
  } finally {
    removeDir(resultsDir);
  }
}

test('a tiny throughput run prints its figure and writes the results file with machine and figures', async () => {
  await tinySqliteRun('throughput', { BENCH_THROUGHPUT_DELIVERIES: '200', BENCH_THROUGHPUT_ROUNDS: '2' }, (output, resultsDir) => {
    assert.match(output, /throughput sqlite\s+herald [\d,.]+ deliveries\/s\s+raw [\d,.]+ req\/s\s+ratio [\d.]+\s+\(target >= 0\.5\) (PASS|MISS)/);

    const files = readdirSync(resultsDir).sort();
    assert.equal(files.length, 2, `expected a timestamped file and latest.json, got ${files.join(', ')}`);
    assert.ok(files.includes('latest.json'));
    const latest = readFileSync(path.join(resultsDir, 'latest.json'), 'utf8');
    assert.equal(readFileSync(path.join(resultsDir, files.find((file) => file !== 'latest.json')!), 'utf8'), latest);

    const record = JSON.parse(latest);
    assert.deepEqual(record.errors, []);
    assert.deepEqual(record.command, ['throughput']);
    assert.equal(record.settings.scale, 0.01);
    assert.ok(record.machine.cpuModel.length > 0);
    assert.ok(record.machine.cores >= 1);
    assert.ok(record.machine.memoryBytes > 0);
    assert.match(record.machine.node, /^v\d+\./);

    assert.equal(record.figures.length, 1);
    const [figure] = record.figures;
    assert.equal(figure.benchmark, 'throughput');
    assert.equal(figure.name, 'throughput sqlite');
    assert.equal(figure.herald.unit, 'deliveries/s');
    assert.ok(figure.herald.value > 0);
    assert.equal(figure.baseline.label, 'raw');
    assert.ok(figure.baseline.value > 0);
    assert.ok(Math.abs(figure.ratio - figure.herald.value / figure.baseline.value) < 1e-9);
    // The baseline is the mean of a raw run before Herald's and one after it.
    const { rawPerSecondBefore, rawPerSecondAfter } = figure.details;
    assert.ok(rawPerSecondBefore > 0 && rawPerSecondAfter > 0);
    assert.ok(Math.abs(figure.baseline.value - (rawPerSecondBefore + rawPerSecondAfter) / 2) < 1e-9);
    assert.match(output, /raw before \/ after Herald: [\d,.]+ \/ [\d,.]+ req\/s/);
    assert.deepEqual(figure.target, { of: 'ratio', op: '>=', value: 0.5, text: '>= 0.5' });
    assert.equal(typeof figure.pass, 'boolean');
    assert.equal(figure.details.deliveries, 200);
    assert.equal(figure.details.heraldAnswered, 200);
    assert.equal(figure.details.heraldComplete, true);
    // The baseline sends what Herald sends: the same header names, as many header bytes.
    const { heraldRequestHeaders, rawRequestHeaders } = figure.details;
    assert.ok(heraldRequestHeaders.names.includes('webhook-signature'), heraldRequestHeaders.names.join(', '));
    assert.deepEqual(rawRequestHeaders.names, heraldRequestHeaders.names);
    assert.equal(rawRequestHeaders.bytesPerRequest, heraldRequestHeaders.bytesPerRequest);
    // Measured twice over: the figure is the round of the lower of the two ratios.
    const { roundRatios } = figure.details;
    assert.equal(roundRatios.length, 2);
    assert.ok(Math.abs(figure.ratio - Math.min(...roundRatios)) < 1e-9, `${figure.ratio} of ${roundRatios.join(', ')}`);
    assert.match(output, /rounds' ratios: [\d.]+, [\d.]+ \(the median round's figures above\)/);
    assert.match(output, /CPU per delivery: Herald [\d,.]+ µs \([\d,.]+ on main threads, -?[\d,.]+ on other threads\); the raw client/);
  });
});

test('a tiny fan-out run in two rounds reports the slower round, with both ratios', async () => {
  const rounds = { BENCH_FANOUT_WEBHOOKS: '40', BENCH_FANOUT_PATHS: '4', BENCH_FANOUT_ROUNDS: '2' };
  await tinySqliteRun('fanout', rounds, (output, resultsDir) => {
    assert.match(output, /fanout sqlite\s+herald [\d,.]+ ms \([\d,.]+\/s\)\s+raw [\d,.]+ ms \([\d,.]+\/s\)\s+ratio [\d.]+\s+\(target time <= 2x raw\) (PASS|MISS)/);
    assert.match(output, /rounds' ratios: [\d.]+, [\d.]+ \(the median round's figures above\)/);
    const [figure] = JSON.parse(readFileSync(path.join(resultsDir, 'latest.json'), 'utf8')).figures;
    assert.equal(figure.name, 'fanout sqlite');
    assert.equal(figure.details.heraldAnswered, 40);
    // A fan-out's ratio is a time: of two rounds, the higher is the worse, and the one reported.
    const { roundRatios } = figure.details;
    assert.equal(roundRatios.length, 2);
    assert.ok(Math.abs(figure.ratio - Math.max(...roundRatios)) < 1e-9, `${figure.ratio} of ${roundRatios.join(', ')}`);
  });
});

test('CPU readings tell a process\'s main thread from its other threads', async () => {
  const before = cpuMillis([process.pid]);
  assert.ok(before, 'this machine has /proc');
  spinFor(300);
  const afterMain = cpuMillis([process.pid])!;
  await spinOnAnotherThread(300);
  const afterWorker = cpuMillis([process.pid])!;
  // CPU time, not wall time: each spin is counted in 10 ms ticks, whatever the machine's load.
  assert.ok(afterMain.mainThreads - before.mainThreads >= 200, JSON.stringify({ before, afterMain }));
  assert.ok(afterWorker.processes - afterMain.processes >= 200, JSON.stringify({ afterMain, afterWorker }));
  assert.ok(afterWorker.mainThreads - afterMain.mainThreads < 150, JSON.stringify({ afterMain, afterWorker }));
});

/** Spins until this thread has used `cpuMs` of CPU time. */
function spinFor(cpuMs: number): void {
  const start = process.cpuUsage();
  while (true) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= cpuMs) return;
  }
}

/** Spins on a worker thread until the process has used `cpuMs` more CPU time (this thread waits meanwhile). */
async function spinOnAnotherThread(cpuMs: number): Promise<void> {
  const source = `const start = process.cpuUsage();
    while (true) { const used = process.cpuUsage(start); if ((used.user + used.system) / 1000 >= ${cpuMs}) break; }`;
  await new Promise<void>((resolve, reject) => {
    const worker = new Worker(source, { eval: true });
    worker.on('error', reject);
    worker.on('exit', () => resolve());
  });
}
