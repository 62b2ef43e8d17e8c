import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONSOLE_CONTENT_SECURITY_POLICY } from '../../src/api/web-console.js';
import { startTestHerald, TEST_ADMIN_TOKEN } from '../support/herald.js';
import type { TestHerald } from '../support/herald.js';

/** The console lives beside the API without changing how /api answers. */

const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
let herald: TestHerald;

before(async () => {
  herald = await startTestHerald();
});
after(() => herald?.stop({ removeData: true }));

test('/ serves the console page (or, unbuilt, how to build it) under the console policy', async () => {
  const response = await fetch(`${herald.url}/`, { headers: HTML });
  if (response.status === 503) {
    assert.match(await response.text(), /npm run build:web/);
    return;
  }
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(response.headers.get('content-security-policy'), CONSOLE_CONTENT_SECURITY_POLICY);
  assert.match(await response.text(), /<div id="root">/);
});

test('unknown /api routes still answer JSON 401 without a token and 404 with one, whatever the browser accepts', async () => {
  const anonymous = await fetch(`${herald.url}/api/no-such-route`, { headers: HTML });
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error, 'unauthorized');
  const signed = await fetch(`${herald.url}/api/no-such-route`, { headers: { ...HTML, authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  assert.equal(signed.status, 404);
  assert.equal((await signed.json()).error, 'not_found');
  assert.equal(signed.headers.get('cache-control'), 'no-store');
});

test('GET /api/me tells the console what the token may reach', async () => {
  assert.deepEqual((await herald.get('/api/me')).body, { role: 'admin', tenantId: null, projectId: null, tokenId: 'tok_environment' });
  const created = await herald.post('/api/tokens', { role: 'project', tenantId: 'acme', projectId: 'shop' });
  const answer = await fetch(`${herald.url}/api/me`, { headers: { authorization: `Bearer ${created.body.token}` } });
  assert.deepEqual(await answer.json(), { role: 'project', tenantId: 'acme', projectId: 'shop', tokenId: created.body.id });
  assert.equal((await fetch(`${herald.url}/api/me`)).status, 401);
});
