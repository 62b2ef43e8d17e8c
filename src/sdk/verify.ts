import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signature checks for requests Herald delivers. Every check works on the raw body bytes exactly
 * as received: verify first, parse JSON afterwards.
 */

/** Why a request was refused. */
export type VerificationFailureReason =
  /** A header the scheme needs is absent. */
  | 'missing-headers'
  /** A header the scheme needs was sent more than once. */
  | 'repeated-header'
  /** A header is present but cannot be read (not hex, no `v1,` entry, timestamp not a number...). */
  | 'malformed-header'
  /** No secret is configured, so nothing can be verified. */
  | 'no-secret'
  /** `webhook-timestamp` is further from now than the tolerance allows. */
  | 'stale-timestamp'
  /** The signature does not match the body with any configured secret. */
  | 'bad-signature'
  /** The body verified but is not a Herald envelope. */
  | 'malformed-body'
  /** The request verified but was seen before, or is older than one already accepted. */
  | 'replayed'
  /** The body is larger than the configured limit. */
  | 'payload-too-large';

/** Thrown when a delivery cannot be trusted; `reason` says why. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly reason: VerificationFailureReason,
    message: string = reason,
  ) {
    super(message);
  }
}

/** A header value as Node (`IncomingHttpHeaders`) or a plain object may hold it. */
export type HeaderValue = string | string[] | undefined;

/** Request headers: a Node/Express/Fastify headers object, a plain record or a fetch `Headers`. */
export type HeadersLike = Record<string, HeaderValue> | Headers;

/** One secret, or several while a rotation is under way (any of them may verify). */
export type SecretOrSecrets = string | readonly string[];

function toBuffer(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

function secretList(secret: SecretOrSecrets | undefined | null): string[] {
  if (secret === undefined || secret === null) return [];
  return (typeof secret === 'string' ? [secret] : [...secret]).filter((value) => value.length > 0);
}

/**
 * Constant-time comparison of two strings. Different lengths answer false at once; that only
 * reveals the length, which is public for a fixed-size digest.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Reads one header value. A header repeated on the wire (an array with more than one value, or a
 * fetch `Headers` value joined with `, `) is refused, since an attacker could add a second copy.
 */
function singleValue(value: HeaderValue): { value?: string; repeated: boolean } {
  if (value === undefined) return { repeated: false };
  if (Array.isArray(value)) {
    if (value.length === 0) return { repeated: false };
    if (value.length > 1) return { repeated: true };
    return { value: value[0], repeated: false };
  }
  return { value, repeated: false };
}

/** Looks a header up by name, case-insensitively, in any supported headers shape. */
export function readHeader(headers: HeadersLike, name: string): HeaderValue {
  const lower = name.toLowerCase();
  if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.get(lower) ?? undefined;
  const record = headers as Record<string, HeaderValue>;
  if (lower in record) return record[lower];
  for (const key of Object.keys(record)) if (key.toLowerCase() === lower) return record[key];
  return undefined;
}

function hexDigestHeader(header: HeaderValue): string | undefined {
  const { value, repeated } = singleValue(header);
  // A comma means copies joined by the HTTP stack (Node joins repeated headers with ", ").
  if (repeated || value === undefined || value.includes(',')) return undefined;
  const trimmed = value.trim();
  const digest = trimmed.toLowerCase().startsWith('sha256=') ? trimmed.slice('sha256='.length) : trimmed;
  return /^[0-9a-fA-F]{64}$/.test(digest) ? digest.toLowerCase() : undefined;
}

/**
 * Checks the console scheme, `X-Mia-Signature` (or `X-Mia-Token`):
 * `hex(sha256(body bytes followed by the secret's UTF-8 bytes))`.
 *
 * A `sha256=` prefix and upper-case hex are accepted. The answer is false when the header is
 * missing, repeated (an array of more than one value, or copies joined with a comma) or malformed, and when no secret is given.
 * The comparison runs in constant time.
 *
 * This scheme does not cover time: pair it with a replay guard (see {@link createReplayGuard}).
 *
 * @param rawBody - the request body exactly as received
 * @param header - the header value as the framework exposes it
 * @param secret - the webhook's secret; several are tried in turn during a rotation
 */
export function verifyMiaSignature(rawBody: Buffer | string, header: HeaderValue, secret: SecretOrSecrets): boolean {
  const received = hexDigestHeader(header);
  const secrets = secretList(secret);
  if (received === undefined || secrets.length === 0) return false;
  const body = toBuffer(rawBody);
  let ok = false;
  for (const candidate of secrets) {
    const expected = createHash('sha256').update(body).update(candidate, 'utf8').digest('hex');
    // No early exit: every secret is tried, so timing does not tell which one matched.
    ok = constantTimeEqual(expected, received) || ok;
  }
  return ok;
}

/**
 * Checks `X-Signature`: `hex(HMAC-SHA256(key = secret, message = body))`.
 * Same rules as {@link verifyMiaSignature}: `sha256=` prefix accepted, a repeated, missing or
 * malformed header or an empty secret answers false, constant-time comparison.
 */
export function verifyHmacSignature(rawBody: Buffer | string, header: HeaderValue, secret: SecretOrSecrets): boolean {
  const received = hexDigestHeader(header);
  const secrets = secretList(secret);
  if (received === undefined || secrets.length === 0) return false;
  const body = toBuffer(rawBody);
  let ok = false;
  for (const candidate of secrets) {
    const expected = createHmac('sha256', Buffer.from(candidate, 'utf8')).update(body).digest('hex');
    ok = constantTimeEqual(expected, received) || ok;
  }
  return ok;
}

/** Options of {@link verifyStandardWebhook}. */
export interface StandardWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way. Defaults to 300 seconds. */
  toleranceSeconds?: number;
  /** The current time: a `Date`, or milliseconds since the epoch. Defaults to `Date.now()`. */
  now?: Date | number;
}

