/**
 * Backlog: a receiver that is "down" while N deliveries pile up, then comes back.
 *
 * The receiver starts in hang mode: it takes requests and answers none, so Herald's per-webhook
 * and total in-flight caps hold a few hundred requests open (with a delivery timeout long
 * enough not to fire meanwhile) and everything else waits in the store, due. N events are
 * published in batches, Herald's RSS is sampled all along, then the receiver switches to
 * answering (the held requests too) and the drain is timed until all N are answered. The
 * drain's baseline is the raw client sending N requests to the same receiver, right before and
 * right after Herald's run (see BracketedBaseline).
 */
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { createProjectWebhooks, deliveryBodyLike, HeraldApi, makeWorkDir, removeDir, startCluster, writeBatchBodies, type Cluster } from './lib/herald.js';
import {
  assertAllSucceeded,
  heraldThreads,
  measureBetweenBaselines,
  measureUntilAnswered,
  noteBaselineRuns,
  projectUrls,
  publishJob,
  rawJob,
  type BracketedBaseline,
} from './lib/measure.js';
import { preciseNow } from './lib/messages.js';
import { cpuMillis, cpuSpent, RssSampler, runLoad, startReceiver, type ReceiverProcess } from './lib/processes.js';
import { formatMegabytes, formatNumber } from './lib/report.js';
import type { StoreKind } from './lib/settings.js';
import { perSecond } from './lib/stats.js';
import { BATCH_SIZE } from './throughput.js';

const PEAK_RSS_TARGET_MB = 250;
/** The drain is held to the throughput benchmark's target against the same baseline. */
const DRAIN_TARGET_RATIO = 0.5;
/** Time with the backlog complete and the receiver still down, to see memory settle. */
const HOLD_MS = 3_000;
const IDLE_MS = 1_000;
const MB = 1024 * 1024;

export const backlog: Benchmark = {
  name: 'backlog',
  summary: '200,000 deliveries held while the receiver hangs: peak RSS, then the drain rate',
  async run(context) {
    const stores = context.settings.backlogStores.filter((store) => context.stores.includes(store));
    for (const store of stores) {
      try {
        await measureStore(context, store);
      } catch (error) {
        context.report.failed(`backlog ${store}`, error);
      }
    }
  },
};

interface HeraldBacklog {
  idleBytes: number;
  peakBytes: number;
  ingestPerSecond: number;
  heldInFlight: number;
  drainAnswered: number;
  drainComplete: boolean;
  drainMs: number;
  drainPerSecond: number;
  /** CPU time Herald (and on PostgreSQL the database server) spent on the drain. */
  drainCpu: ReturnType<typeof cpuSpent>;
  rss: Array<{ seconds: number; phase: string; mb: number }>;
}

async function measureStore(context: BenchContext, store: StoreKind): Promise<void> {
  const { settings } = context;
  const receiver = await startReceiver();
  const workDir = makeWorkDir();
  try {
    const measureRaw = () =>
      measureUntilAnswered(
        receiver,
        settings.backlogDeliveries,
        rawJob(settings, projectUrls(receiver.url, settings.webhooks), { kind: 'fixed', text: deliveryBodyLike(0, settings.webhooks) }, settings.backlogDeliveries),
        { maxWaitMs: settings.maxWaitMs },
      );
    const { herald, baseline: raw } = await measureBetweenBaselines(measureRaw, () => measureHerald(context, receiver, workDir, store));
    addFigures(context, store, herald, raw);
  } finally {
    await receiver.kill();
    removeDir(workDir);
  }
}

async function measureHerald(context: BenchContext, receiver: ReceiverProcess, workDir: string, store: StoreKind): Promise<HeraldBacklog> {
  const { settings } = context;
  const count = settings.backlogDeliveries;
  const batches = writeBatchBodies(workDir, count, BATCH_SIZE, settings.webhooks);
  const cluster = await startCluster(settings, { store, env: { HERALD_DELIVERY_TIMEOUT_MS: String(settings.backlogTimeoutMs) } });
  const sampler = new RssSampler(cluster.deliverers[0].pid);
  try {
    const api = new HeraldApi(cluster.apiUrl);
    await createProjectWebhooks(api, receiver.url, settings.webhooks);
    await api.close();
    receiver.reset();
    await receiver.setMode('hang');
    await pause(IDLE_MS);
    const idleBytes = sampler.peak('idle');
    const ingestPerSecond = await cluster.explain(() => publishBacklog(context, cluster, batches, sampler));
    sampler.phase = 'holding';
    await pause(HOLD_MS);
    const heldInFlight = (await receiver.stats()).held;
    sampler.phase = 'draining';
    const pids = cluster.all.map((process) => process.pid);
    const cpuBefore = cpuMillis(pids, store === 'postgres');
    const drain = await cluster.explain(() => drainBacklog(receiver, count, settings.maxWaitMs));
    const drainCpu = cpuSpent(cpuBefore, cpuMillis(pids, store === 'postgres'), drain.count);
    sampler.stop();
    return {
      idleBytes,
      peakBytes: Math.max(sampler.peak('ingest'), sampler.peak('holding'), sampler.peak('draining')),
      ingestPerSecond,
      heldInFlight,
      drainAnswered: drain.count,
      drainComplete: drain.complete,
      drainMs: drain.ms,
      drainPerSecond: perSecond(drain.count, drain.ms),
      drainCpu,
      rss: sampler.samples.map((sample) => ({
        seconds: Math.round((sample.at - sampler.samples[0].at) / 100) / 10,
        phase: sample.phase,
        mb: Math.round((sample.bytes / MB) * 10) / 10,
      })),
    };
  } finally {
    sampler.stop();
    await cluster.stop();
  }
}

