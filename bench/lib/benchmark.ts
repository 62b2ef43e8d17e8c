/** What every benchmark file offers the runner, and what the runner gives each benchmark. */
import type { Report } from './report.js';
import type { BenchSettings, StoreKind } from './settings.js';

export interface BenchContext {
  settings: BenchSettings;
  report: Report;
  /** The stores this run covers: the settings' list, less PostgreSQL when it does not answer. */
  stores: StoreKind[];
}

export interface Benchmark {
  name: string;
  /** One line for `--help` and the header. */
  summary: string;
  run(context: BenchContext): Promise<void>;
}
