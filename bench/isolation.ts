/**
 * Isolation: does a receiver that hangs slow down everyone else's deliveries?
 *
 * N project webhooks: the even ones at a healthy path, the odd ones at a path that never
 * answers (so each of their requests lasts the delivery timeout, then is retried). Events go
 * to all N in turn at a fixed rate, each stamped with its send time, and the p99
 * publish-to-receipt of the healthy half is compared with the same figure from a run where
 * the odd webhooks answer too. Both runs start with one unmeasured second at the rate, from
 * the client that then sends the measured events.
 */
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { BENCH_TENANT, HeraldApi, stampedEventTemplate, startCluster } from './lib/herald.js';
import { measureUntilAnswered, noteIfCut, publishJob, type DeliveryMeasurement } from './lib/measure.js';
import { startReceiver, type ReceiverProcess } from './lib/processes.js';
import { formatNumber } from './lib/report.js';
import type { StoreKind } from './lib/settings.js';
import { summarise, type LatencySummary } from './lib/stats.js';

const TARGET_RATIO = 1.5;
const HEALTHY = 'ok';
/** The receiver never answers under /hang; in the comparison run the same webhooks use /other. */
const HANGING = 'hang';
const ANSWERING_TOO = 'other';
const PUBLISH_CONCURRENCY = 256;

export const isolation: Benchmark = {
  name: 'isolation',
  summary: 'p99 of healthy webhooks while half the webhooks hang, vs the same run with none hanging',
  async run(context) {
    const receiver = await startReceiver({ latency: true });
    try {
      for (const store of context.stores) {
        try {
          const calm = await measureRun(context, receiver, store, ANSWERING_TOO);
          const troubled = await measureRun(context, receiver, store, HANGING);
          addFigure(context, store, troubled, calm);
        } catch (error) {
          context.report.failed(`isolation ${store}`, error);
        }
      }
    } finally {
      await receiver.kill();
    }
  },
};

interface RunResult {
  healthy: LatencySummary;
  measurement: DeliveryMeasurement;
  env: Record<string, string>;
}

/** Even webhooks at /ok/i, odd ones at /<otherGroup>/i; event i goes to webhook i % N. */
async function createWebhooks(api: HeraldApi, receiverUrl: string, count: number, otherGroup: string): Promise<void> {
  await api.createEventType();
  await api.createWebhooks(count, (index) => ({
    url: `${receiverUrl}/${index % 2 === 0 ? HEALTHY : otherGroup}/${index}`,
    tenantId: BENCH_TENANT,
    projectId: `p${index}`,
  }));
}

async function measureRun(context: BenchContext, receiver: ReceiverProcess, store: StoreKind, otherGroup: string): Promise<RunResult> {
  const { settings } = context;
  const cluster = await startCluster(settings, {
    store,
    env: { HERALD_DELIVERY_TIMEOUT_MS: String(settings.isolationTimeoutMs) },
  });
  try {
    const api = new HeraldApi(cluster.apiUrl);
    await createWebhooks(api, receiver.url, settings.isolationWebhooks, otherGroup);
    await api.close();
    const body = { kind: 'template', template: stampedEventTemplate(), cycle: settings.isolationWebhooks } as const;
    const rate = settings.isolationRate;
    const healthyOf = (count: number) => Math.ceil(count / 2); // even event numbers go to the healthy half
    const publishOf = (count: number) => publishJob(settings, cluster.apiUrl, body, count, { concurrency: PUBLISH_CONCURRENCY, ratePerSecond: rate });
    const warmUps = Math.max(50, rate); // one second at the rate
    const count = Math.max(50, Math.round(rate * settings.isolationSeconds));
    const measurement = await cluster.explain(() =>
      measureUntilAnswered(receiver, healthyOf(count), publishOf(count), {
        group: HEALTHY,
        maxWaitMs: settings.maxWaitMs,
        warmUp: { job: publishOf(warmUps), answers: healthyOf(warmUps), group: HEALTHY },
      }),
    );
    const latencies = measurement.receiver.groups[HEALTHY]?.latenciesMs ?? [];
    const missing = Math.max(0, healthyOf(count) - latencies.length);
    const healthy = summarise([...latencies, ...Array<number>(missing).fill(Number.POSITIVE_INFINITY)]);
    return { healthy, measurement, env: cluster.env };
  } finally {
    await cluster.stop();
  }
}

function describe(summary: LatencySummary): string {
  return `p50 ${formatNumber(summary.p50)} p99 ${formatNumber(summary.p99)} ms`;
}

function addFigure(context: BenchContext, store: StoreKind, troubled: RunResult, calm: RunResult): void {
  const { report, settings } = context;
  report.add({
    benchmark: 'isolation',
    name: `isolation ${store}`,
    herald: { value: troubled.healthy.p99, unit: 'ms', text: `half hang: ${describe(troubled.healthy)}` },
    baseline: { label: 'none hang:', value: calm.healthy.p99, unit: 'ms', text: describe(calm.healthy) },
    ratio: troubled.healthy.p99 / calm.healthy.p99,
    target: { of: 'ratio', op: '<=', value: TARGET_RATIO, text: `p99 <= ${TARGET_RATIO}x` },
    details: {
      store,
      webhooks: settings.isolationWebhooks,
      ratePerSecond: settings.isolationRate,
      seconds: settings.isolationSeconds,
      deliveryTimeoutMs: settings.isolationTimeoutMs,
      withHanging: troubled.healthy,
      withoutHanging: calm.healthy,
      hangingRequestsReceived: troubled.measurement.receiver.groups[HANGING]?.received ?? 0,
      heraldEnv: troubled.env,
    },
  });
  noteIfCut(report, troubled.measurement, settings.maxWaitMs);
  noteIfCut(report, calm.measurement, settings.maxWaitMs);
}
