/**
 * Fan-out: one event matching every one of F instance webhooks (their URLs over P paths of the
 * receiver, each URL made distinct by a query so every delivery is counted), timed from the
 * publish until all F are answered. The baseline sends F requests with the same body and
 * headers to the same URLs from one undici pool, right before and right after Herald's run (see
 * BracketedBaseline). The figure is the median of BENCH_FANOUT_ROUNDS such rounds (see
 * medianRound), each with a Herald of its own and webhooks loaded afresh.
 *
 * Both sides warm up first, unmeasured, with a fifth of the load to URLs of their own: Herald
 * fans a warm-up event out to W webhooks that hear only it (so the measured webhooks' secrets
 * are still decrypted in the measured run), the raw client sends W requests in the process that
 * then sends the measured ones. Without it the figure was of a process's first second: about a
 * third of Herald's CPU went to compiling its code.
 *
 * The webhooks are loaded with `herald import` by default: creating them one POST at a time
 * costs time that grows with the webhooks already in the scope (each create checks the scope's
 * limit by listing it), which made a 10,000-webhook set-up take many minutes.
 * BENCH_FANOUT_SETUP=api goes through the API instead; either way the set-up time is reported.
 */
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { BENCH_EVENT, BENCH_TENANT, BENCH_WARM_UP_EVENT, HeraldApi, makeWorkDir, removeDir, startCluster, writeWebhookSnapshot, type Cluster } from './lib/herald.js';
import {
  measureBetweenBaselines,
  measureUntilAnswered,
  medianRound,
  noteBaselineRuns,
  noteCpuPerDelivery,
  noteIfCut,
  noteRoundRatios,
  publishJob,
  rawJob,
  warmUpSize,
  type BracketedBaseline,
  type DeliveryMeasurement,
} from './lib/measure.js';
import { cpuMillis, cpuSpent, startReceiver, type ReceiverProcess } from './lib/processes.js';
import { formatNumber } from './lib/report.js';
import type { StoreKind } from './lib/settings.js';

const TARGET_RATIO = 2;

const EVENT = { eventName: BENCH_EVENT, payload: { tenantId: BENCH_TENANT, projectId: 'fan', fanout: true } };
const WARM_UP_EVENT = { ...EVENT, eventName: BENCH_WARM_UP_EVENT };
/** The warm-up's size, as a share of the measured fan-out. */
const WARM_UP_SHARE = 0.2;

export const fanout: Benchmark = {
  name: 'fanout',
  summary: 'one event to 10,000 webhooks: time until all are delivered, vs a raw client sending them',
  async run(context) {
    const receiver = await startReceiver();
    try {
      for (const store of context.stores) {
        try {
          await measureStore(context, receiver, store);
        } catch (error) {
          context.report.failed(`fanout ${store}`, error);
        }
      }
    } finally {
      await receiver.kill();
    }
  },
};

function fanoutUrls(receiverUrl: string, webhooks: number, paths: number, prefix = 'f'): string[] {
  return Array.from({ length: webhooks }, (_, index) => `${receiverUrl}/${prefix}${index % paths}?w=${index}`);
}

