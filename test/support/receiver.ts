import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  LOOPBACK_HOST,
  baseUrl,
  createCloser,
  createSocketRegistry,
  listenOnFreePort,
} from './server-lifecycle.js';
import { waitUntil } from './wait.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Header names and values as sent, in order, for case- and order-sensitive checks. */
  rawHeaders: string[];
  body: Buffer;
  /** Date.now() when the request line and headers arrived. */
  receivedAt: number;
}

export interface ResponderReply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Hold the answer back this long, e.g. to trigger a client timeout. */
  delayMs?: number;
}

/**
 * Decides how to answer request number `index` (counted from 0):
 * a reply, 'hang' (never answer until the receiver closes) or
 * 'destroy' (drop the connection without a response).
 */
export type Responder = (req: ReceivedRequest, index: number) => ResponderReply | 'hang' | 'destroy';

export interface Receiver {
  /** Base URL such as http://127.0.0.1:PORT (https:// when started with tls). */
  url: string;
  port: number;
  /** Every completely received request, in the order the bodies finished. */
  requests: ReceivedRequest[];
  respondWith(responder: Responder): void;
  /** Resolves with a snapshot of all requests once at least `n` have arrived. */
  waitForRequests(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  tls?: { certPem: string; keyPem: string };
  responder?: Responder;
  host?: string;
}

const answerOk: Responder = () => ({ status: 200, body: 'ok' });

/** Fails the first `n` requests with `status`, then answers 200 `ok`. */
export function failTimesThenSucceed(n: number, status = 500): Responder {
  return (_req, index) => (index < n ? { status, body: `failure ${index + 1} of ${n}` } : { status: 200, body: 'ok' });
}

export async function startReceiver(opts: ReceiverOptions = {}): Promise<Receiver> {
  const host = opts.host ?? LOOPBACK_HOST;
  const requests: ReceivedRequest[] = [];
  const sockets = createSocketRegistry();
  const delayedReplies = new Set<NodeJS.Timeout>();
  let responder = opts.responder ?? answerOk;

  const handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void readRequest(req).then((received) => {
      if (!received) return;
      const index = requests.push(received) - 1;
      answer(res, decide(responder, received, index), delayedReplies);
    });
  };
  const server = opts.tls
    ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handleRequest)
    : http.createServer(handleRequest);
  server.on('connection', sockets.add);

  const port = await listenOnFreePort(server, host);
  const close = createCloser(server, () => {
    for (const timer of delayedReplies) clearTimeout(timer);
    delayedReplies.clear();
    sockets.destroyAll();
  });

  return {
    url: baseUrl(opts.tls ? 'https' : 'http', host, port),
    port,
    requests,
    respondWith(next) {
      responder = next;
    },
    async waitForRequests(n, timeoutMs) {
      await waitUntil(() => requests.length >= n, {
        timeoutMs,
        message: `receiver expected ${n} request(s) but has ${requests.length}`,
      });
      return requests.slice();
    },
    close,
  };
}

/** Buffers the whole body; resolves undefined when the client goes away mid-request. */
async function readRequest(req: IncomingMessage): Promise<ReceivedRequest | undefined> {
  const receivedAt = Date.now();
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return undefined;
  }
  return {
    method: req.method ?? '',
    url: req.url ?? '',
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body: Buffer.concat(chunks),
    receivedAt,
  };
}

/** A throwing responder becomes a 500, so the test fails loudly instead of hanging. */
function decide(responder: Responder, req: ReceivedRequest, index: number): ReturnType<Responder> {
  try {
    return responder(req, index);
  } catch (error) {
    return { status: 500, body: `responder threw: ${(error as Error).message}` };
  }
}

function answer(res: ServerResponse, decision: ReturnType<Responder>, delayedReplies: Set<NodeJS.Timeout>): void {
  if (decision === 'hang') return;
  if (decision === 'destroy') {
    res.socket?.destroy();
    return;
  }
  if (!decision.delayMs) {
    sendReply(res, decision);
    return;
  }
  const timer = setTimeout(() => {
    delayedReplies.delete(timer);
    sendReply(res, decision);
  }, decision.delayMs);
  delayedReplies.add(timer);
}

function sendReply(res: ServerResponse, reply: ResponderReply): void {
  if (res.destroyed) return;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  res.statusCode = reply.status;
  res.end(reply.body ?? '');
}
