import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Everything Herald serves today is JSON: it loads nothing and is never framed. */
export const DEFAULT_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";
/** One year. No includeSubDomains: the hosts under Herald's name are not Herald's to decide for. */
const HSTS_VALUE = 'max-age=31536000';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route that serves something other than JSON (a web console page) sets its own policy. */
    contentSecurityPolicy?: string;
  }
}

export interface SecurityHeaderOptions {
  /** Only when clients reach Herald over HTTPS; over plain HTTP browsers ignore it anyway, and
   * behind a TLS-terminating proxy only the operator knows it is there. */
  hsts: boolean;
}

/** The headers every response carries, whatever produced it. */
export function baseSecurityHeaders(options: SecurityHeaderOptions): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
    'content-security-policy': DEFAULT_CONTENT_SECURITY_POLICY,
    ...(options.hsts ? { 'strict-transport-security': HSTS_VALUE } : {}),
  };
}

/**
 * Adds the headers in onSend, which runs for every answer: route results, thrown errors, 404s
 * and the 401 of the authentication hook. A header the route set itself is left alone.
 */
export function installSecurityHeaders(app: FastifyInstance, options: SecurityHeaderOptions): void {
  const base = baseSecurityHeaders(options);
  app.addHook('onSend', async (request, reply, payload) => {
    const headers: Record<string, string> = {
      ...base,
      'content-security-policy': request.routeOptions.config?.contentSecurityPolicy ?? base['content-security-policy'],
      // API answers are per token and often carry secrets shown once: no cache may keep them.
      ...(isApiPath(request) ? { 'cache-control': 'no-store' } : {}),
    };
    for (const [name, value] of Object.entries(headers)) {
      if (!reply.hasHeader(name)) reply.header(name, value);
    }
    return payload;
  });
}

function isApiPath(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0];
  return path === '/api' || path.startsWith('/api/');
}
