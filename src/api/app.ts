import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { HeraldError } from '../core/errors.js';
import { assertRouteAccess } from './access-guard.js';
import { TokenAuthority } from './auth.js';
import { tokenRoutes } from './routes/tokens.js';
import { clientErrorAnswerer } from './client-errors.js';
import type { ApiContext } from './context.js';
import { installCors } from './cors.js';
import { assertNoNul, installJsonBodyParser } from './json-body.js';
import { installRateLimit } from './rate-limit.js';
import { baseSecurityHeaders, installSecurityHeaders } from './security-headers.js';
import { answerNoRoute, installErrorHandling } from './error-handler.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { operationRoutes } from './routes/operations.js';
import { eventTypeRoutes } from './routes/event-types.js';
import { eventRoutes } from './routes/events.js';
import { meRoutes } from './routes/me.js';
import { webhookRoutes } from './routes/webhooks.js';
import { consolePageFallback, DEFAULT_CONSOLE_DIR, webConsole } from './web-console.js';
import { HeraldMetrics } from './metrics.js';
import { observabilityRoutes } from './observability.js';
import { openApiRoutes, registerOpenApi } from './openapi.js';

/** Largest request body outside the publish route. */
const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export interface ApiOptions {
  /** The folder the web console was built into; the default is web/dist of this checkout. */
  consoleDir?: string;
  /** The registry /metrics serves, shared with the dispatcher; a fresh one when left out. */
  metrics?: HeraldMetrics;
  /** Only /healthz, /readyz and /metrics: what a worker process (no API) answers. */
  probesOnly?: boolean;
}

export function buildApi(context: ApiContext, tokens: TokenAuthority, options: ApiOptions = {}): FastifyInstance {
  const { config } = context;
  const consoleOptions = { distDir: options.consoleDir ?? DEFAULT_CONSOLE_DIR };
  // Answers written outside the hook chain (router and HTTP parser errors) add these themselves.
  const securityHeaders = { ...baseSecurityHeaders({ hsts: config.hsts }), 'cache-control': 'no-store' };
  const app = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    // One log line per request would dominate the log at delivery volumes; failures are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
    // Node answers a request head past this size itself, through clientErrorHandler, with a 431.
    http: { maxHeaderSize: config.maxHeaderBytes },
    clientErrorHandler: clientErrorAnswerer(securityHeaders),
    // The router refuses an over-long path parameter or a badly encoded path before any route
    // or error handler runs; without this the answer would be Fastify's own body, not Herald's.
    frameworkErrors: (_error, _request, reply) =>
      (reply as FastifyReply)
        .code(400)
        .headers(securityHeaders)
        .send(new HeraldError('validation_failed', 'the URL path is too long or badly encoded').toBody()),
    ajv: {
      // Wrong types are errors, not something to guess at; unknown fields are errors, not
      // something to drop silently.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Outside /api, a browser asking for a page that is not a route gets the console.
  installErrorHandling(app, consolePageFallback(consoleOptions));
  // Root-level hooks, so they cover /api, /healthz and every 404 alike.
  installSecurityHeaders(app, { hsts: config.hsts });
  installCors(app, config.corsOrigins);
  // Every body Herald accepts is JSON; Fastify's built-in text/plain parser would let a plain
  // text body through to the schemas, where it fails as a confusing type error instead of a 415.
  app.removeContentTypeParser('text/plain');
  // Strict UTF-8 and a nesting limit in front of Fastify's JSON parser (see json-body.ts).
  installJsonBodyParser(app);
  app.decorateRequest('principal', null as never);

  // First, so the OpenAPI document sees every route declared after it.
  registerOpenApi(app);
  app.register(observabilityRoutes(context, tokens, options.metrics ?? new HeraldMetrics()));
  if (options.probesOnly) return app;
  app.register(openApiRoutes());
  app.register(webConsole(consoleOptions));

  app.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        request.principal = await tokens.authenticate(request);
        assertRouteAccess(request);
        // Only an escape puts a NUL in a URL; it is refused as in a body (see json-body.ts).
        if (request.url.includes('%00')) assertNoNul(request.params, request.query);
      });
      // After authentication: it counts per token, and requests without one never reach it.
      installRateLimit(api, { perMinute: config.rateLimitPerMinute, clock: context.clock });
      await api.register(webhookRoutes(context));
      await api.register(deliveryRoutes(context));
      await api.register(operationRoutes(context));
      await api.register(eventTypeRoutes(context));
      await api.register(eventRoutes(context));
      await api.register(tokenRoutes(context, tokens));
      await api.register(meRoutes());
      // Inside the authenticated scope: without a token, which /api routes exist stays unknown.
      api.setNotFoundHandler(answerNoRoute);
    },
    { prefix: '/api' },
  );
  return app;
}
