import fs from 'node:fs';
import { Command } from 'commander';
import { MAX_BATCH_EVENTS } from '../api/schemas.js';
import { withApi, type HeraldApi } from './api-client.js';
import { connectionOf, withConnectionOptions, type ConnectionFlags } from './command-kit.js';
import { ApiError, UsageError } from './failures.js';
import { plural, printJson, printLine, printNote, ProgressBar } from './output.js';

/**
 * Herald takes at most 16 MiB per publish request; a batch is cut before it reaches this much
 * serialised, leaving room for the `{"events":[...]}` around it.
 */
const MAX_BATCH_BYTES = 15 * 1024 * 1024;

interface PublishFlags extends ConnectionFlags {
  json?: boolean;
  payload?: string;
  payloadFile?: string;
  file?: string;
  idempotencyKey?: string;
}

interface PublishedEvent {
  id: string;
  deliveries: number;
}

/** `herald publish`: one event from the arguments or stdin, or a whole file of them in batches. */
export function publishCommand(): Command {
  return withConnectionOptions(new Command('publish'))
    .description('publish one event, or every event of a file (--file) in batches of up to 1000')
    .argument('[eventName]', 'the event type, e.g. project_created (not with --file)')
    .option('--payload <json>', 'the payload as a JSON object')
    .option('--payload-file <file>', 'read the payload from a file (default: stdin, when it is not a terminal)')
    .option('--file <events>', 'a JSON array or NDJSON file of { eventName, payload, eventTimestamp? }; - for stdin')
    .option(
      '--idempotency-key <key>',
      'repeating the command with the same key publishes nothing new (with --file, batch n uses <key>-<n>)',
    )
    .action(async (eventName: string | undefined, flags: PublishFlags) => {
      if (flags.file !== undefined) {
        if (eventName !== undefined || flags.payload !== undefined || flags.payloadFile !== undefined) {
          throw new UsageError('--file takes the events from the file: give no event name, --payload or --payload-file with it');
        }
        return publishFile(flags.file, flags);
      }
      if (eventName === undefined) {
        throw new UsageError('give an event name (herald publish project_created --payload \'{...}\'), or --file');
      }
      return publishOne(eventName, flags);
    });
}

async function publishOne(eventName: string, flags: PublishFlags): Promise<void> {
  const payload = parsePayload(await readPayloadText(flags));
  const headers = flags.idempotencyKey ? { 'idempotency-key': flags.idempotencyKey } : undefined;
  const answer = await withApi(connectionOf(flags), (api) => api.post<PublishedEvent>('/events', { eventName, payload }, headers));
  if (flags.json) return printJson(answer.body);
  printLine(`published ${answer.body.id} (${eventName}) to ${plural(answer.body.deliveries, 'webhook')}`);
  if (answer.headers['idempotent-replayed'] === 'true') {
    printNote('this key was used before: Herald answered with the first result and published nothing new');
  }
}

async function readPayloadText(flags: PublishFlags): Promise<string> {
  if (flags.payload !== undefined && flags.payloadFile !== undefined) {
    throw new UsageError('give the payload once: --payload or --payload-file');
  }
  if (flags.payload !== undefined) return flags.payload;
  if (flags.payloadFile !== undefined) return readFileText(flags.payloadFile, '--payload-file');
  // Waiting on a terminal for input nobody knows is expected would look like a hang.
  if (process.stdin.isTTY) {
    throw new UsageError('no payload: give --payload \'{"tenantId":"acme"}\', --payload-file F, or pipe it on stdin');
  }
  const text = await readStdin();
  if (!text.trim()) throw new UsageError('no payload: stdin was empty', 'give --payload \'{...}\' or --payload-file F');
  return text;
}

