import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Every scheme signs the exact bytes that go on the wire, so the body is serialised once and
 * both the signatures and the request use that one buffer.
 */

/** The console scheme: hex(sha256(body bytes followed by the secret's UTF-8 bytes)). */
export function miaSignature(body: Buffer, secret: string): string {
  return createHash('sha256').update(body).update(secret, 'utf8').digest('hex');
}

/** The workspace scheme: hex(HMAC-SHA256(key = secret, message = body)). */
export function hmacSignature(body: Buffer, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Standard Webhooks: `v1,` + base64(HMAC-SHA256(key = secret's UTF-8 bytes,
 * message = `${id}.${timestamp}.${body}`)). Unlike the console scheme it binds the id and the
 * time, so receivers can refuse replays.
 */
export function standardWebhookSignature(
  messageId: string,
  timestampSeconds: number,
  body: Buffer,
  secret: string,
): string {
  const mac = createHmac('sha256', secret)
    .update(`${messageId}.${timestampSeconds}.`, 'utf8')
    .update(body)
    .digest('base64');
  return `v1,${mac}`;
}

export interface SignatureInput {
  body: Buffer;
  secret: string;
  /** A rotated-out secret still in its grace period: it signs beside the new one. */
  previousSecret?: string | null;
  messageId: string;
  timestampSeconds: number;
}

/**
 * All signature headers Herald sends with one request. During a rotation's grace period
 * `webhook-signature` lists a signature per secret, the new one first (Standard Webhooks
 * receivers accept a request when any listed signature verifies); the console schemes have room
 * for one value only, so they use the new secret.
 */
export function signatureHeaders(input: SignatureInput): Record<string, string> {
  const mia = miaSignature(input.body, input.secret);
  return {
    'x-mia-signature': mia,
    // Same value under the header name of the older console documentation.
    'x-mia-token': mia,
    'x-signature': hmacSignature(input.body, input.secret),
    'webhook-id': input.messageId,
    'webhook-timestamp': String(input.timestampSeconds),
    'webhook-signature': [input.secret, input.previousSecret]
      .filter((secret): secret is string => typeof secret === 'string')
      .map((secret) => standardWebhookSignature(input.messageId, input.timestampSeconds, input.body, secret))
      .join(' '),
  };
}

/** Constant-time comparison of two strings of hex or base64 text. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
