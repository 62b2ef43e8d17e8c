/**
 * The load client, run as its own process (forked with IPC). It is both the baseline ("raw":
 * what a plain undici client does with the same bytes and the same receiver) and the producer
 * that publishes to Herald, so Herald and its baseline are driven by the same code.
 *
 * Requests go through one pooled undici Agent (pipelining 1, as Herald's pool), either as fast
 * as `concurrency` allows or, with `ratePerSecond`, at a fixed rate whatever the answers take
 * (an open loop: a slow server does not slow the sending down and so hide its own latency).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { preciseNow, type BodySpec, type ClientCommand, type ClientEvent, type LoadJob, type LoadResult } from './messages.js';

/** A request without a complete answer by then fails, so a stuck server ends the run instead of hanging it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A rate-mode request starting later than this after its slot counts as late. */
const LATE_AFTER_MS = 5;

type BodyMaker = (index: number, sentAt: number) => string;

function send(event: ClientEvent): void {
  process.send?.(event);
}

function bodyMaker(spec: BodySpec): BodyMaker {
  if (spec.kind === 'fixed') return () => spec.text;
  if (spec.kind === 'file') {
    const bodies = readFileSync(spec.path, 'utf8').split('\n').filter((line) => line !== '');
    return (index) => bodies[index % bodies.length];
  }
  // Split once, so each request only joins a few strings.
  const parts = spec.template.split(/(\{\{sentAt\}\}|\{\{n\}\})/);
  return (index, sentAt) =>
    parts
      .map((part) => (part === '{{sentAt}}' ? sentAt.toFixed(3) : part === '{{n}}' ? String(index % spec.cycle) : part))
      .join('');
}

/** As long as one of Herald's event ids (`evt_` and 26 characters). */
function uniqueId(index: number): string {
  return `evt_raw${String(index).padStart(23, '0')}`;
}

/**
 * One pool per connection count, kept for the process's life: a job that follows its warm-up
 * finds the connections the warm-up opened, as a producer with keep-alive connections would.
 */
const agents = new Map<number, Agent>();

function agentFor(connections: number): Agent {
  let agent = agents.get(connections);
  if (!agent) {
    agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
    agents.set(connections, agent);
  }
  return agent;
}

class LoadRun {
  private readonly agent: Agent;
  private readonly makeBody: BodyMaker;
  private readonly result: LoadResult;
  private outstanding = 0;
  private next = 0;
  private slotFreed: (() => void) | null = null;

  constructor(private readonly job: LoadJob) {
    this.agent = agentFor(job.connections);
    this.makeBody = bodyMaker(job.body);
    this.result = {
      sent: 0,
      ok: 0,
      failed: 0,
      outcomes: {},
      startedAt: 0,
      finishedAt: 0,
      cpuMs: 0,
      requestLatenciesMs: [],
      late: 0,
      cut: false,
    };
  }

  async run(): Promise<LoadResult> {
    this.result.startedAt = preciseNow();
    const cpuBefore = process.cpuUsage();
    if (this.job.ratePerSecond) await this.sendAtRate(this.job.ratePerSecond);
    else await this.sendFlatOut();
    await this.drain();
    this.result.finishedAt = preciseNow();
    const cpu = process.cpuUsage(cpuBefore);
    this.result.cpuMs = (cpu.user + cpu.system) / 1000;
    return this.result;
  }

  /** True (and noted) once the deadline has passed, or a request failed when that stops the job. */
  private pastDeadline(): boolean {
    const failedAndStopping = this.job.stopOnFailure === true && this.result.failed > 0;
    if (!failedAndStopping && preciseNow() - this.result.startedAt <= this.job.deadlineMs) return false;
    this.result.cut = true;
    return true;
  }

  /** Keeps `concurrency` requests outstanding until all are sent. */
  private async sendFlatOut(): Promise<void> {
    while (this.next < this.job.count && !this.pastDeadline()) {
      while (this.outstanding < this.job.concurrency && this.next < this.job.count && !this.pastDeadline()) this.fire();
      if (this.outstanding > 0) await this.waitForSlot();
    }
  }

  /** Starts request i at startedAt + i / rate; the 1 ms timer tick bounds the jitter. */
  private async sendAtRate(rate: number): Promise<void> {
    const start = this.result.startedAt;
    while (this.next < this.job.count && !this.pastDeadline()) {
      const due = Math.min(this.job.count, Math.floor(((preciseNow() - start) * rate) / 1000) + 1);
      while (this.next < due && !this.pastDeadline()) {
        if (this.outstanding >= this.job.concurrency) {
          await this.waitForSlot();
          continue;
        }
        if (preciseNow() - (start + (this.next * 1000) / rate) > LATE_AFTER_MS) this.result.late += 1;
        this.fire();
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  private async drain(): Promise<void> {
    while (this.outstanding > 0) await this.waitForSlot();
  }

  private waitForSlot(): Promise<void> {
    return new Promise((resolve) => {
      this.slotFreed = resolve;
    });
  }

  private fire(): void {
    const index = this.next++;
    this.outstanding += 1;
    this.result.sent += 1;
    void this.sendOne(index).finally(() => {
      this.outstanding -= 1;
      const wake = this.slotFreed;
      this.slotFreed = null;
      wake?.();
    });
  }

  private async sendOne(index: number): Promise<void> {
    const { urls, method, headers, uniqueIdHeader } = this.job;
    const sentAt = preciseNow();
    try {
      const response = await request(urls[index % urls.length], {
        method,
        headers: uniqueIdHeader ? { ...headers, [uniqueIdHeader]: uniqueId(index) } : headers,
        body: this.makeBody(index, sentAt),
        dispatcher: this.agent,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      await response.body.dump();
      this.count(String(response.statusCode), response.statusCode >= 200 && response.statusCode < 300);
    } catch (error) {
      this.count((error as { code?: string }).code ?? 'error', false);
    }
    this.result.requestLatenciesMs.push(preciseNow() - sentAt);
  }

  private count(outcome: string, ok: boolean): void {
    this.result.outcomes[outcome] = (this.result.outcomes[outcome] ?? 0) + 1;
    if (ok) this.result.ok += 1;
    else this.result.failed += 1;
  }
}

process.on('message', (message) => {
  const command = message as ClientCommand;
  if (command.type !== 'run') return;
  new LoadRun(command.job).run().then(
    (result) => send({ type: 'done', result }),
    (error: unknown) => send({ type: 'error', message: (error as Error).stack ?? String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
