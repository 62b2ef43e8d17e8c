/**
 * The measurement every delivery benchmark shares: start a load, and time from its first
 * request until the receiver has answered the expected number of requests. Both ends are
 * taken on the machine's clock (see `preciseNow`), in the two processes where they happen.
 */
import { AUTH_HEADERS } from './herald.js';
import type { BodySpec, LoadJob, LoadResult, ReceiverStats } from './messages.js';
import { runLoad, type ClientProcess, type cpuSpent, type ReceiverProcess } from './processes.js';
import { formatNumber, type Report } from './report.js';
import type { BenchSettings } from './settings.js';
import { perSecond } from './stats.js';

export interface DeliveryMeasurement {
  /** From the first request of the load to the receiver's answer to the last counted one. */
  elapsedMs: number;
  /** Distinct requests answered: the expected count, or fewer when the wait was cut. */
  answered: number;
  expected: number;
  /** False when the run hit BENCH_MAX_WAIT_SECONDS: the rate is then over what was answered. */
  complete: boolean;
  perSecond: number;
  load: LoadResult;
  receiver: ReceiverStats;
}

/**
 * A load run before the measured one, unmeasured, until the receiver has answered `answers`
 * requests: it compiles the code both sides run (Herald's, or the raw client's in the same
 * process) and opens their connections, so the figure is of a running service, not of its
 * first second.
 */
export interface WarmUp {
  job: LoadJob;
  answers: number;
  /** Counts only this group's answers (all groups' without it). */
  group?: string;
}

/** A warm-up's size: `share` of the measured `count`, one at least. */
export function warmUpSize(count: number, share: number): number {
  return Math.max(1, Math.round(count * share));
}

/**
 * A baseline measured on both sides of Herald's run, and their mean. This machine's speed
 * drifts by a tenth or more between runs a minute apart, and a baseline taken on one side only
 * puts all of that drift into the ratio; one on each side averages it out of a steady drift.
 */
export interface BracketedBaseline {
  before: DeliveryMeasurement;
  after: DeliveryMeasurement;
  /** The mean of the two rates. */
  perSecond: number;
  /** The mean of the two times. */
  elapsedMs: number;
}

/** Runs the baseline, then Herald, then the baseline again. */
export async function measureBetweenBaselines<T>(
  measureBaseline: () => Promise<DeliveryMeasurement>,
  measureHerald: () => Promise<T>,
): Promise<{ herald: T; baseline: BracketedBaseline }> {
  const before = await measureBaseline();
  const herald = await measureHerald();
  const after = await measureBaseline();
  return {
    herald,
    baseline: {
      before,
      after,
      perSecond: (before.perSecond + after.perSecond) / 2,
      elapsedMs: (before.elapsedMs + after.elapsedMs) / 2,
    },
  };
}

/**
 * Measures `rounds` times over and keeps the round of the median ratio (of the two middle ones,
 * the worse: the lower where a higher ratio is better, as throughput's, the higher where a lower
 * one is, as a fan-out's time): on a shared virtual machine the speed drifts within seconds, and
 * rounds of one throughput figure, each bracketed by its own baseline, ranged from 0.44 to 0.63.
 * All rounds' ratios go with the figure.
 */
export async function medianRound<T>(
  rounds: number,
  measure: () => Promise<T>,
  ratioOf: (round: T) => number,
  better: 'higher' | 'lower' = 'higher',
): Promise<{ round: T; ratios: number[] }> {
  const measured: T[] = [];
  for (let i = 0; i < rounds; i += 1) measured.push(await measure());
  const ratios = measured.map(ratioOf);
  const sign = better === 'higher' ? 1 : -1;
  const byRatio = ratios.map((_, index) => index).sort((a, b) => sign * (ratios[a] - ratios[b])); // worse first
  return { round: measured[byRatio[Math.floor((measured.length - 1) / 2)]], ratios };
}

/** Under a figure measured in rounds, every round's ratio. */
export function noteRoundRatios(report: Report, ratios: number[]): void {
  if (ratios.length > 1) report.note(`rounds' ratios: ${ratios.map((value) => value.toFixed(2)).join(', ')} (the median round's figures above)`);
}

/** The two baseline runs under a figure, by the unit the figure compares, and either's cut. */
export function noteBaselineRuns(report: Report, baseline: BracketedBaseline, by: 'rate' | 'time', maxWaitMs: number): void {
  const [before, after] =
    by === 'rate'
      ? [`${formatNumber(baseline.before.perSecond)}`, `${formatNumber(baseline.after.perSecond)} req/s`]
      : [`${formatNumber(baseline.before.elapsedMs)}`, `${formatNumber(baseline.after.elapsedMs)} ms`];
  report.note(`raw before / after Herald: ${before} / ${after} (the baseline is their mean)`);
  noteIfCut(report, baseline.before, maxWaitMs);
  noteIfCut(report, baseline.after, maxWaitMs);
}

/** What the receiver read per request of a measurement: its header bytes and names. */
export function requestHeaders(measurement: DeliveryMeasurement): { bytesPerRequest: number; names: string[] } {
  const { headerBytes, received, lastHeaderNames } = measurement.receiver;
  return { bytesPerRequest: received > 0 ? headerBytes / received : 0, names: lastHeaderNames };
}

