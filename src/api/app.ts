import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { HeraldError } from '../core/errors.js';
import { TokenAuthority } from './auth.js';
import type { ApiContext } from './context.js';
import { answerNoRoute, installErrorHandling } from './error-handler.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { eventTypeRoutes } from './routes/event-types.js';
import { eventRoutes } from './routes/events.js';
import { webhookRoutes } from './routes/webhooks.js';

/** Largest request body outside the publish route. */
const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export function buildApi(context: ApiContext, tokens: TokenAuthority): FastifyInstance {
  const app = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    // One log line per request would dominate the log at delivery volumes; failures are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
    // The router refuses an over-long path parameter or a badly encoded path before any route
    // or error handler runs; without this the answer would be Fastify's own body, not Herald's.
    frameworkErrors: (_error, _request, reply) =>
      (reply as FastifyReply)
        .code(400)
        .send(new HeraldError('validation_failed', 'the URL path is too long or badly encoded').toBody()),
    ajv: {
      // Wrong types are errors, not something to guess at; unknown fields are errors, not
      // something to drop silently.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app);
  // Every body Herald accepts is JSON; Fastify's built-in text/plain parser would let a plain
  // text body through to the schemas, where it fails as a confusing type error instead of a 415.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('principal', null as never);

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        request.principal = await tokens.authenticate(request);
      });
      await api.register(webhookRoutes(context));
      await api.register(deliveryRoutes(context));
      await api.register(eventTypeRoutes(context));
      await api.register(eventRoutes(context));
      // Inside the authenticated scope: without a token, which /api routes exist stays unknown.
      api.setNotFoundHandler(answerNoRoute);
    },
    { prefix: '/api' },
  );
  return app;
}
