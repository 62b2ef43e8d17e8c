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
    parseJson(request, text, done);
  });
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