/** Notes Herald's (and PostgreSQL's) CPU time per delivery beside the raw client's per request. */
export function noteCpuPerDelivery(report: Report, cpu: ReturnType<typeof cpuSpent>, withDatabase: boolean, baseline: BracketedBaseline): void {
  if (!cpu) return;
  const database = withDatabase ? `, PostgreSQL ${formatNumber(cpu.databaseUsPerDelivery)} µs` : '';
  const runs = [baseline.before, baseline.after];
  const rawCpuMs = runs.reduce((sum, run) => sum + run.load.cpuMs, 0);
  const rawRequests = runs.reduce((sum, run) => sum + run.expected, 0);
  const rawClient = formatNumber((rawCpuMs * 1000) / rawRequests);
  report.note(
    `CPU per delivery: Herald ${formatNumber(cpu.heraldUsPerDelivery)} µs (${heraldThreads(cpu)})${database}; the raw client ${rawClient} µs per request`,
  );
}

/** Where Herald's CPU went: its main threads, and the rest (sending and store threads, V8's helpers). */
export function heraldThreads(cpu: NonNullable<ReturnType<typeof cpuSpent>>): string {
  const others = cpu.heraldUsPerDelivery - cpu.heraldMainThreadUsPerDelivery;
  return `${formatNumber(cpu.heraldMainThreadUsPerDelivery)} on main threads, ${formatNumber(others)} on other threads`;
}

/**
 * Resets the receiver, runs `job` and waits until `count` distinct requests (of `group`) have
 * been answered, or until the wait's limit; a warm-up runs first, and `onStart` between the two.
 * A load with failed requests is an error: its figure would be meaningless.
 */
export async function measureUntilAnswered(
  receiver: ReceiverProcess,
  count: number,
  job: LoadJob,
  options: { group?: string; maxWaitMs: number; warmUp?: WarmUp; onStart?: () => void },
): Promise<DeliveryMeasurement> {
  const { warmUp } = options;
  let reached!: ReturnType<ReceiverProcess['waitForAnswered']>;
  const load = await runLoad(job, async (client) => {
    if (warmUp) await runUntilAnswered(client, receiver, warmUp, options.maxWaitMs);
    options.onStart?.();
    receiver.reset();
    reached = receiver.waitForAnswered(count, options.maxWaitMs, options.group);
    reached.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  });
  assertAllSucceeded(load, job);
  const result = await reached;
  const elapsedMs = result.at - load.startedAt;
  return {
    elapsedMs,
    answered: result.count,
    expected: count,
    complete: result.complete,
    perSecond: perSecond(result.count, elapsedMs),
    load,
    receiver: await receiver.stats(),
  };
}

async function runUntilAnswered(client: ClientProcess, receiver: ReceiverProcess, warmUp: WarmUp, maxWaitMs: number): Promise<void> {
  receiver.reset();
  const reached = receiver.waitForAnswered(warmUp.answers, maxWaitMs, warmUp.group);
  reached.catch(() => undefined);
  assertAllSucceeded(await client.run(warmUp.job), warmUp.job);
  const result = await reached;
  if (!result.complete) throw new Error(`the warm-up was answered ${result.count} times of ${warmUp.answers}`);
}

export function assertAllSucceeded(load: LoadResult, job: LoadJob): void {
  if (load.failed === 0) return;
  throw new Error(`${load.failed} of ${load.sent} requests to ${job.urls[0]} failed: ${JSON.stringify(load.outcomes)}`);
}

/** Says so under a figure measured on less than it set out to. */
export function noteIfCut(report: Report, measurement: DeliveryMeasurement, maxWaitMs: number): void {
  if (measurement.complete) return;
  report.note(
    `cut at ${Math.round(maxWaitMs / 1000)} s (BENCH_MAX_WAIT_SECONDS): ${measurement.answered.toLocaleString('en-US')} ` +
      `of ${measurement.expected.toLocaleString('en-US')} answered; the rate is over those`,
  );
}

/**
 * The headers of one of Herald's deliveries, each value as long as Herald's (hex digests of 64
 * digits, a Standard Webhooks signature of 47 characters, seconds in 10 digits): the receiver
 * reads as many bytes from the baseline as from Herald. Making the values is Herald's work (it
 * signs each body), not the transport's, so they are fixed here; the webhook-id is each
 * request's own (`uniqueIdHeader`), so the receiver counts and de-duplicates as it does Herald's.
 */
export const DELIVERY_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'user-agent': 'Herald-Webhooks/0.1',
  'x-mia-signature': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'x-mia-token': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'x-signature': 'b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad',
  'webhook-timestamp': '1764000000',
  'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
};

/** The baseline: the same bytes straight to the receiver, as fast as the pool allows. */
export function rawJob(settings: BenchSettings, urls: string[], body: BodySpec, count: number): LoadJob {
  return {
    urls,
    method: 'POST',
    headers: { ...DELIVERY_HEADERS },
    uniqueIdHeader: 'webhook-id',
    body,
    count,
    concurrency: settings.rawConcurrency,
    connections: settings.rawConnections,
    deadlineMs: settings.maxWaitMs,
  };
}

/** Publishing to Herald's API with the admin token. */
export function publishJob(
  settings: BenchSettings,
  apiUrl: string,
  body: BodySpec,
  count: number,
  options: { concurrency: number; ratePerSecond?: number },
): LoadJob {
  return {
    urls: [`${apiUrl}/api/events`],
    method: 'POST',
    headers: { ...AUTH_HEADERS },
    body,
    count,
    concurrency: options.concurrency,
    connections: Math.min(options.concurrency, 64),
    deadlineMs: settings.maxWaitMs,
    // A publish Herald refused never becomes a delivery: the figure would wait for it in vain.
    stopOnFailure: true,
    ...(options.ratePerSecond ? { ratePerSecond: options.ratePerSecond } : {}),
  };
}

/** The webhook URLs `createProjectWebhooks` made, for the baseline to spread its requests the same way. */
export function projectUrls(receiverUrl: string, count: number, group = 'w'): string[] {
  return Array.from({ length: count }, (_, index) => `${receiverUrl}/${group}/${index}`);
}
