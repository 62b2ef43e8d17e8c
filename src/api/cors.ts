import type { FastifyInstance } from 'fastify';

const ALLOWED_METHODS = 'GET, POST, PATCH, DELETE';
const ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key';
/** Response headers a browser script may read besides the CORS-safelisted ones. */
const EXPOSED_HEADERS = 'Retry-After, Idempotent-Replayed';
/** How long a browser may reuse a preflight answer. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * CORS, closed unless origins are listed: with no list nothing here runs and no response carries
 * an Access-Control-* header, so browsers keep other sites' scripts away from the API.
 *
 * Registered on the root before the /api scope, so a preflight from a listed origin (which
 * carries no token) is answered before authentication would refuse it.
 */
export function installCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.addHook('onRequest', async (request, reply) => {
    // The answer depends on the Origin header, so shared caches must key on it.
    reply.header('vary', 'Origin');
    const origin = request.headers.origin;
    if (origin === undefined || !allowed.has(origin)) return;
    reply.header('access-control-allow-origin', origin);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      return reply
        .code(204)
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', String(PREFLIGHT_MAX_AGE_SECONDS))
        .send();
    }
    reply.header('access-control-expose-headers', EXPOSED_HEADERS);
  });
}
