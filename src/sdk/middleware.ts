import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { HeraldEnvelope } from './events.js';
import type { ReplayGuard } from './replay.js';
import {
  WebhookVerificationError,
  readHeader,
  verifyHmacSignature,
  verifyMiaSignature,
  verifyStandardWebhook,
  type HeadersLike,
  type SecretOrSecrets,
} from './verify.js';

/**
 * Receiver middleware for node:http, Express and Fastify. Each one reads the raw body, verifies
 * it before any JSON parsing, checks the replay guard, and only then parses the envelope.
 */

/** Which signature headers to trust. */
export type SignatureScheme =
  /** `webhook-id` / `webhook-timestamp` / `webhook-signature` (recommended: covers time and id). */
  | 'standard'
  /** `X-Mia-Signature` (or `X-Mia-Token`), the console's scheme. */
  | 'mia'
  /** `X-Signature`, HMAC-SHA256 over the body. */
  | 'hmac'
  /**
   * The strongest scheme whose headers are present: standard, then hmac, then mia. There is no
   * fallback: when the chosen scheme fails, the request is refused.
   */
  | 'any';

/** Options shared by every middleware. */
export interface HeraldReceiverOptions {
  /** The webhook's secret, or several during a rotation (any of them may verify). */
  secret: SecretOrSecrets;
  /** Defaults to `'standard'`. */
  scheme?: SignatureScheme;
  /** Refuses repeated webhook ids and older event timestamps once the signature verified. */
  replayGuard?: ReplayGuard;
  /** The sender name given to the replay guard; defaults to `"default"`. */
  sender?: string;
  /** Largest body accepted, in bytes; defaults to 1 MiB (Herald's envelopes stay under 256 KiB). */
  bodyLimit?: number;
  /** Standard Webhooks timestamp tolerance in seconds; defaults to 300. */
  toleranceSeconds?: number;
  /** The current time for the timestamp check (tests); defaults to `Date.now()`. */
  now?: () => Date | number;
}

