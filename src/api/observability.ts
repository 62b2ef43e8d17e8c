import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError } from '../core/errors.js';
import type { TokenAuthority } from './auth.js';
import type { ApiContext } from './context.js';
import type { HeraldMetrics } from './metrics.js';

/** A store that has not answered by then counts as not ready. */
const READINESS_TIMEOUT_MS = 2_000;

const NOT_READY_REASONS = {
  timeout: 'the store did not answer in time',
  failed: 'the store did not answer',
} as const;

/**
 * Probes for orchestrators and scrapers, outside /api:
 * - `/healthz`: the process is up (liveness); no token.
 * - `/readyz`: the store answers a trivial query (readiness); no token. The API only starts
 *   once the store is open and migrated, so an answer also means the migrations are done.
 * - `/metrics`: Prometheus text format; an admin token unless HERALD_METRICS_PUBLIC=1.
 */
export const observabilityRoutes =
  (context: ApiContext, tokens: TokenAuthority, metrics: HeraldMetrics): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          summary: 'Liveness: the process is up',
          security: [],
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          summary: 'Readiness: the store answers',
          security: [],
          response: {
            200: Type.Object({ status: Type.Literal('ready') }),
            503: Type.Object({ status: Type.Literal('not-ready'), reason: Type.String() }),
          },
        },
      },
      async (request, reply) => {
        const reason = await storeProblem(context);
        if (reason === null) return reply.code(200).send({ status: 'ready' as const });
        request.log.warn({ reason }, 'not ready');
        return reply.code(503).header('cache-control', 'no-store').send({ status: 'not-ready' as const, reason });
      },
    );

    app.get(
      '/metrics',
      {
        schema: {
          summary: 'Prometheus metrics (text exposition format)',
          description: 'Needs an admin token unless HERALD_METRICS_PUBLIC=1.',
          ...(context.config.metricsPublic ? { security: [] } : {}),
          response: {
            200: {
              description: 'Prometheus text format 0.0.4',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
      async (request, reply) => {
        if (!context.config.metricsPublic) {
          const principal = await tokens.authenticate(request);
          if (principal.role !== 'admin') throw new HeraldError('forbidden', 'only an admin token may read the metrics');
        }
        const now = context.clock();
        const text = await metrics.render(await context.store.queueStats(now), now);
        return reply.type(metrics.contentType).header('cache-control', 'no-store').send(text);
      },
    );
  };

/** Null when the store answered; else why not, without the error's details (this route has
 * no token, and a driver's message may name hosts or users). */
async function storeProblem(context: ApiContext): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), READINESS_TIMEOUT_MS);
  });
  try {
    const answer = await Promise.race([context.store.ping().then(() => 'ok' as const), timeout]);
    return answer === 'ok' ? null : NOT_READY_REASONS.timeout;
  } catch (error) {
    context.logger.warn({ err: error }, 'readiness check: the store failed');
    return NOT_READY_REASONS.failed;
  } finally {
    clearTimeout(timer);
  }
}
