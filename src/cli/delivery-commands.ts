import { setTimeout as sleep } from 'node:timers/promises';
import type { Static } from '@sinclair/typebox';
import { Command, InvalidArgumentError, Option } from 'commander';
import type {
  DeliveryDetailView,
  DeliverySummaryView,
  QueuedDeliveriesReply,
  QueuedDeliveryReply,
} from '../api/schemas.js';
import { parseDuration } from '../core/retry.js';
import { pathSegment, withApi, type HeraldApi } from './api-client.js';
import { connectionOf, withConnectionOptions, type ConnectionFlags } from './command-kit.js';
import { UsageError } from './failures.js';
import { formatTable, formatTime, plural, printJson, printLine, printTable, ProgressBar, type Column } from './output.js';

type DeliverySummary = Static<typeof DeliverySummaryView>;
type DeliveryDetail = Static<typeof DeliveryDetailView>;

/** How often `resend --wait` looks at the history; a delivery takes at least this long anyway. */
const WAIT_POLL_INTERVAL_MS = 500;

interface HistoryFlags extends ConnectionFlags {
  json?: boolean;
  sort?: 'newest' | 'oldest';
  event?: string;
  status?: 'success' | 'error' | 'pending';
  statusCode?: string;
}

/** `herald deliveries <webhookId> [deliveryId]`: a webhook's history, or one delivery in full. */
export function deliveriesCommand(): Command {
  return withConnectionOptions(new Command('deliveries'))
    .description("a webhook's last 200 deliveries, or one delivery with its request, answer and attempts")
    .argument('<webhookId>', 'the webhook id (wh_...)')
    .argument('[deliveryId]', 'show this delivery in full')
    .addOption(new Option('--sort <order>', 'newest or oldest first').choices(['newest', 'oldest']))
    .option('--event <eventName>', 'only deliveries of this event')
    .addOption(new Option('--status <status>', 'only deliveries in this state').choices(['success', 'error', 'pending']))
    .option('--status-code <code>', 'only deliveries answered with this HTTP status', statusCodeOption)
    .action(async (webhookId: string, deliveryId: string | undefined, flags: HistoryFlags) => {
      const base = `/webhooks/${pathSegment(webhookId)}/deliveries`;
      if (deliveryId !== undefined) {
        const { body } = await withApi(connectionOf(flags), (api) => api.get<DeliveryDetail>(`${base}/${pathSegment(deliveryId)}`));
        return flags.json ? printJson(body) : printDeliveryDetail(body);
      }
      const query = { sort: flags.sort, eventName: flags.event, status: flags.status, statusCode: flags.statusCode };
      const { body } = await withApi(connectionOf(flags), (api) => api.get<{ data: DeliverySummary[] }>(base, query));
      if (flags.json) return printJson(body);
      if (body.data.length === 0) return printLine('no deliveries');
      printTable(DELIVERY_COLUMNS, body.data);
    });
}

function statusCodeOption(text: string): string {
  if (!/^[1-5]\d{2}$/.test(text)) throw new InvalidArgumentError('must be an HTTP status such as 200 or 503');
  return text;
}

const DELIVERY_COLUMNS: Column<DeliverySummary>[] = [
  { header: 'ID', value: (row) => row.id },
  { header: 'EVENT', value: (row) => row.eventName },
  { header: 'STATUS', value: (row) => row.status },
  { header: 'CODE', value: (row) => (row.statusCode === null ? '-' : String(row.statusCode)) },
  { header: 'ATTEMPTS', value: (row) => String(row.attempts) },
  { header: 'DISPATCHED', value: (row) => formatTime(row.dispatchedAt) },
  { header: 'DURATION', value: (row) => (row.durationMs === null ? '-' : `${row.durationMs} ms`) },
  { header: 'NOTE', value: deliveryNote, maxWidth: 60 },
];

/** The one thing worth knowing beyond the columns: why it failed, when it is tried next, where it came from. */
function deliveryNote(row: DeliverySummary): string {
  const notes = [
    row.error ? `${row.error.code}: ${row.error.message}` : null,
    row.nextAttemptAt ? `next attempt ${formatTime(row.nextAttemptAt)}` : null,
    row.resentFrom ? `resent from ${row.resentFrom}` : null,
  ];
  return notes.filter(Boolean).join('; ');
}

function printDeliveryDetail(delivery: DeliveryDetail): void {
  printLine(`delivery ${delivery.id} (event ${delivery.eventId}, ${delivery.eventName})`);
  printLine(`status:   ${delivery.status}${delivery.statusCode === null ? '' : ` ${delivery.statusCode}`}`);
  printLine(`attempts: ${delivery.attempts}${delivery.nextAttemptAt ? `, next ${formatTime(delivery.nextAttemptAt)}` : ''}`);
  if (delivery.error) printLine(`error:    ${delivery.error.code}: ${delivery.error.message}`);
  if (delivery.resentFrom) printLine(`resent from ${delivery.resentFrom}`);
  if (delivery.attemptLog.length > 0) {
    printLine('\nattempts');
    printLine(indent(formatTable(ATTEMPT_COLUMNS, delivery.attemptLog)));
  }
  if (delivery.requestHeaders) {
    printLine('\nrequest headers');
    for (const [name, value] of Object.entries(delivery.requestHeaders)) printLine(`  ${name}: ${value}`);
  }
  printLine('\nrequest body');
  printLine(indent(prettyJson(delivery.requestBody)));
  printLine('\nresponse body (first 4 KiB)');
  printLine(indent(delivery.responseBody ? prettyJson(delivery.responseBody) : '(none)'));
}