/** A verified delivery. */
export interface VerifiedDelivery {
  /** The parsed body: `{ eventName, eventTimestamp, payload }`. */
  envelope: HeraldEnvelope;
  /** The exact bytes that were verified. */
  rawBody: Buffer;
  /** The scheme that verified the request. */
  scheme: Exclude<SignatureScheme, 'any'>;
  /** `webhook-id`; only set when it was covered by the signature (standard scheme). */
  webhookId?: string;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;

function chooseScheme(scheme: SignatureScheme, headers: HeadersLike): Exclude<SignatureScheme, 'any'> {
  if (scheme !== 'any') return scheme;
  if (readHeader(headers, 'webhook-signature') !== undefined) return 'standard';
  if (readHeader(headers, 'x-signature') !== undefined) return 'hmac';
  return 'mia';
}

/**
 * Verifies one request, framework-free: the building block of every middleware.
 *
 * @throws {@link WebhookVerificationError} when the request must be refused
 */
export function verifyDelivery(rawBody: Buffer, headers: HeadersLike, options: HeraldReceiverOptions): VerifiedDelivery {
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (rawBody.length > limit) throw new WebhookVerificationError('payload-too-large', `body exceeds ${limit} bytes`);
  const secrets = typeof options.secret === 'string' ? [options.secret] : [...(options.secret ?? [])];
  if (secrets.filter(Boolean).length === 0) throw new WebhookVerificationError('no-secret', 'no webhook secret is configured');
  const scheme = chooseScheme(options.scheme ?? 'standard', headers);

  let webhookId: string | undefined;
  if (scheme === 'standard') {
    const now = options.now?.();
    webhookId = verifyStandardWebhook(rawBody, headers, secrets, { toleranceSeconds: options.toleranceSeconds, now }).webhookId;
  } else {
    const name = scheme === 'hmac' ? 'x-signature' : 'x-mia-signature';
    let header = readHeader(headers, name);
    // Receivers written against the older console docs read X-Mia-Token: accept it when it is alone.
    if (scheme === 'mia' && header === undefined) header = readHeader(headers, 'x-mia-token');
    if (header === undefined || (Array.isArray(header) && header.length === 0)) {
      throw new WebhookVerificationError('missing-headers', `${name} is required`);
    }
    if (Array.isArray(header) && header.length > 1) throw new WebhookVerificationError('repeated-header', `${name} is repeated`);
    const verify = scheme === 'hmac' ? verifyHmacSignature : verifyMiaSignature;
    if (!verify(rawBody, header, secrets)) throw new WebhookVerificationError('bad-signature', `${name} does not match`);
  }

  const envelope = parseEnvelope(rawBody);
  // The console schemes carry no signed id; the signed bytes themselves identify the event, so an
  // exact replay is refused even when it shares its timestamp with the newest accepted event.
  const replayId = webhookId ?? `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
  if (options.replayGuard && !options.replayGuard.check({ sender: options.sender, eventTimestamp: envelope.eventTimestamp, webhookId: replayId })) {
    throw new WebhookVerificationError('replayed', 'this delivery was already accepted, or is older than one that was');
  }
  return { envelope, rawBody, scheme, webhookId };
}

function parseEnvelope(rawBody: Buffer): HeraldEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookVerificationError('malformed-body', 'the body is not JSON');
  }
  const candidate = parsed as Partial<HeraldEnvelope> | null;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.eventName !== 'string' ||
    typeof candidate.eventTimestamp !== 'number' ||
    candidate.payload === null ||
    typeof candidate.payload !== 'object'
  ) {
    throw new WebhookVerificationError('malformed-body', 'the body is not a Herald envelope');
  }
  return candidate as HeraldEnvelope;
}

/** The HTTP status and JSON body sent for a refused request. */
export function refusal(error: WebhookVerificationError): { status: number; body: { error: string; message: string } } {
  return { status: error.reason === 'payload-too-large' ? 413 : 401, body: { error: error.reason, message: error.message } };
}

/** Reads a request stream up to `limit` bytes; rejects with `payload-too-large` beyond it. */
export function readRawBody(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new WebhookVerificationError('payload-too-large', `body exceeds ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(new WebhookVerificationError('payload-too-large', `body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (error) => {
      if (!done) {
        done = true;
        reject(error);
      }
    });
  });
}

/**
 * Node joins a repeated header into one comma-separated string; `headersDistinct` keeps every
 * copy, so a repeated signature header is seen as such.
 */
function distinctHeaders(req: IncomingMessage): HeadersLike {
  return (req as IncomingMessage & { headersDistinct?: Record<string, string[]> }).headersDistinct ?? req.headers;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The handler given to {@link heraldNodeHandler}. */
export type HeraldNodeEventHandler = (
  delivery: VerifiedDelivery,
  req: IncomingMessage,
  res: ServerResponse,
) => void | Promise<void>;

/**
 * A node:http request listener that verifies each delivery and calls `handler` with it.
 * Refused requests get `401 { error: reason, message }` (`413` when too large). When the handler
 * returns without answering, the request is answered `204`; when it throws, `500`.
 *
 * ```ts
 * http.createServer(heraldNodeHandler({ secret }, ({ envelope }) => { ... })).listen(3000);
 * ```
 */
export function heraldNodeHandler(
  options: HeraldReceiverOptions,
  handler: HeraldNodeEventHandler,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      let delivery: VerifiedDelivery;
      try {
        const rawBody = await readRawBody(req, options.bodyLimit);
        delivery = verifyDelivery(rawBody, distinctHeaders(req), options);
      } catch (error) {
        if (error instanceof WebhookVerificationError) {
          const { status, body } = refusal(error);
          sendJson(res, status, body);
        } else {
          res.destroy();
        }
        return;
      }
      try {
        await handler(delivery, req, res);
        if (!res.writableEnded && !res.headersSent) {
          res.statusCode = 204;
          res.end();
        }
      } catch {
        sendJson(res, 500, { error: 'handler-failed', message: 'the handler failed' });
      }
    })();
  };
}

/** The parts of an Express request the middleware uses (no runtime dependency on Express). */
export interface ExpressLikeRequest extends IncomingMessage {
  body?: unknown;
  /** Set by {@link heraldExpress} on success. */
  herald?: VerifiedDelivery;
}

/** The parts of an Express response the middleware uses. */
export interface ExpressLikeResponse extends ServerResponse {
  status(code: number): this;
  json(body: unknown): this;
}

/**
 * Express middleware that verifies a delivery from the raw request stream. Mount it *instead of*
 * `express.json()` on the webhook route (it reads the body itself, like `express.raw`; a body
 * already turned into a Buffer by `express.raw()` is used as is). On success `req.body` is the
 * parsed envelope and `req.herald` the whole {@link VerifiedDelivery}; on failure it answers
 * `401 { error: reason, message }` (`413` when too large).
 *
 * ```ts
 * app.post('/hooks/herald', heraldExpress({ secret }), (req, res) => { req.body.eventName; res.sendStatus(204); });
 * ```
 */
export function heraldExpress(
  options: HeraldReceiverOptions,
): (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    void (async () => {
      let rawBody: Buffer;
      try {
        if (Buffer.isBuffer(req.body)) rawBody = req.body;
        else if (req.readableEnded || (req.body !== undefined && req.body !== null && typeof req.body === 'object' && Object.keys(req.body).length > 0)) {
          next(new Error('heraldExpress needs the raw body: mount it instead of express.json() on this route'));
          return;
        } else rawBody = await readRawBody(req, options.bodyLimit);
        const delivery = verifyDelivery(rawBody, distinctHeaders(req), options);
        req.herald = delivery;
        req.body = delivery.envelope;
      } catch (error) {
        if (error instanceof WebhookVerificationError) {
          const { status, body } = refusal(error);
          res.status(status).json(body);
        } else next(error);
        return;
      }
      next();
    })();
  };
}

/** The parts of a Fastify request the plugin uses (structural, so Fastify is not a dependency). */
export interface FastifyLikeRequest {
  headers: IncomingHttpHeaders;
  raw?: IncomingMessage;
  body?: unknown;
  /** Set by {@link heraldFastify} on success. */
  herald?: VerifiedDelivery;
}

/** The parts of a Fastify reply the plugin uses. */
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  send(payload?: unknown): FastifyLikeReply;
}

/** The parts of a Fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  removeAllContentTypeParsers(): void;
  addContentTypeParser(
    contentType: string | RegExp | string[],
    options: { parseAs: 'buffer'; bodyLimit?: number },
    parser: (request: any, body: Buffer, done: (error: Error | null, body?: unknown) => void) => void,
  ): void;
  addHook(name: 'preHandler', hook: (request: any, reply: any) => Promise<unknown>): void;
}

const VERIFIED = Symbol('herald.verified');

/**
 * A Fastify plugin that verifies deliveries. It replaces the content type parsers of the scope it
 * is registered in by one that keeps the raw bytes of any content type and verifies them, and
 * adds a `preHandler` hook that answers refused requests with `401 { error: reason, message }`
 * (`413` when too large) before the route runs. On success `request.body` is the parsed envelope
 * and `request.herald` the whole {@link VerifiedDelivery}.
 *
 * Register it in the scope of the webhook routes only (it is not encapsulated itself, like a
 * plugin wrapped in `fastify-plugin`, so it applies to the scope it is registered in):
 *
 * ```ts
 * app.register(async (hooks) => {
 *   await hooks.register(heraldFastify({ secret }));
 *   hooks.post('/hooks/herald', async (request) => { request.body.eventName; return { ok: true }; });
 * });
 * ```
 */
export function heraldFastify(
  options: HeraldReceiverOptions,
): (instance: FastifyLikeInstance, pluginOptions: unknown, done: (error?: Error) => void) => void {
  const plugin = (instance: FastifyLikeInstance, _pluginOptions: unknown, done: (error?: Error) => void): void => {
    const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    instance.removeAllContentTypeParsers();
    // A parser error would go through Fastify's own error format; keeping the outcome on the
    // request and answering in preHandler gives the same small JSON as the other middleware.
    // Bodies over the limit are answered 413 by Fastify itself, before the parser runs.
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (request, body, parsed) => {
      try {
        const delivery = verifyDelivery(body, request.raw ? distinctHeaders(request.raw) : request.headers, options);
        request.herald = delivery;
        request[VERIFIED] = delivery;
        parsed(null, delivery.envelope);
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) {
          parsed(error as Error);
          return;
        }
        request[VERIFIED] = error;
        parsed(null, undefined);
      }
    });
    instance.addHook('preHandler', async (request: FastifyLikeRequest & { [VERIFIED]?: unknown }, reply: FastifyLikeReply) => {
      const outcome = request[VERIFIED];
      if (outcome && !(outcome instanceof WebhookVerificationError)) return;
      // No body at all (no content type parser ran) is as unverified as a bad signature.
      const error = outcome instanceof WebhookVerificationError ? outcome : new WebhookVerificationError('missing-headers', 'no signed body');
      const { status, body } = refusal(error);
      return reply.code(status).send(body);
    });
    done();
  };
  // Like fastify-plugin: the parser and hook apply to the scope the plugin is registered in.
  (plugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
  return plugin;
}
