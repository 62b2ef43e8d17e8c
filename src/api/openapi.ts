import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { API_DOCS_SCRIPT, API_DOCS_STYLE, apiDocsPage } from './api-docs-page.js';

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Routes outside /api that belong in the document; the console's pages and files do not. */
const DOCUMENTED_OUTSIDE_API = new Set(['/healthz', '/readyz', '/metrics']);

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The reference page runs its one inline script and style (by hash) and fetches only the
 * document from this origin. */
export const API_DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(API_DOCS_SCRIPT)}`,
  `style-src ${sha256(API_DOCS_STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Collects the routes' schemas into an OpenAPI 3 document. Registered before any route, so its
 * onRoute hook sees them all.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Herald',
        version: PACKAGE_VERSION,
        description:
          'Self-hosted webhook service: signed, retried, recorded delivery of platform events. ' +
          'Every /api route takes `Authorization: Bearer <token>`.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'A Herald token (hrld_...)' } },
      },
      security: [{ bearerAuth: [] }],
    },
    transform: ({ schema, url }) => {
      const documented = url === '/api' || url.startsWith('/api/') || DOCUMENTED_OUTSIDE_API.has(url);
      return { schema: documented ? schema : { ...(schema ?? {}), hide: true }, url };
    },
  });
}

/** `/openapi.json` and the reference page at `/docs`; neither needs a token (the document
 * describes routes, never data). */
export function openApiRoutes() {
  return async (app: FastifyInstance): Promise<void> => {
    let document: string | null = null;
    app.get('/openapi.json', async (_request, reply) => {
      // The routes are fixed once Herald listens, so the document is built once.
      document ??= JSON.stringify(app.swagger());
      return reply.type('application/json; charset=utf-8').send(document);
    });
    app.get('/docs', { config: { contentSecurityPolicy: API_DOCS_CONTENT_SECURITY_POLICY } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(apiDocsPage()),
    );
  };
}