type Attempt = DeliveryDetail['attemptLog'][number];
const ATTEMPT_COLUMNS: Column<Attempt>[] = [
  { header: '#', value: (attempt) => String(attempt.attempt) },
  { header: 'STARTED', value: (attempt) => formatTime(attempt.startedAt) },
  { header: 'DURATION', value: (attempt) => `${attempt.durationMs} ms` },
  { header: 'CODE', value: (attempt) => (attempt.statusCode === null ? '-' : String(attempt.statusCode)) },
  { header: 'ERROR', value: (attempt) => (attempt.error ? `${attempt.error.code}: ${attempt.error.message}` : '') },
];

/** Bodies are stored as sent; indented JSON reads better, and anything else is shown as it is. */
function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

interface ResendFlags extends ConnectionFlags {
  json?: boolean;
  failedSince?: string;
  wait?: boolean;
}

/** `herald resend`: one delivery again, or every delivery given up on since a time. */
export function resendCommand(): Command {
  return withConnectionOptions(new Command('resend'))
    .description('queue a delivery again, or (--failed-since) every delivery given up on since a time')
    .argument('<webhookId>', 'the webhook id (wh_...)')
    .argument('[deliveryId]', 'the delivery to send again')
    .option('--failed-since <time>', 'an ISO time (2026-01-31T12:00:00Z) or a duration back from now (2h, 30m, 1d)')
    .option('--wait', 'with --failed-since: wait until the queued deliveries are done, showing progress')
    .action(async (webhookId: string, deliveryId: string | undefined, flags: ResendFlags) => {
      if ((deliveryId === undefined) === (flags.failedSince === undefined)) {
        throw new UsageError('give either a delivery id or --failed-since', 'herald resend wh_... dlv_...  or  herald resend wh_... --failed-since 2h');
      }
      if (flags.wait && deliveryId !== undefined) throw new UsageError('--wait goes with --failed-since');
      const base = `/webhooks/${pathSegment(webhookId)}`;
      await withApi(connectionOf(flags), async (api) => {
        if (deliveryId !== undefined) return resendOne(api, base, deliveryId, flags);
        return resendFailed(api, base, sinceOption(flags.failedSince!), flags);
      });
    });
}

async function resendOne(api: HeraldApi, base: string, deliveryId: string, flags: ResendFlags): Promise<void> {
  const { body } = await api.post<Static<typeof QueuedDeliveryReply>>(`${base}/deliveries/${pathSegment(deliveryId)}/resend`, undefined);
  if (flags.json) return printJson(body);
  printLine(`queued ${deliveryId} again as ${body.deliveryId}`);
}

async function resendFailed(api: HeraldApi, base: string, since: string, flags: ResendFlags): Promise<void> {
  const { body } = await api.post<Static<typeof QueuedDeliveriesReply>>(`${base}/resend-failed`, { since });
  if (!flags.json) {
    printLine(
      body.deliveries === 0
        ? `nothing to resend: no delivery was given up on since ${formatTime(since)}`
        : `queued ${plural(body.deliveries, 'delivery', 'deliveries')} given up on since ${formatTime(since)} again`,
    );
  }
  if (flags.wait && body.deliveries > 0) {
    const outcome = await waitForResent(api, base, body.deliveries);
    if (!flags.json) printLine(`done: ${outcome.success} delivered, ${outcome.error} failed again`);
  }
  if (flags.json) printJson(body);
}

/**
 * Follows the resent deliveries in the history until none is pending. They are the newest rows
 * with a `resentFrom`: the answer gives a count, not ids, so a resend made by someone else at
 * the same moment could be counted instead of one of these.
 */
async function waitForResent(api: HeraldApi, base: string, count: number): Promise<{ success: number; error: number }> {
  const progress = ProgressBar.start('delivering', count);
  try {
    for (;;) {
      const { body } = await api.get<{ data: DeliverySummary[] }>(`${base}/deliveries`, { sort: 'newest' });
      const resent = body.data.filter((row) => row.resentFrom !== null).slice(0, count);
      const finished = resent.filter((row) => row.status !== 'pending');
      progress.update(finished.length);
      if (resent.length < count || finished.length === resent.length) {
        return {
          success: finished.filter((row) => row.status === 'success').length,
          error: finished.filter((row) => row.status === 'error').length,
        };
      }
      await sleep(WAIT_POLL_INTERVAL_MS);
    }
  } finally {
    progress.finish();
  }
}

/** `2h` means two hours ago; anything else must be a date and time Herald can read. */
export function sinceOption(text: string, now = Date.now()): string {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(text.trim())) return new Date(now - parseDuration(text)).toISOString();
  const time = Date.parse(text);
  if (Number.isNaN(time) || !/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    throw new UsageError(`--failed-since "${text}" is neither a time nor a duration`, 'such as 2026-01-31T12:00:00Z, or 2h, 30m, 1d back from now');
  }
  return new Date(time).toISOString();
}