/** Publishes the whole backlog while the receiver hangs; resolves with the ingest rate. */
async function publishBacklog(
  context: BenchContext,
  cluster: Cluster,
  batches: { path: string; count: number },
  sampler: RssSampler,
): Promise<number> {
  sampler.phase = 'ingest';
  const job = publishJob(context.settings, cluster.apiUrl, { kind: 'file', path: batches.path }, batches.count, {
    concurrency: context.settings.publishConcurrency,
  });
  const load = await runLoad(job);
  assertAllSucceeded(load, job);
  if (load.cut) throw new Error(`publishing the backlog took longer than ${context.settings.maxWaitMs / 1000} s`);
  return perSecond(context.settings.backlogDeliveries, load.finishedAt - load.startedAt);
}

/** The receiver comes back: times from the switch until all `count` are answered (or the wait's limit). */
async function drainBacklog(receiver: ReceiverProcess, count: number, maxWaitMs: number) {
  const reached = receiver.waitForAnswered(count, maxWaitMs);
  reached.catch(() => undefined); // awaited below
  const switchedAt = preciseNow();
  await receiver.setMode('answer');
  const result = await reached;
  return { count: result.count, complete: result.complete, ms: result.at - switchedAt };
}

function addFigures(context: BenchContext, store: StoreKind, herald: HeraldBacklog, raw: BracketedBaseline): void {
  const { report, settings } = context;
  const count = settings.backlogDeliveries;
  const shared = { store, deliveries: count, webhooks: settings.webhooks, deliveryTimeoutMs: settings.backlogTimeoutMs };
  report.add({
    benchmark: 'backlog',
    name: `backlog ${store} peak RSS`,
    herald: { value: herald.peakBytes / MB, unit: 'MB', text: `peak ${formatMegabytes(herald.peakBytes)}` },
    baseline: { label: 'idle', value: herald.idleBytes / MB, unit: 'MB' },
    ratio: null,
    target: { of: 'herald', op: '<', value: PEAK_RSS_TARGET_MB, text: `< ${PEAK_RSS_TARGET_MB} MB` },
    details: { ...shared, ingestPerSecond: herald.ingestPerSecond, heldInFlight: herald.heldInFlight, rss: herald.rss },
  });
  const throughputFigure = report.figures.find((figure) => figure.name === `throughput ${store}`);
  report.add({
    benchmark: 'backlog',
    name: `backlog ${store} drain`,
    herald: { value: herald.drainPerSecond, unit: 'deliveries/s' },
    baseline: { label: 'raw', value: raw.perSecond, unit: 'req/s' },
    ratio: herald.drainPerSecond / raw.perSecond,
    target: { of: 'ratio', op: '>=', value: DRAIN_TARGET_RATIO, text: `>= ${DRAIN_TARGET_RATIO}, as throughput` },
    details: {
      ...shared,
      drainMs: herald.drainMs,
      drainAnswered: herald.drainAnswered,
      drainComplete: herald.drainComplete,
      rawPerSecondBefore: raw.before.perSecond,
      rawPerSecondAfter: raw.after.perSecond,
      throughputThisRun: throughputFigure?.herald.value ?? null,
      drainOverThroughput: throughputFigure ? herald.drainPerSecond / throughputFigure.herald.value : null,
      cpu: herald.drainCpu,
    },
  });
  noteBaselineRuns(report, raw, 'rate', settings.maxWaitMs);
  if (herald.drainCpu) {
    report.note(`CPU per delivery while draining: Herald ${formatNumber(herald.drainCpu.heraldUsPerDelivery)} µs (${heraldThreads(herald.drainCpu)})`);
  }
  report.note(
    `ingest while down ${formatNumber(herald.ingestPerSecond)} events/s; ${herald.heldInFlight} requests held open` +
      (throughputFigure ? `; drain / throughput this run ${formatNumber(herald.drainPerSecond / throughputFigure.herald.value)}` : ''),
  );
  if (!herald.drainComplete) {
    report.note(
      `drain cut at ${Math.round(settings.maxWaitMs / 1000)} s (BENCH_MAX_WAIT_SECONDS): ` +
        `${herald.drainAnswered.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} answered; the rate is over those`,
    );
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
