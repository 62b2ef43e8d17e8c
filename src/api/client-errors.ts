import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { HeraldError } from '../core/errors.js';

/**
 * Answers requests Node's HTTP parser gives up on (headers past the size limit, a head that
 * never completes, malformed framing) before Fastify sees them. Fastify's default writes its
 * own body without Herald's headers; this writes Herald's error body with the security headers,
 * then closes the connection, as the stream cannot be trusted after a parse failure.
 */
export function clientErrorAnswerer(securityHeaders: Record<string, string>) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    // A reset connection has nobody left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.write(rawResponse(toHeraldError(error), securityHeaders));
    socket.destroy();
  };
}

function toHeraldError(error: Error & { code?: string }): HeraldError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HeraldError('headers_too_large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HeraldError('request_timeout');
    default:
      return new HeraldError('validation_failed', 'The request could not be parsed as HTTP');
  }
}

function rawResponse(error: HeraldError, securityHeaders: Record<string, string>): string {
  const body = JSON.stringify(error.toBody());
  const headers: Record<string, string> = {
    ...securityHeaders,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}
