import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryMetrics, FinishedAttempt } from '../dispatch/index.js';
import type { QueueStats } from '../store/index.js';

/** Seconds; a receiver has HERALD_DELIVERY_TIMEOUT_MS (10 s by default, 300 s at most). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Herald's Prometheus metrics, in a registry of its own (several Heralds may share a process, as
 * in the tests). The dispatcher counts attempts through DeliveryMetrics; the queue gauges are
 * read from the store when /metrics is scraped. Labels are fixed, small sets: no URL, webhook
 * id or anything secret ever becomes a label.
 */
export class HeraldMetrics implements DeliveryMetrics {
  readonly registry = new Registry();
  private readonly deliveries = new Counter({
    name: 'herald_deliveries_total',
    help: 'Delivery attempts by what followed them (delivered, retry, gave_up) and the class of the receiver status (none: no answer)',
    labelNames: ['outcome', 'status_class'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'herald_delivery_duration_seconds',
    help: 'Time from sending a delivery attempt to its complete answer or failure',
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'herald_delivery_retries_total',
    help: 'Failed attempts that were scheduled to be tried again',
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: 'herald_queue_depth',
    help: 'Pending deliveries (due or waiting for a retry)',
    registers: [this.registry],
  });
  private readonly oldestDueAge = new Gauge({
    name: 'herald_oldest_due_delivery_age_seconds',
    help: 'How long the longest-waiting due delivery has been due; 0 when none is due',
    registers: [this.registry],
  });
  private readonly disabledWebhooks = new Gauge({
    name: 'herald_webhooks_disabled',
    help: 'Inactive webhooks',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  attemptFinished(attempt: FinishedAttempt): void {
    this.deliveries.inc({ outcome: attempt.outcome, status_class: statusClass(attempt.statusCode) });
    this.duration.observe(Math.max(attempt.durationMs, 0) / 1000);
    if (attempt.outcome === 'retry') this.retries.inc();
  }

  /** The text exposition, with the queue gauges set from `stats` first. */
  async render(stats: QueueStats, now: number): Promise<string> {
    this.queueDepth.set(stats.pending);
    this.oldestDueAge.set(stats.oldestDueAt === null ? 0 : Math.max(now - stats.oldestDueAt, 0) / 1000);
    this.disabledWebhooks.set(stats.disabledWebhooks);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export function statusClass(statusCode: number | null): '2xx' | '3xx' | '4xx' | '5xx' | 'none' {
  if (statusCode === null || statusCode < 200 || statusCode >= 600) return 'none';
  return `${Math.floor(statusCode / 100)}xx` as '2xx' | '3xx' | '4xx' | '5xx';
}
