/**
 * Ingest: how fast the publish API accepts events durably (each stored before its 202), in
 * batches of 1000 and one event per request from many concurrent clients. The baseline is a
 * bare Fastify route in its own process that parses the same bodies and answers 202 without
 * storing anything. Each Herald figure is taken twice on a fresh store: with no webhook
 * matching (ingest alone) and with one instance webhook matching every event, its receiver
 * answering at once (ingest while the dispatcher delivers what was just stored).
 * Every measured load follows a warm-up of 5% of its requests, against Herald and the baseline alike.
 */
import type { Benchmark, BenchContext } from './lib/benchmark.js';
import { BENCH_EVENT, BENCH_TENANT, HeraldApi, makeWorkDir, removeDir, startCluster, writeBatchBodies } from './lib/herald.js';
import { assertAllSucceeded, publishJob } from './lib/measure.js';
import type { BodySpec, LoadJob, LoadResult } from './lib/messages.js';
import { runLoad, startBareApi, startReceiver, type ReceiverProcess } from './lib/processes.js';
import type { StoreKind } from './lib/settings.js';
import { perSecond, summarise } from './lib/stats.js';
import { BATCH_SIZE } from './throughput.js';

const BATCH_TARGET_PER_SECOND = 20_000;
const SINGLE_TEMPLATE = `{"eventName":"${BENCH_EVENT}","payload":{"tenantId":"${BENCH_TENANT}","projectId":"p{{n}}"}}`;

type Mode = 'batch' | 'single';
type Subscribers = 'no webhook' | 'one webhook';

interface Workload {
  mode: Mode;
  body: BodySpec;
  requests: number;
  eventsPerRequest: number;
  concurrency: number;
}

interface Rate {
  perSecond: number;
  load: LoadResult;
  events: number;
}

export const ingest: Benchmark = {
  name: 'ingest',
  summary: 'durable publish API events/s, batch and single, vs a bare Fastify route storing nothing',
  async run(context) {
    const workDir = makeWorkDir();
    const receiver = await startReceiver();
    try {
      const workloads = [batchWorkload(context, workDir), singleWorkload(context)];
      const bare = new Map<Mode, Rate>();
      for (const workload of workloads) bare.set(workload.mode, await measureBare(context, workload));
      for (const store of context.stores) {
        for (const workload of workloads) {
          for (const subscribers of ['no webhook', 'one webhook'] as const) {
            const name = `ingest ${workload.mode} ${store}, ${subscribers}`;
            try {
              const herald = await measureHerald(context, receiver, store, workload, subscribers);
              addFigure(context, name, store, workload, subscribers, herald, bare.get(workload.mode)!);
            } catch (error) {
              context.report.failed(name, error);
            }
          }
        }
      }
    } finally {
      await receiver.kill();
      removeDir(workDir);
    }
  },
};

function batchWorkload(context: BenchContext, workDir: string): Workload {
  const { settings } = context;
  const batches = writeBatchBodies(workDir, settings.ingestBatchEvents, BATCH_SIZE, settings.webhooks);
  return {
    mode: 'batch',
    body: { kind: 'file', path: batches.path },
    requests: batches.count,
    eventsPerRequest: BATCH_SIZE,
    concurrency: settings.publishConcurrency,
  };
}

function singleWorkload(context: BenchContext): Workload {
  const { settings } = context;
  return {
    mode: 'single',
    body: { kind: 'template', template: SINGLE_TEMPLATE, cycle: settings.webhooks },
    requests: settings.ingestSingleRequests,
    eventsPerRequest: 1,
    concurrency: settings.ingestClients,
  };
}

/** Requests sent, unmeasured, before each measured load: a cold server's first requests pay for its JIT. */
const WARM_UP_FRACTION = 0.05;

/**
 * Events accepted per second over the load, after a short unmeasured warm-up with the same
 * bodies; a load cut by its deadline counts what was accepted.
 */
async function measureLoad(job: LoadJob, eventsPerRequest: number): Promise<Rate> {
  const warmUp = await runLoad({ ...job, count: Math.max(1, Math.round(job.count * WARM_UP_FRACTION)) });
  assertAllSucceeded(warmUp, job);
  const load = await runLoad(job);
  assertAllSucceeded(load, job);
  const events = load.ok * eventsPerRequest;
  return { perSecond: perSecond(events, load.finishedAt - load.startedAt), load, events };
}

async function measureBare(context: BenchContext, workload: Workload): Promise<Rate> {
  const bare = await startBareApi();
  try {
    const job = publishJob(context.settings, bare.url, workload.body, workload.requests, { concurrency: workload.concurrency });
    return await measureLoad(job, workload.eventsPerRequest);
  } finally {
    await bare.kill();
  }
}

async function measureHerald(
  context: BenchContext,
  receiver: ReceiverProcess,
  store: StoreKind,
  workload: Workload,
  subscribers: Subscribers,
): Promise<Rate> {
  const cluster = await startCluster(context.settings, { store });
  try {
    const api = new HeraldApi(cluster.apiUrl);
    await api.createEventType();
    if (subscribers === 'one webhook') await api.createWebhook(`${receiver.url}/ingest/0`);
    await api.close();
    const job = publishJob(context.settings, cluster.apiUrl, workload.body, workload.requests, { concurrency: workload.concurrency });
    return await cluster.explain(() => measureLoad(job, workload.eventsPerRequest));
  } finally {
    await cluster.stop();
  }
}

function addFigure(
  context: BenchContext,
  name: string,
  store: StoreKind,
  workload: Workload,
  subscribers: Subscribers,
  herald: Rate,
  bare: Rate,
): void {
  const { report, settings } = context;
  report.add({
    benchmark: 'ingest',
    name,
    herald: { value: herald.perSecond, unit: 'events/s' },
    baseline: { label: 'bare', value: bare.perSecond, unit: 'events/s' },
    ratio: herald.perSecond / bare.perSecond,
    target:
      workload.mode === 'batch'
        ? { of: 'herald', op: '>=', value: BATCH_TARGET_PER_SECOND, text: `>= ${BATCH_TARGET_PER_SECOND.toLocaleString('en-US')} events/s` }
        : null,
    details: {
      store,
      mode: workload.mode,
      subscribers,
      events: herald.events,
      requests: herald.load.ok,
      eventsPerRequest: workload.eventsPerRequest,
      concurrency: workload.concurrency,
      cut: herald.load.cut,
      heraldRequestMs: summarise(herald.load.requestLatenciesMs),
      bareRequestMs: summarise(bare.load.requestLatenciesMs),
    },
  });
  if (herald.load.cut) {
    report.note(`cut at ${Math.round(settings.maxWaitMs / 1000)} s (BENCH_MAX_WAIT_SECONDS): ${herald.events.toLocaleString('en-US')} events accepted`);
  }
}
