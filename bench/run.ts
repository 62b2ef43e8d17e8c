/**
 * `npm run bench [-- name ...]`: runs every benchmark, or the named ones, one after the other,
 * printing one line per figure and writing all of them to bench/results/. A benchmark that
 * fails is reported and the run goes on; the exit code is 1 when any failed (a MISS is a
 * figure, not a failure).
 */
import os from 'node:os';
import { backlog } from './backlog.js';
import { fanout } from './fanout.js';
import { ingest } from './ingest.js';
import { isolation } from './isolation.js';
import { latency } from './latency.js';
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { postgresReachable, removeTemporaryDirs } from './lib/herald.js';
import { buildHerald, killAllChildren } from './lib/processes.js';
import { formatMegabytes, Report } from './lib/report.js';
import { loadSettings, type BenchSettings, type StoreKind } from './lib/settings.js';
import { throughput } from './throughput.js';

/** In the order they run: throughput first, since backlog compares its drain rate with it. */
const BENCHMARKS: Benchmark[] = [throughput, latency, fanout, backlog, ingest, isolation];

function selectBenchmarks(names: string[]): Benchmark[] {
  if (names.length === 0) return BENCHMARKS;
  const unknown = names.filter((name) => !BENCHMARKS.some((benchmark) => benchmark.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; choose from ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    process.exit(2);
  }
  return BENCHMARKS.filter((benchmark) => names.includes(benchmark.name));
}

function printHelp(): void {
  process.stdout.write('npm run bench [-- name ...]   (BENCH_SCALE=0.1 for a quick run; see README "Benchmarks")\n\n');
  for (const benchmark of BENCHMARKS) process.stdout.write(`  ${benchmark.name.padEnd(12)} ${benchmark.summary}\n`);
}

/** PostgreSQL is left out, with a recorded error, when it does not answer. */
async function reachableStores(settings: BenchSettings, report: Report): Promise<StoreKind[]> {
  if (!settings.stores.includes('postgres')) return settings.stores;
  const problem = await postgresReachable(settings.databaseUrl);
  if (problem === null) return settings.stores;
  report.failed('postgres', new Error(`${settings.databaseUrl} does not answer (${problem}); PostgreSQL figures are skipped`));
  return settings.stores.filter((store) => store !== 'postgres');
}

function printHeader(settings: BenchSettings, stores: StoreKind[], selected: Benchmark[]): void {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  process.stdout.write(
    `herald benchmarks: ${selected.map((benchmark) => benchmark.name).join(', ')}\n` +
      `  ${cpu}, ${os.cpus().length} cores, ${formatMegabytes(os.totalmem())}, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}\n` +
      `  scale ${settings.scale}, stores ${stores.join(', ') || 'none'}\n\n`,
  );
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    printHelp();
    return 0;
  }
  const selected = selectBenchmarks(args);
  const settings = loadSettings(process.env);
  const report = new Report(settings);
  const stores = await reachableStores(settings, report);
  printHeader(settings, stores, selected);
  buildHerald();
  const context: BenchContext = { settings, report, stores };
  try {
    for (const benchmark of selected) {
      const started = performance.now();
      try {
        await benchmark.run(context);
      } catch (error) {
        report.failed(benchmark.name, error);
      }
      report.took(benchmark.name, (performance.now() - started) / 1000);
    }
  } finally {
    killAllChildren();
    removeTemporaryDirs();
  }
  const file = report.write(args);
  process.stdout.write(`\nresults: ${file}\n`);
  return report.errors.length > 0 ? 1 : 0;
}

// Ctrl-C: end the children too, or they would outlive the run.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren();
    removeTemporaryDirs();
    process.exit(130);
  });
}
process.on('exit', killAllChildren);

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    killAllChildren();
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
