import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answerNoRoute } from './error-handler.js';

/**
 * The web console: a single-page app built by Vite into web/dist (`npm run build:web`).
 * Herald serves its page at `/` and at every client-side route, and its hashed files under
 * `/assets/`. The folder is read on each request rather than at start-up, so a console built
 * while Herald runs is served without a restart.
 */

/** Where `npm run build:web` puts the console, relative to this file (src/api/). */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

/**
 * The console loads only its own scripts, styles and fonts and talks only to this origin.
 * Ant Design writes its styles into <style> elements at run time, so styles (and only styles)
 * also allow inline content.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The page's routes in the console's own router (web/src/router.tsx). */
const CLIENT_ROUTES = ['/', '/sign-in', '/webhooks/:id'];

/** File names under /assets/ carry a hash of their content, so they never change. */
const ASSET_MAX_AGE_MS = 365 * 24 * 60 * 60 * 1000;

const NOT_BUILT_TEXT = [
  'The Herald web console has not been built yet.',
  '',
  'Run `npm run build:web` in the Herald folder (or start Herald with `npm start`, which builds it',
  'when needed), then reload this page. The API under /api works without it.',
  '',
].join('\n');

export interface WebConsoleOptions {
  /** The folder Vite built the console into. */
  distDir: string;
}

export function webConsole(options: WebConsoleOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    // Only for reply.sendFile (ranges, ETags, traversal checks); the routes are Herald's own,
    // so nothing is served from a folder that does not exist yet and no wildcard route shadows
    // the JSON 404s of /api.
    await app.register(fastifyStatic, { serve: false });

    for (const url of CLIENT_ROUTES) {
      app.get(url, { config: { contentSecurityPolicy: CONSOLE_CONTENT_SECURITY_POLICY } }, (_request, reply) =>
        sendConsolePage(reply, options.distDir),
      );
    }

    app.get<{ Params: { '*': string } }>('/assets/*', (request, reply) =>
      reply.sendFile(request.params['*'], path.join(options.distDir, 'assets'), {
        immutable: true,
        maxAge: ASSET_MAX_AGE_MS,
        dotfiles: 'deny',
      }),
    );
  };
}

/**
 * Not-found handler outside /api: a browser navigating to a page of the console (a deep link,
 * a reload on a client route) gets the console, which shows its own "not found"; any other
 * request gets Herald's JSON 404.
 */
export function consolePageFallback(options: WebConsoleOptions) {
  return (request: FastifyRequest, reply: FastifyReply) =>
    isPageNavigation(request) ? sendConsolePage(reply, options.distDir) : answerNoRoute(request, reply);
}

function isPageNavigation(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const pathname = request.url.split('?')[0];
  if (pathname === '/api' || pathname.startsWith('/api/') || pathname.startsWith('/assets/')) return false;
  return (request.headers.accept ?? '').includes('text/html');
}

async function sendConsolePage(reply: FastifyReply, distDir: string): Promise<FastifyReply> {
  let page: Buffer;
  try {
    page = await readFile(path.join(distDir, 'index.html'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return reply.code(503).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT_TEXT);
  }
  return (
    reply
      // Set here as well as in the route options: the fallback answers outside any route.
      .header('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY)
      // Always revalidated, so a new build's asset names are picked up at once.
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(page)
  );
}
