import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { Agent, request } from 'undici';
import {
  readHeader,
  readRawBody,
  verifyHmacSignature,
  verifyMiaSignature,
  verifyStandardWebhook,
  WebhookVerificationError,
  type HeadersLike,
} from '../sdk/index.js';
import { integerIn } from './command-kit.js';
import { UsageError } from './failures.js';
import { formatTime, printLine, printNote } from './output.js';

/**
 * `herald listen`: a local receiver for development. Herald delivers to it, it prints what came
 * in and whether each signature verifies, hands the request on unchanged to the application
 * being developed, and answers Herald with that application's answer, so Herald records (and
 * retries) exactly what the application would have made it record.
 */

const DEFAULT_PORT = 8081;
/** Herald's envelopes stay under 256 KiB; anything far larger is not from Herald. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Herald gives a receiver 10 s by default; a forward that takes longer has failed for Herald anyway. */
const FORWARD_TIMEOUT_MS = 30_000;
/** Headers that describe one connection, or that the forward sets itself (Host, Content-Length). */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'host',
  'content-length',
]);

const SIGNATURE_HEADERS = ['x-mia-signature', 'x-signature', 'webhook-signature'] as const;
type SignatureHeader = (typeof SIGNATURE_HEADERS)[number];

/** `valid`, `missing`, or why it failed (`invalid: bad-signature`, `invalid: stale-timestamp`). */
export type SignatureResults = Record<SignatureHeader, string>;

interface ListenFlags {
  forwardTo: string;
  port: number;
  host: string;
  secret: string[];
  json?: boolean;
}

