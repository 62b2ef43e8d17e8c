/**
 * Throughput: N events published in batches of up to 1000, each matching exactly one of the
 * project webhooks, timed from the first publish until the receiver has answered N distinct
 * deliveries. The baseline posts the same body and headers N times to the same receiver from one
 * undici pool, measured right before and right after each Herald run (see BracketedBaseline).
 * Both first run a tenth of the load unmeasured (see WarmUp in lib/measure.ts). Each figure is
 * the median of BENCH_THROUGHPUT_ROUNDS such rounds (see medianRound).
 */
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { createProjectWebhooks, deliveryBodyLike, HeraldApi, makeWorkDir, removeDir, startCluster, writeBatchBodies } from './lib/herald.js';
import {
  measureBetweenBaselines,
  measureUntilAnswered,
  medianRound,
  noteBaselineRuns,
  noteCpuPerDelivery,
  noteIfCut,
  noteRoundRatios,
  projectUrls,
  publishJob,
  rawJob,
  requestHeaders,
  warmUpSize,
  type BracketedBaseline,
  type DeliveryMeasurement,
} from './lib/measure.js';
import { cpuMillis, cpuSpent, startReceiver, type ReceiverProcess } from './lib/processes.js';
import type { StoreKind } from './lib/settings.js';

export const BATCH_SIZE = 1000;
/** The warm-up's size, as a share of the measured load. */
const WARM_UP_SHARE = 0.1;

interface Variant {
  name: string;
  store: StoreKind;
  /** PostgreSQL: worker processes beside one API process; 0 = one process doing both. */
  workers: number;
  target: { value: number; text: string } | null;
}

const VARIANTS: Variant[] = [
  { name: 'throughput sqlite', store: 'sqlite', workers: 0, target: { value: 0.5, text: '>= 0.5' } },
  { name: 'throughput postgres 1 worker', store: 'postgres', workers: 1, target: null },
  { name: 'throughput postgres 2 workers', store: 'postgres', workers: 2, target: { value: 0.35, text: '>= 0.35' } },
];

export const throughput: Benchmark = {
  name: 'throughput',
  summary: 'deliveries/s from batch publishes to an answering receiver, vs a raw undici client',
  async run(context) {
    const receiver = await startReceiver();
    const workDir = makeWorkDir();
    try {
      for (const variant of VARIANTS.filter((candidate) => context.stores.includes(candidate.store))) {
        try {
          await runVariant(context, receiver, workDir, variant);
        } catch (error) {
          context.report.failed(variant.name, error);
        }
      }
    } finally {
      await receiver.kill();
      removeDir(workDir);
    }
  },
};

async function runVariant(context: BenchContext, receiver: ReceiverProcess, workDir: string, variant: Variant): Promise<void> {
  const { settings, report } = context;
  const count = settings.throughputDeliveries;
  const rawOf = (requests: number) =>
    rawJob(settings, projectUrls(receiver.url, settings.webhooks), { kind: 'fixed', text: deliveryBodyLike(0, settings.webhooks) }, requests);
  const warmUps = warmUpSize(count, WARM_UP_SHARE);
  const measureRaw = () =>
    measureUntilAnswered(receiver, count, rawOf(count), {
      maxWaitMs: settings.maxWaitMs,
      warmUp: { job: rawOf(warmUps), answers: warmUps },
    });
  const ratioOf = (run: { herald: HeraldRun; baseline: BracketedBaseline }) => run.herald.measurement.perSecond / run.baseline.perSecond;
  const { round, ratios } = await medianRound(
    settings.throughputRounds,
    () => measureBetweenBaselines(measureRaw, () => measureHerald(context, receiver, workDir, variant)),
    ratioOf,
  );
  const { herald, baseline: raw } = round;
  const ratio = ratioOf(round);
  report.add({
    benchmark: 'throughput',
    name: variant.name,
    herald: { value: herald.measurement.perSecond, unit: 'deliveries/s' },
    baseline: { label: 'raw', value: raw.perSecond, unit: 'req/s' },
    ratio,
    target: variant.target ? { of: 'ratio', op: '>=', ...variant.target } : null,
    details: {
      deliveries: count,
      webhooks: settings.webhooks,
      batchSize: BATCH_SIZE,
      store: variant.store,
      workers: variant.workers,
      heraldElapsedMs: herald.measurement.elapsedMs,
      heraldAnswered: herald.measurement.answered,
      heraldComplete: herald.measurement.complete,
      publishElapsedMs: herald.measurement.load.finishedAt - herald.measurement.load.startedAt,
      duplicates: herald.measurement.receiver.duplicates,
      rawPerSecondBefore: raw.before.perSecond,
      rawPerSecondAfter: raw.after.perSecond,
      rawConnections: settings.rawConnections,
      rawConcurrency: settings.rawConcurrency,
      // The baseline sends the headers Herald does (see DELIVERY_HEADERS).
      heraldRequestHeaders: requestHeaders(herald.measurement),
      rawRequestHeaders: requestHeaders(raw.after),
      heraldEnv: herald.env,
      cpu: herald.cpu,
      roundRatios: ratios,
    },
  });
  noteRoundRatios(report, ratios);
  noteBaselineRuns(report, raw, 'rate', settings.maxWaitMs);
  noteCpuPerDelivery(report, herald.cpu, variant.store === 'postgres', raw);
  noteIfCut(report, herald.measurement, settings.maxWaitMs);
}

interface HeraldRun {
  measurement: DeliveryMeasurement;
  env: Record<string, string>;
  cpu: ReturnType<typeof cpuSpent>;
}

async function measureHerald(context: BenchContext, receiver: ReceiverProcess, workDir: string, variant: Variant): Promise<HeraldRun> {
  const { settings } = context;
  const count = settings.throughputDeliveries;
  const warmUps = warmUpSize(count, WARM_UP_SHARE);
  const cluster = await startCluster(settings, { store: variant.store, workers: variant.workers });
  try {
    const api = new HeraldApi(cluster.apiUrl);
    await createProjectWebhooks(api, receiver.url, settings.webhooks);
    await api.close();
    const publishOf = (events: number) => {
      const batches = writeBatchBodies(workDir, events, BATCH_SIZE, settings.webhooks);
      return publishJob(settings, cluster.apiUrl, { kind: 'file', path: batches.path }, batches.count, {
        concurrency: settings.publishConcurrency,
      });
    };
    const pids = cluster.all.map((process) => process.pid);
    const withDatabase = variant.store === 'postgres';
    let cpuBefore: ReturnType<typeof cpuMillis> = null; // read once the warm-up is over
    const measurement = await cluster.explain(() =>
      measureUntilAnswered(receiver, count, publishOf(count), {
        maxWaitMs: settings.maxWaitMs,
        warmUp: { job: publishOf(warmUps), answers: warmUps },
        onStart: () => (cpuBefore = cpuMillis(pids, withDatabase)),
      }),
    );
    const cpu = cpuSpent(cpuBefore, cpuMillis(pids, withDatabase), measurement.answered);
    return { measurement, env: cluster.env, cpu };
  } finally {
    await cluster.stop();
  }
}
