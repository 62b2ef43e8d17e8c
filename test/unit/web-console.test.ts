import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandling } from '../../src/api/error-handler.js';
import { installSecurityHeaders } from '../../src/api/security-headers.js';
import { CONSOLE_CONTENT_SECURITY_POLICY, consolePageFallback, webConsole } from '../../src/api/web-console.js';
import { makeTempDir, removeDir } from '../support/tmp.js';

const PAGE = '<!doctype html><title>Herald</title><script type="module" src="/assets/app-1a2b3c.js"></script>';
const SCRIPT = 'console.log("console");';
const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

/** The console's serving as buildApi wires it, on a folder this test controls. */
async function consoleApp(distDir: string): Promise<FastifyInstance> {
  const app = Fastify();
  installErrorHandling(app, consolePageFallback({ distDir }));
  installSecurityHeaders(app, { hsts: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(webConsole({ distDir }));
  return app;
}

describe('the web console, built', () => {
  let dir: string;
  let app: FastifyInstance;

  before(async () => {
    dir = makeTempDir('herald-console-');
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), PAGE);
    writeFileSync(path.join(dir, 'assets', 'app-1a2b3c.js'), SCRIPT);
    writeFileSync(path.join(dir, 'secret.txt'), 'outside the assets folder');
    app = await consoleApp(dir);
  });
  after(async () => {
    await app.close();
    removeDir(dir);
  });

  test('the page is served at / and at every client route, with the console policy, never cached stale', async () => {
    for (const url of ['/', '/sign-in', '/webhooks/wh_123', '/sign-in?next=%2F']) {
      const page = await app.inject({ method: 'GET', url });
      assert.equal(page.statusCode, 200, url);
      assert.equal(page.body, PAGE, url);
      assert.match(String(page.headers['content-type']), /^text\/html/, url);
      assert.equal(page.headers['content-security-policy'], CONSOLE_CONTENT_SECURITY_POLICY, url);
      assert.equal(page.headers['cache-control'], 'no-cache', url);
      assert.equal(page.headers['x-frame-options'], 'DENY', url);
    }
  });

  test('the policy lets the page load only its own scripts and call only its own origin', () => {
    const directives = Object.fromEntries(
      CONSOLE_CONTENT_SECURITY_POLICY.split(';').map((part) => {
        const [name, ...values] = part.trim().split(/\s+/);
        return [name, values.join(' ')];
      }),
    );
    assert.equal(directives['default-src'], "'none'");
    assert.equal(directives['script-src'], "'self'");
    assert.equal(directives['style-src'], "'self' 'unsafe-inline'");
    assert.equal(directives['connect-src'], "'self'");
    assert.equal(directives['frame-ancestors'], "'none'");
  });

  test('a browser navigating to an unknown page gets the console; other requests get the JSON 404', async () => {
    const page = await app.inject({ method: 'GET', url: '/settings/unknown', headers: HTML });
    assert.equal(page.statusCode, 200);
    assert.equal(page.body, PAGE);
    assert.equal(page.headers['content-security-policy'], CONSOLE_CONTENT_SECURITY_POLICY);

    for (const [method, url, headers] of [
      ['GET', '/settings/unknown', {}],
      ['GET', '/api/no-such-route', HTML],
      ['POST', '/settings/unknown', HTML],
      ['GET', '/assets/missing-0000.js', HTML],
    ] as const) {
      const answer = await app.inject({ method, url, headers });
      assert.equal(answer.statusCode, 404, `${method} ${url}`);
      assert.equal(answer.json().error, 'not_found', `${method} ${url}`);
    }
  });

  test('hashed assets are served with their type and cached for a year', async () => {
    const script = await app.inject({ method: 'GET', url: '/assets/app-1a2b3c.js' });
    assert.equal(script.statusCode, 200);
    assert.equal(script.body, SCRIPT);
    assert.match(String(script.headers['content-type']), /^(application|text)\/javascript/);
    assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(script.headers['x-content-type-options'], 'nosniff');
  });

  test('nothing outside the assets folder is reachable through it', async () => {
    for (const url of ['/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/..%2fsecret.txt', '/assets/%2e%2e%2findex.html']) {
      const answer = await app.inject({ method: 'GET', url });
      assert.notEqual(answer.body, 'outside the assets folder', url);
      assert.ok(answer.statusCode >= 400 || answer.body === PAGE, `${url}: ${answer.statusCode}`);
    }
  });
});

describe('the web console, not built', () => {
  test('/ explains how to build it; the rest of Herald works', async () => {
    const dir = makeTempDir('herald-console-missing-');
    const app = await consoleApp(path.join(dir, 'dist'));
    try {
      const page = await app.inject({ method: 'GET', url: '/' });
      assert.equal(page.statusCode, 503);
      assert.match(String(page.headers['content-type']), /^text\/plain/);
      assert.match(page.body, /npm run build:web/);
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await app.close();
      removeDir(dir);
    }
  });
});