export function listenCommand(): Command {
  return new Command('listen')
    .description('receive deliveries locally: print them, check their signatures and forward them to your application')
    .requiredOption('--forward-to <url>', 'where each delivery is sent on, e.g. http://localhost:3000/hooks/herald')
    .option('--port <port>', `port to listen on (0 picks a free one)`, integerIn(0, 65535), DEFAULT_PORT)
    .option('--host <address>', 'address to listen on (0.0.0.0 to be reachable from other machines)', '127.0.0.1')
    .option(
      '--secret <secret>',
      "the webhook's secret, to verify signatures; repeat it for both secrets of a rotation",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--json', 'print one JSON object per delivery')
    .action(async (flags: ListenFlags) => {
      const forwardTo = forwardUrl(flags.forwardTo);
      const agent = new Agent({ connectTimeout: FORWARD_TIMEOUT_MS });
      const server = http.createServer((req, res) => void handleDelivery(req, res, { ...flags, forwardTo, agent }));
      const address = await listen(server, flags.host, flags.port);
      printNote(`listening on http://${address}, forwarding to ${forwardTo}`);
      // Herald refuses loopback and private targets unless told otherwise: say so before the first puzzled wait.
      printNote(
        `point a webhook at it (herald webhooks create --url http://${address}/ --events ...); ` +
          'Herald delivers to this machine only with HERALD_ALLOW_PRIVATE_NETWORKS=1 or HERALD_ALLOWED_NETWORKS',
      );
      printNote(
        flags.secret.length > 0
          ? 'signatures are checked with the given secret'
          : 'signatures are not checked: pass --secret to verify them',
      );
      await untilStopped(server, agent);
    });
}

function forwardUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--forward-to "${text}" is not a URL`, 'such as http://localhost:3000/hooks/herald');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--forward-to must be an http or https URL');
  return url.toString();
}

function listen(server: http.Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new UsageError(`port ${port} is in use`, 'pick another --port (0 picks a free one)'));
      else reject(error);
    });
    server.listen(port, host, () => {
      const { address, port: bound } = server.address() as AddressInfo;
      resolve(`${address.includes(':') ? `[${address}]` : address}:${bound}`);
    });
  });
}

/** Runs until Ctrl-C or SIGTERM, then stops taking requests and lets the process end. */
function untilStopped(server: http.Server, agent: Agent): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => void agent.close().then(resolve, resolve));
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

interface DeliveryContext {
  forwardTo: string;
  agent: Agent;
  secret: string[];
  json?: boolean;
}

type ForwardOutcome =
  | { kind: 'answered'; status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; durationMs: number }
  | { kind: 'failed'; reason: string; durationMs: number };

async function handleDelivery(req: IncomingMessage, res: ServerResponse, context: DeliveryContext): Promise<void> {
  const receivedAt = new Date();
  let body: Buffer;
  try {
    body = await readRawBody(req, MAX_BODY_BYTES);
  } catch (error) {
    const tooLarge = error instanceof WebhookVerificationError;
    res.writeHead(tooLarge ? 413 : 400).end();
    return;
  }
  const signatures = context.secret.length > 0 ? checkSignatures(body, distinctHeaders(req), context.secret) : null;
  const forward = await forwardDelivery(req, body, context);
  report({ req, body, receivedAt, signatures, forward, forwardTo: context.forwardTo, json: context.json });
  answerHerald(res, forward, context.forwardTo);
}

/**
 * Every scheme Herald signs with, each checked on its own: a receiver written against one of
 * them wants to know that one verifies, whatever the others say.
 */
export function checkSignatures(body: Buffer, headers: HeadersLike, secrets: string[]): SignatureResults {
  const present = (name: string) => readHeader(headers, name) !== undefined;
  const verdict = (ok: boolean) => (ok ? 'valid' : 'invalid: bad-signature');
  return {
    'x-mia-signature': present('x-mia-signature')
      ? verdict(verifyMiaSignature(body, readHeader(headers, 'x-mia-signature'), secrets))
      : 'missing',
    'x-signature': present('x-signature') ? verdict(verifyHmacSignature(body, readHeader(headers, 'x-signature'), secrets)) : 'missing',
    'webhook-signature': present('webhook-signature') ? standardVerdict(body, headers, secrets) : 'missing',
  };
}

function standardVerdict(body: Buffer, headers: HeadersLike, secrets: string[]): string {
  try {
    verifyStandardWebhook(body, headers, secrets);
    return 'valid';
  } catch (error) {
    if (error instanceof WebhookVerificationError) return `invalid: ${error.reason}`;
    throw error;
  }
}

/** Node joins a repeated header into one string; the checks must see the copies to refuse them. */
function distinctHeaders(req: IncomingMessage): HeadersLike {
  return req.headersDistinct as HeadersLike;
}

/** The same method, body bytes and headers (in their order and case) as Herald sent. */
async function forwardDelivery(req: IncomingMessage, body: Buffer, context: DeliveryContext): Promise<ForwardOutcome> {
  const started = Date.now();
  const headers: string[] = [];
  for (let index = 0; index < req.rawHeaders.length; index += 2) {
    const name = req.rawHeaders[index];
    if (!NOT_FORWARDED.has(name.toLowerCase())) headers.push(name, req.rawHeaders[index + 1]);
  }
  try {
    const answer = await request(context.forwardTo, {
      method: (req.method ?? 'POST') as 'POST',
      headers,
      body,
      dispatcher: context.agent,
      headersTimeout: FORWARD_TIMEOUT_MS,
      bodyTimeout: FORWARD_TIMEOUT_MS,
    });
    const answerBody = Buffer.from(await answer.body.arrayBuffer());
    return { kind: 'answered', status: answer.statusCode, headers: answer.headers, body: answerBody, durationMs: Date.now() - started };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'string' ? `${code}: ${(error as Error).message}` : (error as Error).message;
    return { kind: 'failed', reason, durationMs: Date.now() - started };
  }
}

/** Herald records the application's answer (and honours its Retry-After); a failed forward is a 502. */
function answerHerald(res: ServerResponse, forward: ForwardOutcome, forwardTo: string): void {
  if (forward.kind === 'failed') {
    res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end(`herald listen: forwarding to ${forwardTo} failed: ${forward.reason}\n`);
    return;
  }
  for (const [name, value] of Object.entries(forward.headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name.toLowerCase())) res.setHeader(name, value);
  }
  res.writeHead(forward.status).end(forward.body);
}

interface DeliveryReport {
  req: IncomingMessage;
  body: Buffer;
  receivedAt: Date;
  signatures: SignatureResults | null;
  forward: ForwardOutcome;
  forwardTo: string;
  json?: boolean;
}

function report({ req, body, receivedAt, signatures, forward, forwardTo, json }: DeliveryReport): void {
  const envelope = envelopeOf(body);
  const webhookId = typeof req.headers['webhook-id'] === 'string' ? req.headers['webhook-id'] : null;
  if (json) {
    printLine(
      JSON.stringify({
        receivedAt: receivedAt.toISOString(),
        method: req.method,
        path: req.url,
        eventName: envelope?.eventName ?? null,
        eventTimestamp: envelope?.eventTimestamp ?? null,
        webhookId,
        signatures,
        forward:
          forward.kind === 'answered'
            ? { url: forwardTo, status: forward.status, durationMs: forward.durationMs }
            : { url: forwardTo, error: forward.reason, durationMs: forward.durationMs },
      }),
    );
    return;
  }
  printLine(`${formatTime(receivedAt.toISOString())}  ${envelope?.eventName ?? '(not a Herald envelope)'}  ${webhookId ?? '-'}  ${req.method} ${req.url}`);
  printLine(`  signatures: ${signatures ? describeSignatures(signatures) : 'not checked (no --secret)'}`);
  printLine(
    forward.kind === 'answered'
      ? `  forwarded: ${forward.status} in ${forward.durationMs} ms`
      : `  forward FAILED: ${forward.reason}; answered Herald 502`,
  );
}

function describeSignatures(results: SignatureResults): string {
  const failed = SIGNATURE_HEADERS.some((name) => results[name].startsWith('invalid'));
  const list = SIGNATURE_HEADERS.map((name) => `${name} ${results[name]}`).join(', ');
  // Loud on failure: a wrong secret is the usual reason, and the line must not be missed.
  return failed ? `FAILED (${list}); is --secret the webhook's secret?` : list;
}

function envelopeOf(body: Buffer): { eventName?: string; eventTimestamp?: number } | null {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as { eventName?: string; eventTimestamp?: number }) : null;
  } catch {
    return null;
  }
}
