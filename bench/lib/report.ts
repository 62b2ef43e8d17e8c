/**
 * The figures of a run: one printed line per figure (Herald, the baseline measured in the same
 * run, their ratio, the target and PASS/MISS) and one JSON file with all of them and the machine
 * they were measured on.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchSettings } from './settings.js';
import { ROOT } from './settings.js';

export interface Measured {
  value: number;
  unit: string;
  /** How the figure is shown when a bare value and unit do not say enough (e.g. p50/p99/max). */
  text?: string;
}

export interface Target {
  /** What is compared: Herald's own value, or the ratio Herald/baseline. */
  of: 'herald' | 'ratio';
  op: '>=' | '<=' | '<';
  value: number;
  /** As printed, e.g. ">= 0.5" or "p99 < 15 ms". */
  text: string;
}

export interface Figure {
  benchmark: string;
  /** The figure's name as printed, e.g. "throughput sqlite". */
  name: string;
  herald: Measured;
  baseline: (Measured & { label: string }) | null;
  /** Herald / baseline, in the sense the target reads (throughputs: higher is better; times: lower). */
  ratio: number | null;
  target: Target | null;
  /** null when the figure has no target. */
  pass: boolean | null;
  /** Everything else measured on the way: counts, percentiles, samples, settings. */
  details: Record<string, unknown>;
}

export interface RunRecord {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  command: string[];
  settings: BenchSettings;
  machine: ReturnType<typeof machineInfo>;
  herald: { commit: string | null; dirty: boolean | null };
  figures: Figure[];
  errors: Array<{ benchmark: string; message: string }>;
  /** Wall-clock seconds each benchmark took, set-up included. */
  benchmarkSeconds: Record<string, number>;
}

const NAME_WIDTH = 34;
const HERALD_WIDTH = 40;
const BASELINE_WIDTH = 38;

export function judge(target: Target | null, herald: number, ratio: number | null): boolean | null {
  if (!target) return null;
  const value = target.of === 'ratio' ? ratio : herald;
  if (value === null || !Number.isFinite(value)) return false;
  if (target.op === '>=') return value >= target.value;
  if (target.op === '<=') return value <= target.value;
  return value < target.value;
}

/** Collects figures, prints each as it comes, writes them all at the end. */
export class Report {
  readonly figures: Figure[] = [];
  readonly errors: RunRecord['errors'] = [];
  readonly benchmarkSeconds: Record<string, number> = {};
  private readonly started = new Date();

  constructor(
    private readonly settings: BenchSettings,
    private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  add(figure: Omit<Figure, 'pass'>): Figure {
    const complete = { ...figure, pass: judge(figure.target, figure.herald.value, figure.ratio) };
    this.figures.push(complete);
    this.print(formatLine(complete));
    return complete;
  }

  /** A benchmark that could not finish: recorded, printed, and the run goes on with the next. */
  failed(benchmark: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.errors.push({ benchmark, message });
    this.print(`${benchmark.padEnd(NAME_WIDTH)} FAILED: ${message.split('\n')[0]}`);
    if (message.includes('\n')) this.print(indent(message.split('\n').slice(1).join('\n')));
  }

  note(text: string): void {
    this.print(`  ${text}`);
  }

  /** Records how long a benchmark took, so a slow one is easy to spot. */
  took(benchmark: string, seconds: number): void {
    this.benchmarkSeconds[benchmark] = Math.round(seconds * 10) / 10;
    this.print(`  (${benchmark}: ${Math.round(seconds)} s)`);
  }

  /** Writes results/<timestamp>.json and results/latest.json; returns the first path. */
  write(command: string[]): string {
    const finished = new Date();
    const record: RunRecord = {
      startedAt: this.started.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: Math.round((finished.getTime() - this.started.getTime()) / 100) / 10,
      command,
      settings: this.settings,
      machine: machineInfo(),
      herald: gitState(),
      figures: this.figures,
      errors: this.errors,
      benchmarkSeconds: this.benchmarkSeconds,
    };
    mkdirSync(this.settings.resultsDir, { recursive: true });
    const stamp = this.started.toISOString().replace(/[:.]/g, '-');
    const file = path.join(this.settings.resultsDir, `${stamp}.json`);
    const text = `${JSON.stringify(record, null, 2)}\n`;
    writeFileSync(file, text);
    writeFileSync(path.join(this.settings.resultsDir, 'latest.json'), text);
    return file;
  }
}

export function formatLine(figure: Figure): string {
  const herald = `herald ${figure.herald.text ?? `${formatNumber(figure.herald.value)} ${figure.herald.unit}`}`;
  const baseline = figure.baseline
    ? `${figure.baseline.label} ${figure.baseline.text ?? `${formatNumber(figure.baseline.value)} ${figure.baseline.unit}`}`
    : '';
  const ratio = figure.ratio === null ? '' : `ratio ${formatRatio(figure.ratio)}`;
  const target = figure.target ? `(target ${figure.target.text})` : '(no target)';
  const verdict = figure.pass === null ? '' : figure.pass ? 'PASS' : 'MISS';
  return [
    figure.name.padEnd(NAME_WIDTH),
    herald.padEnd(HERALD_WIDTH),
    baseline.padEnd(BASELINE_WIDTH),
    ratio.padEnd(12),
    target,
    verdict,
  ]
    .join(' ')
    .trimEnd();
}

/** 21340 → "21,340"; 1.234 → "1.23"; small values keep two decimals. */
export function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatRatio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : 'n/a';
}

export function formatMs(value: number): string {
  return `${formatNumber(value)} ms`;
}

export function formatMegabytes(bytes: number): string {
  return `${formatNumber(bytes / (1024 * 1024))} MB`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, 20)
    .map((line) => `    ${line}`)
    .join('\n');
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    freeMemoryBytesAtEnd: os.freemem(),
    loadAverageAtEnd: os.loadavg(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    hostname: os.hostname(),
  };
}

/** The commit measured, and whether the tree had changes on top of it. */
function gitState(): RunRecord['herald'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: null, dirty: null };
  }
}
