import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { DEFAULT_CONTENT_SECURITY_POLICY, installSecurityHeaders } from '../../src/api/security-headers.js';

test('a route may set its own Content-Security-Policy; the other headers stay', async () => {
  const app = Fastify();
  installSecurityHeaders(app, { hsts: true });
  const consolePolicy = "default-src 'self'; frame-ancestors 'none'";
  app.get('/console', { config: { contentSecurityPolicy: consolePolicy } }, async (_request, reply) =>
    reply.type('text/html').send('<!doctype html><title>console</title>'),
  );
  app.get('/api/thing', async () => ({ ok: true }));
  try {
    const page = await app.inject({ method: 'GET', url: '/console' });
    assert.equal(page.headers['content-security-policy'], consolePolicy);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(page.headers['cache-control'], undefined);

    const api = await app.inject({ method: 'GET', url: '/api/thing?x=1' });
    assert.equal(api.headers['content-security-policy'], DEFAULT_CONTENT_SECURITY_POLICY);
    assert.equal(api.headers['cache-control'], 'no-store');
  } finally {
    await app.close();
  }
});