function parsePayload(text: string): object {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the payload is not JSON: ${(error as Error).message}`);
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new UsageError('the payload must be a JSON object, such as {"tenantId":"acme","projectId":"shop"}');
  }
  return payload;
}

/** One event of a file, with where it came from, so an error can point at the line to fix. */
interface FileEvent {
  event: object;
  /** `line 12` (NDJSON) or `[11]` (array index). */
  origin: string;
}

async function publishFile(file: string, flags: PublishFlags): Promise<void> {
  const events = parseEventsFile(file === '-' ? await readStdin() : readFileText(file, '--file'), file);
  const batches = batchesOf(events);
  const progress = ProgressBar.start('publishing', events.length);
  const published = await withApi(connectionOf(flags), async (api) => {
    const accepted: PublishedEvent[] = [];
    for (const [index, batch] of batches.entries()) {
      const key = flags.idempotencyKey ? `${flags.idempotencyKey}-${index + 1}` : undefined;
      accepted.push(...(await sendBatch(api, batch, key, accepted.length)));
      progress.update(accepted.length);
    }
    return accepted;
  }).finally(() => progress.finish());
  if (flags.json) return printJson({ events: published });
  const deliveries = published.reduce((sum, event) => sum + event.deliveries, 0);
  printLine(
    `published ${plural(published.length, 'event')} in ${plural(batches.length, 'batch', 'batches')}; ` +
      `${plural(deliveries, 'delivery', 'deliveries')} queued`,
  );
}

async function sendBatch(api: HeraldApi, batch: FileEvent[], key: string | undefined, before: number): Promise<PublishedEvent[]> {
  try {
    const headers = key ? { 'idempotency-key': key } : undefined;
    const answer = await api.post<{ events: PublishedEvent[] }>('/events', { events: batch.map((item) => item.event) }, headers);
    return answer.body.events;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    // A batch is accepted whole or not at all: say what is in Herald already, so a rerun can skip it.
    printNote(`${plural(before, 'event')} before this batch were accepted; this batch and the ones after it were not`);
    throw new ApiError(error.status, error.code, error.message, fileField(error.field, batch), error.retryAfterSeconds);
  }
}

/** `events[3].payload.tenantId` of a batch becomes `line 1004: payload.tenantId` of the file. */
function fileField(field: string | undefined, batch: FileEvent[]): string | undefined {
  if (field === 'events') return 'the batch';
  const match = field === undefined ? null : /^events\[(\d+)\]\.?(.*)$/.exec(field);
  if (!match) return field;
  const origin = batch[Number(match[1])]?.origin ?? `batch item ${match[1]}`;
  return match[2] ? `${origin}: ${match[2]}` : origin;
}

/** A JSON array, or one JSON object per line (NDJSON); blank lines are skipped. */
export function parseEventsFile(text: string, file: string): FileEvent[] {
  const events = text.trimStart().startsWith('[') ? parseArray(text, file) : parseLines(text, file);
  if (events.length === 0) throw new UsageError(`${file} holds no events`);
  return events;
}

function parseArray(text: string, file: string): FileEvent[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`, 'give a JSON array or one JSON object per line');
  }
  return (items as unknown[]).map((item, index) => checkedEvent(item, `[${index}]`, file));
}

function parseLines(text: string, file: string): FileEvent[] {
  const events: FileEvent[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`${file} line ${index + 1} is not JSON: ${(error as Error).message}`);
    }
    events.push(checkedEvent(item, `line ${index + 1}`, file));
  }
  return events;
}

/** Only the shape is checked here; Herald checks names and payloads against its catalog. */
function checkedEvent(item: unknown, origin: string, file: string): FileEvent {
  const candidate = item as { eventName?: unknown; payload?: unknown } | null;
  if (candidate === null || typeof candidate !== 'object' || Array.isArray(candidate) || typeof candidate.eventName !== 'string') {
    throw new UsageError(`${file} ${origin} is not an event`, 'each event is {"eventName":"...","payload":{...}}');
  }
  return { event: candidate, origin };
}

/** Up to 1000 events a batch (Herald's limit), and cut earlier when a batch grows too large. */
export function batchesOf(events: FileEvent[]): FileEvent[][] {
  const batches: FileEvent[][] = [];
  let current: FileEvent[] = [];
  let bytes = 0;
  for (const item of events) {
    const size = Buffer.byteLength(JSON.stringify(item.event)) + 1;
    if (current.length > 0 && (current.length >= MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function readFileText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