/** What a verified Standard Webhooks request carries besides its body. */
export interface StandardWebhookResult {
  /** `webhook-id`: Herald's event id, the same on every retry of a delivery. */
  webhookId: string;
  /** `webhook-timestamp`, in seconds. */
  timestampSeconds: number;
}

/**
 * Checks the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
 *
 * The signature is `v1,` + base64(HMAC-SHA256(key = secret's UTF-8 bytes,
 * message = `${id}.${timestamp}.${body}`)). `webhook-signature` may list several space-separated
 * entries (Herald sends two while a rotated-out secret is in its grace period): the request is
 * accepted when any `v1,` entry verifies with any given secret. Entries of other versions are
 * ignored.
 *
 * A secret written as `whsec_<base64>` (the Standard Webhooks convention) is used as written:
 * Herald keys the HMAC with the secret's UTF-8 bytes.
 *
 * @throws {@link WebhookVerificationError} with reason `no-secret`, `missing-headers`,
 * `repeated-header`, `malformed-header`, `stale-timestamp` or `bad-signature`
 */
export function verifyStandardWebhook(
  rawBody: Buffer | string,
  headers: HeadersLike,
  secret: SecretOrSecrets,
  options: StandardWebhookOptions = {},
): StandardWebhookResult {
  const secrets = secretList(secret);
  if (secrets.length === 0) throw new WebhookVerificationError('no-secret', 'no webhook secret is configured');
  const id = singleValue(readHeader(headers, 'webhook-id'));
  const timestamp = singleValue(readHeader(headers, 'webhook-timestamp'));
  const signature = singleValue(readHeader(headers, 'webhook-signature'));
  if (id.repeated || timestamp.repeated || signature.repeated) {
    throw new WebhookVerificationError('repeated-header', 'a webhook-* header is repeated');
  }
  if (!id.value || !timestamp.value || !signature.value) {
    throw new WebhookVerificationError('missing-headers', 'webhook-id, webhook-timestamp and webhook-signature are required');
  }
  if (!/^\d{1,15}$/.test(timestamp.value.trim())) {
    throw new WebhookVerificationError('malformed-header', 'webhook-timestamp is not a whole number of seconds');
  }
  const timestampSeconds = Number(timestamp.value.trim());
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const nowMs = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  if (Math.abs(nowMs / 1000 - timestampSeconds) > toleranceSeconds) {
    throw new WebhookVerificationError('stale-timestamp', `webhook-timestamp is more than ${toleranceSeconds} s from now`);
  }
  const entries = signature.value
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => entry.slice(3));
  if (entries.length === 0) throw new WebhookVerificationError('malformed-header', 'webhook-signature has no v1 entry');

  const body = toBuffer(rawBody);
  let ok = false;
  for (const candidate of secrets) {
    const expected = createHmac('sha256', Buffer.from(candidate, 'utf8'))
      .update(`${id.value}.${timestamp.value.trim()}.`, 'utf8')
      .update(body)
      .digest('base64');
    for (const entry of entries) ok = constantTimeEqual(expected, entry) || ok;
  }
  if (!ok) throw new WebhookVerificationError('bad-signature', 'no webhook-signature entry matches');
  return { webhookId: id.value, timestampSeconds };
}
