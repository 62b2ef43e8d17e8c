/**
 * The benchmarks' webhook receiver, run as its own process (forked with IPC) so that its work
 * never shares an event loop with Herald or with the load client.
 *
 * It answers `200 ok` at once, counts what it answered (a repeat of the same `webhook-id` and
 * URL counts once: delivery is at least once), and tells the runner when an expected count is
 * reached. Requests are grouped by the first segment of their path (`/ok/3` is group `ok`).
 * Paths under `/hang` are never answered (the client's timeout ends them); in `hang` mode every
 * answer is held back until the runner switches to `answer`, which answers the held ones too.
 *
 * Started with `--latency`, it reads `"sentAt":<ms>` from each body and records the time from
 * that to the receipt of the complete request.
 */
import http from 'node:http';
import {
  preciseNow,
  type GroupStats,
  type ReceiverCommand,
  type ReceiverEvent,
  type ReceiverMode,
  type ReceiverStats,
} from './messages.js';

/** Bodies longer than this are not searched for a send time: only the benchmarks' small events carry one. */
const MAX_STAMPED_BODY_BYTES = 8 * 1024;
const SENT_AT = /"sentAt":(\d+(?:\.\d+)?)/;
const OK_BODY = 'ok';

interface Held {
  res: http.ServerResponse;
  key: string | null;
  group: string;
}

const recordLatency = process.argv.includes('--latency');
let mode: ReceiverMode = 'answer';
let state = freshState();
let expectation: { count: number; group?: string; timer: NodeJS.Timeout } | null = null;

function freshState() {
  return {
    received: 0,
    answered: 0,
    duplicates: 0,
    answeredKeys: new Set<string>(),
    held: new Set<Held>(),
    firstReceivedAt: null as number | null,
    lastAnsweredAt: null as number | null,
    groups: new Map<string, GroupStats>(),
    headerBytes: 0,
    lastRawHeaders: [] as string[],
  };
}

function send(event: ReceiverEvent): void {
  process.send?.(event);
}

function groupOf(url: string): string {
  const end = url.slice(1).search(/[/?]/);
  return end === -1 ? url.slice(1) : url.slice(1, end + 1);
}

function groupStats(name: string): GroupStats {
  let group = state.groups.get(name);
  if (!group) {
    group = { received: 0, answered: 0, latenciesMs: [] };
    state.groups.set(name, group);
  }
  return group;
}

function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const receivedAt = preciseNow();
    const url = req.url ?? '/';
    const group = groupOf(url);
    noteReceipt(group, chunks, receivedAt);
    noteHeaders(req.rawHeaders);
    const webhookId = req.headers['webhook-id'];
    // Requests without a webhook-id are all distinct.
    const key = typeof webhookId === 'string' ? `${webhookId} ${url}` : null;
    if (group === 'hang') return; // never answered: the client gives up
    if (mode === 'hang') {
      const held: Held = { res, key, group };
      state.held.add(held);
      res.on('close', () => state.held.delete(held));
      return;
    }
    answer(res, key, group);
  });
}

function noteReceipt(group: string, chunks: Buffer[], receivedAt: number): void {
  state.received += 1;
  state.firstReceivedAt ??= receivedAt;
  const stats = groupStats(group);
  stats.received += 1;
  if (!recordLatency) return;
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  if (body.length > MAX_STAMPED_BODY_BYTES) return;
  const match = SENT_AT.exec(body.toString('latin1'));
  if (match) stats.latenciesMs.push(receivedAt - Number(match[1]));
}

function noteHeaders(rawHeaders: string[]): void {
  for (const part of rawHeaders) state.headerBytes += part.length;
  state.lastRawHeaders = rawHeaders;
}

function answer(res: http.ServerResponse, key: string | null, group: string): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': OK_BODY.length });
  res.end(OK_BODY);
  if (key !== null) {
    if (state.answeredKeys.has(key)) {
      state.duplicates += 1;
      return;
    }
    state.answeredKeys.add(key);
  }
  state.answered += 1;
  groupStats(group).answered += 1;
  state.lastAnsweredAt = preciseNow();
  checkExpectation();
}

function answeredIn(group: string | undefined): number {
  return group === undefined ? state.answered : (state.groups.get(group)?.answered ?? 0);
}

function checkExpectation(): void {
  if (!expectation) return;
  const count = answeredIn(expectation.group);
  if (count < expectation.count) return;
  clearExpectation();
  send({ type: 'reached', at: preciseNow(), count, complete: true });
}

function expect(count: number, group: string | undefined, deadlineMs: number): void {
  clearExpectation();
  const timer = setTimeout(() => {
    expectation = null;
    send({ type: 'reached', at: state.lastAnsweredAt ?? preciseNow(), count: answeredIn(group), complete: false });
  }, deadlineMs);
  expectation = { count, group, timer };
  checkExpectation();
}

function clearExpectation(): void {
  if (expectation) clearTimeout(expectation.timer);
  expectation = null;
}

function setMode(next: ReceiverMode): void {
  mode = next;
  let released = 0;
  if (next === 'answer') {
    const held = [...state.held];
    state.held.clear();
    for (const { res, key, group } of held) {
      answer(res, key, group);
      released += 1;
    }
  }
  send({ type: 'mode-set', mode: next, released });
}

function snapshot(): ReceiverStats {
  return {
    received: state.received,
    answered: state.answered,
    duplicates: state.duplicates,
    held: state.held.size,
    firstReceivedAt: state.firstReceivedAt,
    lastAnsweredAt: state.lastAnsweredAt,
    groups: Object.fromEntries(state.groups),
    headerBytes: state.headerBytes,
    lastHeaderNames: state.lastRawHeaders.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase()).sort(),
  };
}

function onCommand(command: ReceiverCommand): void {
  switch (command.type) {
    case 'expect':
      expect(command.count, command.group, command.deadlineMs);
      break;
    case 'mode':
      setMode(command.mode);
      break;
    case 'stats':
      send({ type: 'stats', stats: snapshot() });
      break;
    case 'reset':
      clearExpectation();
      state = freshState();
      break;
  }
}

const server = http.createServer(onRequest);
// Longer than any client's idle time, so connections are reused rather than re-opened.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
// Hung requests wait for the client's timeout, which may be minutes in the backlog benchmark.
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  send({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (command) => onCommand(command as ReceiverCommand));
// The runner went away: do not linger.
process.on('disconnect', () => process.exit(0));
