/**
 * Latency: events published one per request at a fixed rate (open loop), each matching one
 * project webhook and carrying its send time in `payload.sentAt`; the receiver subtracts that
 * from the time the complete request reached it. The baseline sends the same envelope with
 * the same stamp straight to the receiver at the same rate: the floor any sender has here.
 * One second at the rate goes first, unmeasured, from the same client process and connections,
 * so start-up costs (JIT, connections) on either side are out.
 */
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { BENCH_EVENT, BENCH_TENANT, createProjectWebhooks, HeraldApi, stampedEventTemplate, startCluster } from './lib/herald.js';
import { measureUntilAnswered, noteIfCut, projectUrls, publishJob, rawJob, type DeliveryMeasurement } from './lib/measure.js';
import type { LoadJob } from './lib/messages.js';
import { startReceiver, type ReceiverProcess } from './lib/processes.js';
import { formatNumber } from './lib/report.js';
import type { StoreKind } from './lib/settings.js';
import { summarise, type LatencySummary } from './lib/stats.js';

const GROUP = 'w';
/** Outstanding publishes at most: far above what a healthy run needs at these rates. */
const PUBLISH_CONCURRENCY = 256;
/** The targets hold at this rate; other rates are reported without one. */
const TARGET_RATE = 200;
const P99_TARGET_MS: Record<StoreKind, number> = { sqlite: 15, postgres: 25 };

/** The raw sender's body: Herald's envelope with the same stamp. */
const RAW_TEMPLATE = `{"eventName":"${BENCH_EVENT}","eventTimestamp":1,"payload":{"tenantId":"${BENCH_TENANT}","projectId":"p{{n}}","sentAt":{{sentAt}}}}`;

export const latency: Benchmark = {
  name: 'latency',
  summary: 'publish-to-receipt p50/p99/max at fixed rates, vs a raw client at the same rates',
  async run(context) {
    const receiver = await startReceiver({ latency: true });
    try {
      const raw = new Map<number, Measured>();
      for (const rate of context.settings.latencyRates) raw.set(rate, await measureRaw(context, receiver, rate));
      for (const store of context.stores) {
        try {
          await measureStore(context, receiver, store, raw);
        } catch (error) {
          context.report.failed(`latency ${store}`, error);
        }
      }
    } finally {
      await receiver.kill();
    }
  },
};

interface Measured {
  summary: LatencySummary;
  measurement: DeliveryMeasurement;
}

function eventCount(context: BenchContext, rate: number): number {
  return Math.max(50, Math.round(rate * context.settings.latencySeconds));
}

/** Warms up for a second at `rate`, then measures `count` requests at it from the same client. */
async function measureAtRate(
  context: BenchContext,
  receiver: ReceiverProcess,
  rate: number,
  jobFor: (count: number) => LoadJob,
): Promise<Measured> {
  const { maxWaitMs } = context.settings;
  const warmUps = Math.max(50, Math.round(rate));
  const count = eventCount(context, rate);
  const measurement = await measureUntilAnswered(receiver, count, jobFor(count), {
    group: GROUP,
    maxWaitMs,
    warmUp: { job: jobFor(warmUps), answers: warmUps, group: GROUP },
  });
  const latencies = measurement.receiver.groups[GROUP]?.latenciesMs ?? [];
  // What never arrived within the wait counts as infinitely late, not as left out.
  const missing = Math.max(0, count - latencies.length);
  return { summary: summarise([...latencies, ...Array<number>(missing).fill(Number.POSITIVE_INFINITY)]), measurement };
}

function measureRaw(context: BenchContext, receiver: ReceiverProcess, rate: number): Promise<Measured> {
  const urls = projectUrls(receiver.url, context.settings.webhooks, GROUP);
  return measureAtRate(context, receiver, rate, (count) => ({
    ...rawJob(context.settings, urls, { kind: 'template', template: RAW_TEMPLATE, cycle: context.settings.webhooks }, count),
    ratePerSecond: rate,
  }));
}

async function measureStore(context: BenchContext, receiver: ReceiverProcess, store: StoreKind, raw: Map<number, Measured>): Promise<void> {
  const { settings } = context;
  const cluster = await startCluster(settings, { store });
  try {
    const api = new HeraldApi(cluster.apiUrl);
    await createProjectWebhooks(api, receiver.url, settings.webhooks, GROUP);
    await api.close();
    for (const rate of settings.latencyRates) {
      const body = { kind: 'template', template: stampedEventTemplate(), cycle: settings.webhooks } as const;
      const herald = await cluster.explain(() =>
        measureAtRate(context, receiver, rate, (count) =>
          publishJob(settings, cluster.apiUrl, body, count, { concurrency: PUBLISH_CONCURRENCY, ratePerSecond: rate }),
        ),
      );
      addFigure(context, store, rate, herald, raw.get(rate)!);
    }
  } finally {
    await cluster.stop();
  }
}

function describe(summary: LatencySummary): string {
  return `p50 ${formatNumber(summary.p50)} p99 ${formatNumber(summary.p99)} max ${formatNumber(summary.max)} ms`;
}

function addFigure(context: BenchContext, store: StoreKind, rate: number, herald: Measured, raw: Measured): void {
  const { report, settings } = context;
  const target = rate === TARGET_RATE ? P99_TARGET_MS[store] : null;
  report.add({
    benchmark: 'latency',
    name: `latency ${store} @${rate}/s`,
    herald: { value: herald.summary.p99, unit: 'ms', text: describe(herald.summary) },
    baseline: { label: 'raw', value: raw.summary.p99, unit: 'ms', text: describe(raw.summary) },
    ratio: herald.summary.p99 / raw.summary.p99,
    target: target === null ? null : { of: 'herald', op: '<', value: target, text: `p99 < ${target} ms` },
    details: {
      store,
      ratePerSecond: rate,
      events: herald.measurement.expected,
      webhooks: settings.webhooks,
      herald: herald.summary,
      raw: raw.summary,
      heraldPublishLate: herald.measurement.load.late,
      rawLate: raw.measurement.load.late,
      heraldPublishRequestMs: summarise(herald.measurement.load.requestLatenciesMs),
      duplicates: herald.measurement.receiver.duplicates,
    },
  });
  noteIfCut(report, herald.measurement, settings.maxWaitMs);
}
