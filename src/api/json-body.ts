import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../core/errors.js';

/**
 * Deepest nesting of arrays and objects a JSON body may have. Real payloads and event schemas
 * stay far below it; far deeper ones overflow the stack of the recursive steps a body goes
 * through (JSON.stringify of the event envelope, schema compilation), which would be a 500.
 */
export const MAX_JSON_DEPTH = 128;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Fastify's JSON parser, with two checks in front: the bytes must be UTF-8 (Fastify would
 * silently turn bad bytes into U+FFFD and store a different value than was sent), and the
 * nesting must stay within MAX_JSON_DEPTH. Prototype poisoning is still refused as before.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new HeraldError('invalid_json', 'The request body is not valid UTF-8'), undefined);
      return;
    }
    if (exceedsDepth(text, MAX_JSON_DEPTH)) {
      done(new HeraldError('validation_failed', `The request body is nested more than ${MAX_JSON_DEPTH} levels deep`), undefined);
      return;
    }
    parseJson(request, text, (error: Error | null, value?: unknown) => {
      // The escape is the only way a NUL reaches a JSON string: raw control characters are refused.
      const field = error === null && text.includes('\\u0000') ? nulField(value, '') : null;
      if (field !== null) done(new HeraldError('validation_failed', NUL_MESSAGE(field), field || undefined), undefined);
      else done(error, value);
    });
  });
}

/** Refuses path parameters and query values holding a NUL character, naming the first. */
export function assertNoNul(...parts: unknown[]): void {
  for (const part of parts) {
    const field = nulField(part, '');
    if (field !== null) throw new HeraldError('validation_failed', NUL_MESSAGE(field), field || undefined);
  }
}

const NUL_MESSAGE = (field: string) =>
  `${field || 'the request body'} holds a NUL character (\\u0000), which Herald does not store`;

/**
 * The dotted path of the first string or key holding a NUL character, '' for the body itself;
 * null when none does. Refused everywhere alike: PostgreSQL's text cannot hold one, and a
 * value SQLite kept would not move to PostgreSQL.
 */
function nulField(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) return itemPath;
    const found = nulField(item, itemPath);
    if (found !== null) return found;
  }
  return null;
}

/** Whether brackets outside strings nest deeper than `max`; a linear scan, no recursion. */
function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      if (++depth > max) return true;
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
  return false;
}