async function measureStore(context: BenchContext, receiver: ReceiverProcess, store: StoreKind): Promise<void> {
  const { settings, report } = context;
  const count = settings.fanoutWebhooks;
  const urls = fanoutUrls(receiver.url, count, settings.fanoutPaths);
  const warmUps = warmUpSize(count, WARM_UP_SHARE);
  const warmUpUrls = fanoutUrls(receiver.url, warmUps, settings.fanoutPaths, 'warm');
  const envelope = { kind: 'fixed', text: JSON.stringify({ ...EVENT, eventTimestamp: Date.now() }) } as const;
  const measureRaw = () =>
    measureUntilAnswered(receiver, count, rawJob(settings, urls, envelope, count), {
      maxWaitMs: settings.maxWaitMs,
      warmUp: { job: rawJob(settings, warmUpUrls, envelope, warmUps), answers: warmUps },
    });
  const ratioOf = (round: { herald: HeraldFanout; baseline: BracketedBaseline }) =>
    round.herald.herald.elapsedMs / round.baseline.elapsedMs;
  const { round, ratios } = await medianRound(
    settings.fanoutRounds,
    () => measureBetweenBaselines(measureRaw, () => measureHerald(context, receiver, store, urls, warmUpUrls)),
    ratioOf,
    'lower',
  );
  const { herald: run, baseline: raw } = round;
  const { herald, cpu, setupMs } = run;
  report.add({
    benchmark: 'fanout',
    name: `fanout ${store}`,
    herald: { value: herald.elapsedMs, unit: 'ms', text: `${formatNumber(herald.elapsedMs)} ms (${formatNumber(herald.perSecond)}/s)` },
    baseline: { label: 'raw', value: raw.elapsedMs, unit: 'ms', text: `${formatNumber(raw.elapsedMs)} ms (${formatNumber(raw.perSecond)}/s)` },
    ratio: ratioOf(round),
    target: { of: 'ratio', op: '<=', value: TARGET_RATIO, text: `time <= ${TARGET_RATIO}x raw` },
    details: {
      store,
      webhooks: count,
      paths: settings.fanoutPaths,
      heraldAnswered: herald.answered,
      heraldComplete: herald.complete,
      publishRequestMs: herald.load.requestLatenciesMs[0],
      duplicates: herald.receiver.duplicates,
      rawElapsedMsBefore: raw.before.elapsedMs,
      rawElapsedMsAfter: raw.after.elapsedMs,
      setup: settings.fanoutSetup,
      setupMs,
      cpu,
      roundRatios: ratios,
    },
  });
  noteRoundRatios(report, ratios);
  noteBaselineRuns(report, raw, 'time', settings.maxWaitMs);
  noteCpuPerDelivery(report, cpu, store === 'postgres', raw);
  noteIfCut(report, herald, settings.maxWaitMs);
  const how = settings.fanoutSetup === 'api' ? 'created one by one through the API' : 'loaded with `herald import`';
  report.note(`set-up: ${count.toLocaleString('en-US')} webhooks ${how} in ${formatNumber(setupMs / 1000)} s`);
}

interface HeraldFanout {
  herald: DeliveryMeasurement;
  cpu: ReturnType<typeof cpuSpent>;
  setupMs: number;
}

/** Herald's fan-out, from its start with the webhooks to its stop. */
async function measureHerald(
  context: BenchContext,
  receiver: ReceiverProcess,
  store: StoreKind,
  urls: string[],
  warmUpUrls: string[],
): Promise<HeraldFanout> {
  const { settings } = context;
  const { cluster, setupMs } = await startWithWebhooks(context, store, urls, warmUpUrls);
  try {
    const publishOne = (event: object) => publishJob(settings, cluster.apiUrl, { kind: 'fixed', text: JSON.stringify(event) }, 1, { concurrency: 1 });
    const pids = cluster.all.map((process) => process.pid);
    let cpuBefore: ReturnType<typeof cpuMillis> = null; // read once the warm-up is over
    const herald = await cluster.explain(() =>
      measureUntilAnswered(receiver, urls.length, publishOne(EVENT), {
        maxWaitMs: settings.maxWaitMs,
        warmUp: { job: publishOne(WARM_UP_EVENT), answers: warmUpUrls.length },
        onStart: () => (cpuBefore = cpuMillis(pids, store === 'postgres')),
      }),
    );
    return { herald, cpu: cpuSpent(cpuBefore, cpuMillis(pids, store === 'postgres'), herald.answered), setupMs };
  } finally {
    await cluster.stop();
  }
}

/** Starts Herald with one instance webhook per URL, made as BENCH_FANOUT_SETUP says; times the making. */
async function startWithWebhooks(
  context: BenchContext,
  store: StoreKind,
  urls: string[],
  warmUpUrls: string[],
): Promise<{ cluster: Cluster; setupMs: number }> {
  const { settings } = context;
  if (settings.fanoutSetup === 'import') {
    const workDir = makeWorkDir();
    try {
      const started = performance.now();
      const cluster = await startCluster(settings, { store, importFile: writeWebhookSnapshot(workDir, urls, warmUpUrls) });
      return { cluster, setupMs: performance.now() - started };
    } finally {
      removeDir(workDir);
    }
  }
  const cluster = await startCluster(settings, { store });
  try {
    const api = new HeraldApi(cluster.apiUrl);
    await api.createEventType();
    await api.createEventType(BENCH_WARM_UP_EVENT);
    const all = [...urls, ...warmUpUrls];
    const setupMs = await api.createWebhooks(all.length, (index) =>
      index < urls.length ? { url: all[index] } : { url: all[index], events: [BENCH_WARM_UP_EVENT] },
    );
    await api.close();
    return { cluster, setupMs };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
