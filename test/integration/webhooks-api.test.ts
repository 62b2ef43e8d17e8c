import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createTestPki, createUnrelatedCaPem, removeDir, startReceiver, waitUntil } from '../support/index.js';
import type { ReceivedRequest, Receiver, TestPki } from '../support/index.js';
import { apiClient, startTestHerald } from '../support/herald.js';
import type { ApiResponse, TestHerald } from '../support/herald.js';

/**
 * The webhook and event-type resources through the API: what is stored is what is read back,
 * in both the current shape and the older CMS one, and secrets only ever travel inwards.
 */

let receiver: Receiver;
let pki: TestPki;

before(async () => {
  receiver = await startReceiver();
  pki = createTestPki();
});

after(async () => {
  await receiver?.close();
  if (pki) removeDir(pki.dir);
});

/** A Herald of its own for one suite, so lists and deliveries are not shared between suites. */
function heraldForSuite(): () => TestHerald {
  let herald: TestHerald | undefined;
  before(async () => {
    herald = await startTestHerald();
  });
  after(async () => {
    await herald?.stop({ removeData: true });
  });
  return () => herald!;
}

/** A target URL on the shared receiver; the path tells the tests' requests apart. */
const target = (path: string) => `${receiver.url}/${path}`;

async function created(herald: TestHerald, body: Record<string, unknown>): Promise<Record<string, any>> {
  const response = await herald.post('/api/webhooks', body);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

async function patched(herald: TestHerald, id: string, body: Record<string, unknown>): Promise<Record<string, any>> {
  const response = await herald.patch(`/api/webhooks/${id}`, body);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

async function listIds(herald: TestHerald, query = ''): Promise<string[]> {
  const response = await herald.get(`/api/webhooks${query ? `?${query}` : ''}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.data.map((webhook: { id: string }) => webhook.id);
}

/** No `secret` key anywhere in the reply and none of the given values anywhere in its text. */
function assertSecretsAbsent(response: ApiResponse, secrets: string[]) {
  const text = JSON.stringify(response.body);
  assert.ok(!/"secret"\s*:/.test(text), `a secret field is in the reply: ${text}`);
  for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret value is in the reply');
}

async function requestsTo(path: string, count: number): Promise<ReceivedRequest[]> {
  return waitUntil(
    () => {
      const matching = receiver.requests.filter((request) => request.url === `/${path}`);
      return matching.length >= count ? matching : null;
    },
    { message: `expected ${count} request(s) on /${path}` },
  );
}

const consoleSignature = (body: Buffer, secret: string) =>
  createHash('sha256').update(Buffer.concat([body, Buffer.from(secret, 'utf8')])).digest('hex');
const hmacSignature = (body: Buffer, secret: string) => createHmac('sha256', secret).update(body).digest('hex');

function assertSignedWith(request: ReceivedRequest, secret: string) {
  assert.equal(request.headers['x-mia-signature'], consoleSignature(request.body, secret));
  assert.equal(request.headers['x-signature'], hmacSignature(request.body, secret));
}

async function publish(herald: TestHerald, eventName: string, payload: Record<string, unknown>): Promise<number> {
  const response = await herald.post('/api/events', { eventName, payload });
  assert.equal(response.status, 202, JSON.stringify(response.body));
  return response.body.deliveries;
}

describe('webhook round trip', () => {
  const herald = heraldForSuite();

  test('create, get, list, patch and delete', async () => {
    const body = {
      name: 'Deploy notifier',
      url: target('round-trip'),
      events: ['service_created', 'project_created'],
      secret: 'round-trip-secret',
      tenantId: 't1',
      projectId: 'p1',
      method: 'PUT',
      contentType: 'application/cloudevents+json; charset=utf-8',
      maxAttempts: 3,
      active: false,
    };
    const response = await herald().post('/api/webhooks', body);
    assert.equal(response.status, 201, JSON.stringify(response.body));
    const webhook = response.body;
    assert.match(webhook.id, /^wh_[0-9a-z]+$/);
    const { id, createdAt, updatedAt, ...rest } = webhook;
    assert.deepEqual(rest, {
      name: 'Deploy notifier',
      url: body.url,
      events: ['project_created', 'service_created'],
      scope: 'project',
      tenantId: 't1',
      projectId: 'p1',
      method: 'PUT',
      contentType: 'application/cloudevents+json; charset=utf-8',
      maxAttempts: 3,
      active: false,
      base64CA: null,
      proxy: null,
      hasSecret: true,
      previousSecretExpiresAt: null,
      lastEvent: null,
      disabledReason: null,
      disabledAt: null,
    });
    assert.equal(createdAt, updatedAt);
    assert.ok(!Number.isNaN(Date.parse(createdAt)));

    const read = await herald().get(`/api/webhooks/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, webhook);
    const list = await herald().get('/api/webhooks');
    assert.deepEqual(
      list.body.data.find((entry: { id: string }) => entry.id === id),
      webhook,
    );

    const changed = await patched(herald(), id, {
      name: 'Renamed',
      events: ['tag_created'],
      method: 'PATCH',
      maxAttempts: 10,
      active: true,
    });
    assert.deepEqual(
      { ...changed, updatedAt: undefined },
      {
        ...webhook,
        name: 'Renamed',
        events: ['tag_created'],
        method: 'PATCH',
        maxAttempts: 10,
        active: true,
        updatedAt: undefined,
      },
    );
    assert.ok(Date.parse(changed.updatedAt) >= Date.parse(createdAt));
    assert.deepEqual((await herald().get(`/api/webhooks/${id}`)).body, changed);

    const unnamed = await patched(herald(), id, { name: null, contentType: 'application/json' });
    assert.equal(unnamed.name, null);
    assert.equal(unnamed.contentType, 'application/json');
    assert.equal(unnamed.url, body.url);

    const deleted = await herald().delete(`/api/webhooks/${id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, null);
    const gone = await herald().get(`/api/webhooks/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error, 'not_found');
    assert.ok(!(await listIds(herald())).includes(id));
    assert.equal((await herald().delete(`/api/webhooks/${id}`)).status, 404);
    assert.equal((await herald().patch(`/api/webhooks/${id}`, { active: true })).status, 404);
    assert.equal((await herald().get(`/api/webhooks/${id}/deliveries`)).status, 404);
  });

  test('the defaults of a minimal webhook', async () => {
    const webhook = await created(herald(), { url: target('minimal'), events: ['project_created'], secret: 'minimal-secret' });
    assert.equal(webhook.name, null);
    assert.equal(webhook.method, 'POST');
    assert.equal(webhook.contentType, 'application/json');
    assert.equal(webhook.maxAttempts, 6);
    assert.equal(webhook.active, true);
    assert.equal(webhook.scope, 'instance');
    assert.equal(webhook.tenantId, null);
    assert.equal(webhook.projectId, null);
    assert.equal(webhook.base64CA, null);
    assert.equal(webhook.proxy, null);
    assert.equal(webhook.lastEvent, null);
    assert.equal(webhook.hasSecret, true);
  });

  test('the scope follows the ids', async () => {
    const base = { url: target('scope'), events: ['project_created'], secret: 'scope-secret', active: false };
    assert.equal((await created(herald(), base)).scope, 'instance');
    assert.equal((await created(herald(), { ...base, tenantId: null, projectId: null })).scope, 'instance');
    assert.equal((await created(herald(), { ...base, tenantId: 't1' })).scope, 'company');
    assert.equal((await created(herald(), { ...base, tenantId: 't1', projectId: 'p1' })).scope, 'project');
  });

  test('the user_added alias is stored as company_user_added', async () => {
    const base = { url: target('alias'), secret: 'alias-secret', active: false };
    const aliased = await created(herald(), { ...base, events: ['user_added'] });
    assert.deepEqual(aliased.events, ['company_user_added']);
    const both = await created(herald(), { ...base, events: ['user_added', 'company_user_added', 'project_created'] });
    assert.deepEqual(both.events, ['company_user_added', 'project_created']);
    const changed = await patched(herald(), aliased.id, { events: ['tag_created', 'user_added'] });
    assert.deepEqual(changed.events, ['company_user_added', 'tag_created']);
    assert.ok((await listIds(herald(), 'event=user_added')).includes(aliased.id));
    assert.ok((await listIds(herald(), 'event=company_user_added')).includes(aliased.id));
  });

  test('a webhook subscribed through the alias hears events published under either name', async () => {
    const webhook = await created(herald(), {
      url: target('alias-delivery'),
      events: ['user_added'],
      secret: 'alias-delivery-secret',
      tenantId: 'alias-co',
    });
    const payload = { userId: 'u1', email: 'u1@example.com', roleId: 'developer', resource: { companyId: 'alias-co' } };
    assert.equal(await publish(herald(), 'user_added', payload), 1);
    assert.equal(await publish(herald(), 'company_user_added', payload), 1);
    const requests = await requestsTo('alias-delivery', 2);
    for (const request of requests) assert.equal(JSON.parse(request.body.toString()).eventName, 'company_user_added');
    await herald().delete(`/api/webhooks/${webhook.id}`);
  });
});

describe('secrets', () => {
  const herald = heraldForSuite();

  test('a generated secret is returned once, and is the one that signs', async () => {
    const response = await herald().post('/api/webhooks', {
      url: target('generated'),
      events: ['tag_deleted'],
      tenantId: 'secret-co',
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    const secret: string = response.body.secret;
    assert.equal(typeof secret, 'string');
    assert.ok(secret.length >= 32, 'a generated secret is long enough to be unguessable');
    assert.equal(response.body.hasSecret, true);
    const id = response.body.id;

    const other = await herald().post('/api/webhooks', { url: target('generated-2'), events: ['tag_deleted'], active: false });
    assert.notEqual(other.body.secret, secret, 'each webhook gets its own secret');

    assertSecretsAbsent(await herald().get(`/api/webhooks/${id}`), [secret]);
    assertSecretsAbsent(await herald().get('/api/webhooks'), [secret]);
    assertSecretsAbsent(await herald().get(`/api/webhooks?tenantId=secret-co`), [secret]);
    assertSecretsAbsent(await herald().patch(`/api/webhooks/${id}`, { name: 'still secret' }), [secret]);
    assertSecretsAbsent(await herald().patch(`/api/webhooks/${id}`, { maxAttempts: 2, active: true }), [secret]);

    const payload = { tenantId: 'secret-co', projectId: 'p1', tagName: 'v1.0.0' };
    assert.equal(await publish(herald(), 'tag_deleted', payload), 1);
    const [request] = await requestsTo('generated', 1);
    assertSignedWith(request, secret);
    assert.equal(JSON.parse(request.body.toString()).eventName, 'tag_deleted');

    const deliveries = await herald().get(`/api/webhooks/${id}/deliveries`);
    assertSecretsAbsent(deliveries, [secret]);
    const detail = await herald().get(`/api/webhooks/${id}/deliveries/${deliveries.body.data[0].id}`);
    assert.equal(detail.status, 200);
    assertSecretsAbsent(detail, [secret]);
  });

  test('a given secret is never echoed, kept unless replaced, and replaced when given', async () => {
    const original = 'caller-chosen-secret-1';
    const replacement = 'caller-chosen-secret-2';
    const response = await herald().post('/api/webhooks', {
      url: target('given'),
      events: ['tag_created'],
      secret: original,
      tenantId: 'given-co',
    });
    assert.equal(response.status, 201);
    assertSecretsAbsent(response, [original]);
    assert.equal(response.body.hasSecret, true);
    const id = response.body.id;
    assertSecretsAbsent(await herald().get(`/api/webhooks/${id}`), [original]);
    assertSecretsAbsent(await herald().get('/api/webhooks'), [original]);

    const payload = { tenantId: 'given-co', projectId: 'p1', tagName: 'v1' };
    assert.equal(await publish(herald(), 'tag_created', payload), 1);
    assertSignedWith((await requestsTo('given', 1))[0], original);

    // A PATCH without a secret keeps the old one.
    assertSecretsAbsent(await herald().patch(`/api/webhooks/${id}`, { name: 'renamed' }), [original]);
    assert.equal(await publish(herald(), 'tag_created', payload), 1);
    assertSignedWith((await requestsTo('given', 2))[1], original);

    // A PATCH with a secret replaces it, and does not echo it either.
    const rotated = await herald().patch(`/api/webhooks/${id}`, { secret: replacement });
    assert.equal(rotated.status, 200);
    assertSecretsAbsent(rotated, [original, replacement]);
    assert.equal(rotated.body.hasSecret, true);
    assertSecretsAbsent(await herald().get(`/api/webhooks/${id}`), [original, replacement]);
    assert.equal(await publish(herald(), 'tag_created', payload), 1);
    assertSignedWith((await requestsTo('given', 3))[2], replacement);
  });
});

describe('the older CMS shape', () => {
  const herald = heraldForSuite();
  const cms = (fields: Record<string, unknown>) => ({
    eventName: 'project_created',
    target: 'https://hooks.example.com/cms',
    secret: 'cms-shared-secret',
    active: false,
    ...fields,
  });

  test('maps target, eventName and proxy.url, with empty ids meaning instance-wide', async () => {
    const response = await herald().post(
      '/api/webhooks',
      cms({ tenantId: '', projectId: '', base64CA: '', 'proxy.url': 'http://proxy.example.com:3128' }),
    );
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assertSecretsAbsent(response, ['cms-shared-secret']);
    const webhook = response.body;
    assert.equal(webhook.url, 'https://hooks.example.com/cms');
    assert.deepEqual(webhook.events, ['project_created']);
    assert.deepEqual(webhook.proxy, { url: 'http://proxy.example.com:3128' });
    assert.equal(webhook.scope, 'instance');
    assert.equal(webhook.tenantId, null);
    assert.equal(webhook.projectId, null);
    assert.equal(webhook.base64CA, null);
    assert.equal(webhook.method, 'POST');
    assert.equal(webhook.contentType, 'application/json');
    assert.equal(webhook.hasSecret, true);
    assert.ok(!('target' in webhook) && !('eventName' in webhook) && !('proxy.url' in webhook));
    assert.deepEqual((await herald().get(`/api/webhooks/${webhook.id}`)).body, webhook);
  });

  test('a company document and a project document', async () => {
    const company = await created(herald(), cms({ tenantId: 'acme', projectId: '' }));
    assert.equal(company.scope, 'company');
    assert.equal(company.tenantId, 'acme');
    assert.equal(company.projectId, null);
    const project = await created(herald(), cms({ tenantId: 'acme', projectId: 'shop' }));
    assert.equal(project.scope, 'project');
    assert.equal(project.tenantId, 'acme');
    assert.equal(project.projectId, 'shop');
    const withoutIds = await created(herald(), cms({}));
    assert.equal(withoutIds.scope, 'instance');
  });

  test('the alias and a CA in a CMS document', async () => {
    const webhook = await created(herald(), cms({ eventName: 'user_added', base64CA: pki.base64CA }));
    assert.deepEqual(webhook.events, ['company_user_added']);
    assert.equal(webhook.base64CA, pki.base64CA);
  });

  test('a CMS document reads back like its current-shape twin', async () => {
    const legacy = await created(
      herald(),
      cms({ tenantId: 'twin', projectId: 'p', 'proxy.url': 'http://proxy.example.com:8080' }),
    );
    const current = await created(herald(), {
      url: 'https://hooks.example.com/cms',
      events: ['project_created'],
      secret: 'cms-shared-secret',
      active: false,
      tenantId: 'twin',
      projectId: 'p',
      proxy: { url: 'http://proxy.example.com:8080' },
    });
    const comparable = (webhook: Record<string, unknown>) => ({ ...webhook, id: 0, createdAt: 0, updatedAt: 0 });
    assert.deepEqual(comparable(legacy), comparable(current));
  });
});

describe('listing: filters and pages', () => {
  const herald = heraldForSuite();
  const ids: Record<string, string> = {};

  before(async () => {
    const base = { url: 'https://hooks.example.com/list', secret: 'list-secret', active: false };
    const specs: Record<string, Record<string, unknown>> = {
      instance: { events: ['project_created'] },
      companyT1: { events: ['service_created'], tenantId: 't1' },
      projectT1P1: { events: ['project_created', 'tag_created'], tenantId: 't1', projectId: 'p1' },
      companyT2: { events: ['tag_created', 'company_user_added'], tenantId: 't2' },
      projectT2P9: { events: ['configuration_saved'], tenantId: 't2', projectId: 'p9' },
      projectT1P2: { events: ['project_created'], tenantId: 't1', projectId: 'p2' },
    };
    for (const [key, spec] of Object.entries(specs)) ids[key] = (await created(herald(), { ...base, ...spec })).id;
  });

  const expectList = async (query: string, keys: string[]) => {
    const found = (await listIds(herald(), query)).sort();
    assert.deepEqual(found, keys.map((key) => ids[key]).sort(), `?${query}`);
  };

  test('no filter lists everything, ordered by id', async () => {
    const response = await herald().get('/api/webhooks');
    assert.equal(response.body.nextCursor, null);
    const found: string[] = response.body.data.map((webhook: { id: string }) => webhook.id);
    assert.deepEqual([...found].sort(), Object.values(ids).sort());
    assert.deepEqual(found, [...found].sort());
  });

  test('by tenant and project', async () => {
    await expectList('tenantId=t1', ['companyT1', 'projectT1P1', 'projectT1P2']);
    await expectList('tenantId=t1&projectId=p1', ['projectT1P1']);
    await expectList('projectId=p9', ['projectT2P9']);
    await expectList('tenantId=nobody', []);
  });

  test('by scope', async () => {
    await expectList('scope=instance', ['instance']);
    await expectList('scope=company', ['companyT1', 'companyT2']);
    await expectList('scope=project', ['projectT1P1', 'projectT2P9', 'projectT1P2']);
    await expectList('scope=company&tenantId=t1', ['companyT1']);
    await expectList('scope=project&tenantId=t1', ['projectT1P1', 'projectT1P2']);
    for (const scope of ['instance', 'company', 'project']) {
      const response = await herald().get(`/api/webhooks?scope=${scope}`);
      for (const webhook of response.body.data) assert.equal(webhook.scope, scope);
    }
  });

  test('by event', async () => {
    await expectList('event=project_created', ['instance', 'projectT1P1', 'projectT1P2']);
    await expectList('event=tag_created&tenantId=t2', ['companyT2']);
    await expectList('event=user_added', ['companyT2']);
    await expectList('event=tag_deleted', []);
    const response = await herald().get('/api/webhooks?event=tag_created');
    for (const webhook of response.body.data) assert.ok(webhook.events.includes('tag_created'));
  });

  /** Follows nextCursor from the first page to the last. */
  async function walk(query: string, limit: number): Promise<string[][]> {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const after: string = cursor === null ? '' : `&after=${encodeURIComponent(cursor)}`;
      const response = await herald().get(`/api/webhooks?limit=${limit}${query ? `&${query}` : ''}${after}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const page: string[] = response.body.data.map((webhook: { id: string }) => webhook.id);
      assert.ok(page.length <= limit);
      pages.push(page);
      cursor = response.body.nextCursor;
      if (cursor !== null) assert.equal(cursor, page[page.length - 1]);
      assert.ok(pages.length <= 10, 'pagination does not end');
    } while (cursor !== null);
    return pages;
  }

  test('pages through limit and nextCursor, each webhook once', async () => {
    const all = await listIds(herald());
    for (const limit of [1, 2, 4, 6, 7]) {
      const pages = await walk('', limit);
      assert.deepEqual(pages.flat(), all, `limit=${limit}`);
      assert.ok(pages.slice(0, -1).every((page) => page.length === limit), `limit=${limit}`);
    }
    assert.deepEqual((await walk('', 2)).slice(0, 3).map((page) => page.length), [2, 2, 2]);
  });

  test('pages through a filtered list', async () => {
    const pages = await walk('tenantId=t1', 1);
    assert.deepEqual(pages.flat(), await listIds(herald(), 'tenantId=t1'));
    assert.equal(pages.flat().length, 3);
  });

  test('a short first page has no cursor', async () => {
    const response = await herald().get('/api/webhooks?limit=10');
    assert.equal(response.body.data.length, 6);
    assert.equal(response.body.nextCursor, null);
  });
});

describe('certificate authority and proxy', () => {
  const herald = heraldForSuite();
  const base = { url: 'https://hooks.example.com/tls', events: ['project_created'], secret: 'tls-secret', active: false };

  test('a base64 CA is kept as given', async () => {
    const webhook = await created(herald(), { ...base, base64CA: pki.base64CA });
    assert.equal(webhook.base64CA, pki.base64CA);
    assert.equal((await herald().get(`/api/webhooks/${webhook.id}`)).body.base64CA, pki.base64CA);
  });

  test('a raw PEM is accepted and returned as base64', async () => {
    const webhook = await created(herald(), { ...base, base64CA: pki.caPem });
    assert.equal(webhook.base64CA, Buffer.from(pki.caPem, 'utf8').toString('base64'));
    assert.equal(Buffer.from(webhook.base64CA, 'base64').toString('utf8'), pki.caPem);
  });

  test('a bundle of two CAs is accepted', async () => {
    const bundle = Buffer.from(`${pki.caPem}${createUnrelatedCaPem()}`, 'utf8').toString('base64');
    const webhook = await created(herald(), { ...base, base64CA: bundle });
    assert.equal(webhook.base64CA, bundle);
  });

  test('a CA is added, replaced by a raw PEM and removed with PATCH', async () => {
    const webhook = await created(herald(), base);
    assert.equal(webhook.base64CA, null);
    assert.equal((await patched(herald(), webhook.id, { base64CA: pki.base64CA })).base64CA, pki.base64CA);
    assert.equal((await patched(herald(), webhook.id, { base64CA: pki.caPem })).base64CA, pki.base64CA);
    assert.equal((await patched(herald(), webhook.id, { name: 'keeps the CA' })).base64CA, pki.base64CA);
    assert.equal((await patched(herald(), webhook.id, { base64CA: null })).base64CA, null);
  });

  test('a proxy without credentials is shown as given', async () => {
    const webhook = await created(herald(), { ...base, proxy: { url: 'http://proxy.example.com:3128' } });
    assert.deepEqual(webhook.proxy, { url: 'http://proxy.example.com:3128' });
    const userOnly = await created(herald(), { ...base, proxy: { url: 'http://relay@proxy.example.com:3128' } });
    assert.equal(userOnly.proxy.url, 'http://relay@proxy.example.com:3128');
  });

  test('a proxy password is masked in every reply, and kept when the masked URL comes back', async () => {
    const password = 'pa55-w0rd-xyz';
    const proxyUrl = `http://relay:${password}@proxy.example.com:3128`;
    const masked = 'http://relay:****@proxy.example.com:3128/';
    const stored = async (id: string) => (await herald().herald.store.getWebhook(id))!.proxyUrl;

    const response = await herald().post('/api/webhooks', { ...base, proxy: { url: proxyUrl } });
    assert.equal(response.status, 201);
    assert.deepEqual(response.body.proxy, { url: masked });
    assertSecretsAbsent(response, [password]);
    const id = response.body.id;
    assertSecretsAbsent(await herald().get(`/api/webhooks/${id}`), [password]);
    assertSecretsAbsent(await herald().get('/api/webhooks'), [password]);
    assert.equal(await stored(id), proxyUrl);

    // The edit form sends every field back, the masked proxy URL included.
    const edited = await herald().patch(`/api/webhooks/${id}`, { name: 'edited', proxy: { url: masked } });
    assert.equal(edited.status, 200);
    assert.deepEqual(edited.body.proxy, { url: masked });
    assertSecretsAbsent(edited, [password]);
    assert.equal(await stored(id), proxyUrl);

    // The same through the flat key, and without the trailing slash.
    await patched(herald(), id, { 'proxy.url': masked });
    assert.equal(await stored(id), proxyUrl);
    await patched(herald(), id, { proxy: { url: 'http://relay:****@proxy.example.com:3128' } });
    assert.equal(await stored(id), proxyUrl);

    // A new password replaces the old one, and is masked in turn.
    const newPassword = 'another-pa55';
    const replaced = await patched(herald(), id, { proxy: { url: `http://relay:${newPassword}@proxy.example.com:3128` } });
    assert.deepEqual(replaced.proxy, { url: masked });
    assert.ok(!JSON.stringify(replaced).includes(newPassword));
    assert.equal(await stored(id), `http://relay:${newPassword}@proxy.example.com:3128`);

    // A proxy on another host with the mask as its password does not inherit the password.
    await patched(herald(), id, { proxy: { url: 'http://relay:****@other-proxy.example.com:3128' } });
    assert.ok(!(await stored(id))!.includes(newPassword));

    assert.equal((await patched(herald(), id, { proxy: null })).proxy, null);
    assert.equal(await stored(id), null);
  });

  test('a proxy password in a CMS document is masked too', async () => {
    const response = await herald().post('/api/webhooks', {
      eventName: 'project_created',
      target: 'https://hooks.example.com/cms',
      secret: 'cms-proxy-secret',
      active: false,
      'proxy.url': 'http://relay:cms-proxy-pass@proxy.example.com:3128',
    });
    assert.equal(response.status, 201);
    assert.deepEqual(response.body.proxy, { url: 'http://relay:****@proxy.example.com:3128/' });
    assertSecretsAbsent(response, ['cms-proxy-pass', 'cms-proxy-secret']);
  });
});

describe('PATCH re-validates the scope', () => {
  const herald = heraldForSuite();

  test('moving a webhook between scopes', async () => {
    const webhook = await created(herald(), {
      url: target('rescoped'),
      events: ['service_created'],
      secret: 'rescope-secret',
      tenantId: 't1',
      projectId: 'p1',
    });
    const event = (tenantId: string, projectId: string) => ({ tenantId, projectId, serviceName: 'api' });

    const refused = await herald().patch(`/api/webhooks/${webhook.id}`, { tenantId: null });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.field, 'projectId');
    assert.deepEqual((await herald().get(`/api/webhooks/${webhook.id}`)).body, webhook);

    const moved = await patched(herald(), webhook.id, { tenantId: 't9' });
    assert.equal(moved.scope, 'project');
    assert.equal(moved.tenantId, 't9');
    assert.equal(moved.projectId, 'p1');
    assert.equal(await publish(herald(), 'service_created', event('t9', 'p1')), 1);
    assert.equal(await publish(herald(), 'service_created', event('t1', 'p1')), 0);

    const company = await patched(herald(), webhook.id, { projectId: null });
    assert.equal(company.scope, 'company');
    assert.equal(await publish(herald(), 'service_created', event('t9', 'p7')), 1);

    const instance = await patched(herald(), webhook.id, { tenantId: null });
    assert.equal(instance.scope, 'instance');
    assert.equal(await publish(herald(), 'service_created', event('t5', 'p5')), 1);

    const orphan = await herald().patch(`/api/webhooks/${webhook.id}`, { projectId: 'p3' });
    assert.equal(orphan.status, 400);
    assert.equal(orphan.body.field, 'projectId');

    const project = await patched(herald(), webhook.id, { tenantId: 't3', projectId: 'p3' });
    assert.equal(project.scope, 'project');
    assert.equal(await publish(herald(), 'service_created', event('t3', 'p3')), 1);
    assert.equal(await publish(herald(), 'service_created', event('t3', 'p4')), 0);

    const reset = await patched(herald(), webhook.id, { tenantId: null, projectId: null });
    assert.equal(reset.scope, 'instance');
    await requestsTo('rescoped', 4);
  });
});

describe('event types', () => {
  const herald = heraldForSuite();
  const BUILTIN = [
    'project_created',
    'service_created',
    'tag_created',
    'tag_deleted',
    'configuration_saved',
    'company_user_added',
    'company_user_edited',
    'company_user_removed',
  ];

  test('the built-in catalog is listed with its schemas', async () => {
    const response = await herald().get('/api/event-types');
    assert.equal(response.status, 200);
    const byName = new Map<string, any>(response.body.data.map((type: { name: string }) => [type.name, type]));
    for (const name of BUILTIN) {
      const type = byName.get(name);
      assert.ok(type, `${name} is listed`);
      assert.equal(type.builtin, true);
      assert.equal(typeof type.description, 'string');
      assert.ok(type.description.length > 0);
      assert.equal(type.schema.type, 'object', `${name} describes an object payload`);
      assert.ok(Array.isArray(type.aliases));
    }
    for (const name of ['project_created', 'service_created', 'tag_created', 'tag_deleted', 'configuration_saved']) {
      assert.equal(byName.get(name).tenantIdPointer, '/tenantId');
      assert.equal(byName.get(name).projectIdPointer, '/projectId');
      assert.ok(byName.get(name).schema.required.includes('tenantId'));
      assert.ok(byName.get(name).schema.required.includes('projectId'));
    }
    for (const name of ['company_user_added', 'company_user_edited', 'company_user_removed']) {
      assert.equal(byName.get(name).tenantIdPointer, '/resource/companyId');
      assert.equal(byName.get(name).projectIdPointer, '/resource/projectId');
    }
    assert.deepEqual(byName.get('company_user_added').aliases, ['user_added']);
    assert.ok(!byName.has('user_added'), 'an alias is not a type of its own');
    assert.equal(byName.get('service_created').schema.properties.repositoryURL.type, 'string');
    assert.equal(byName.get('configuration_saved').schema.additionalProperties, true);
    assert.equal(byName.get('project_created').schema.additionalProperties, false);
  });

  test('a custom type with a schema: added, listed, subscribed to, published and validated', async () => {
    const definition = {
      name: 'invoice_paid',
      description: 'An invoice of a company was paid.',
      schema: {
        type: 'object',
        properties: { tenantId: { type: 'string' }, amount: { type: 'number' }, currency: { type: 'string' } },
        required: ['tenantId', 'amount'],
        additionalProperties: false,
      },
    };
    const before = await herald().post('/api/webhooks', { url: target('invoices'), events: ['invoice_paid'], secret: 'invoice-secret' });
    assert.equal(before.status, 400, 'not subscribable before it exists');
    assert.equal(before.body.error, 'unknown_event_type');

    const added = await herald().post('/api/event-types', definition);
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual(added.body, {
      ...definition,
      tenantIdPointer: '/tenantId',
      projectIdPointer: '/projectId',
      aliases: [],
      builtin: false,
    });
    const listed = (await herald().get('/api/event-types')).body.data.find((type: { name: string }) => type.name === 'invoice_paid');
    assert.deepEqual(listed, added.body);

    const webhook = await created(herald(), {
      url: target('invoices'),
      events: ['invoice_paid'],
      secret: 'invoice-secret',
      tenantId: 'acme',
    });
    assert.deepEqual(webhook.events, ['invoice_paid']);

    assert.equal(await publish(herald(), 'invoice_paid', { tenantId: 'acme', amount: 12.5, currency: 'EUR' }), 1);
    assert.equal(await publish(herald(), 'invoice_paid', { tenantId: 'globex', amount: 3 }), 0);
    const [request] = await requestsTo('invoices', 1);
    const envelope = JSON.parse(request.body.toString());
    assert.equal(envelope.eventName, 'invoice_paid');
    assert.deepEqual(envelope.payload, { tenantId: 'acme', amount: 12.5, currency: 'EUR' });
    assertSignedWith(request, 'invoice-secret');

    const wrongType = await herald().post('/api/events', { eventName: 'invoice_paid', payload: { tenantId: 'acme', amount: 'ten' } });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.body.field, 'payload.amount');
    const extra = await herald().post('/api/events', { eventName: 'invoice_paid', payload: { tenantId: 'acme', amount: 1, note: 'x' } });
    assert.equal(extra.status, 400);
    assert.equal(extra.body.field, 'payload.note');
    const missing = await herald().post('/api/events', { eventName: 'invoice_paid', payload: { amount: 1 } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.field, 'payload.tenantId');
  });

  test('a custom type without a schema takes any object', async () => {
    const added = await herald().post('/api/event-types', { name: 'audit.entry' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual(added.body.schema, { type: 'object' });
    assert.equal(added.body.description, '');
    await created(herald(), { url: target('audit'), events: ['audit.entry'], secret: 'audit-secret' });
    assert.equal(await publish(herald(), 'audit.entry', {}), 1);
    assert.equal(await publish(herald(), 'audit.entry', { anything: { nested: [1, 'two', null] }, flag: true }), 1);
    const batch = await herald().post('/api/events', {
      events: [
        { eventName: 'audit.entry', payload: { n: 1 } },
        { eventName: 'audit.entry', payload: { n: 2 }, eventTimestamp: 1_700_000_000 },
      ],
    });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    assert.deepEqual(
      batch.body.events.map((event: { deliveries: number }) => event.deliveries),
      [1, 1],
    );
    const requests = await requestsTo('audit', 4);
    const stamped = requests.map((request) => JSON.parse(request.body.toString())).find((envelope) => envelope.payload.n === 2);
    assert.equal(stamped.eventTimestamp, 1_700_000_000);
    const notObject = await herald().post('/api/events', { eventName: 'audit.entry', payload: 'text' });
    assert.equal(notObject.status, 400);
    assert.equal(notObject.body.field, 'payload');
  });

  test('a custom type finds its ids where its pointers say', async () => {
    const added = await herald().post('/api/event-types', {
      name: 'team_joined',
      tenantIdPointer: '/org/id',
      projectIdPointer: '/org/project',
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.tenantIdPointer, '/org/id');
    const base = { url: target('teams'), events: ['team_joined'], secret: 'team-secret' };
    await created(herald(), { ...base, tenantId: 'org-1' });
    await created(herald(), { ...base, tenantId: 'org-1', projectId: 'proj-1' });
    assert.equal(await publish(herald(), 'team_joined', { org: { id: 'org-1' } }), 1);
    assert.equal(await publish(herald(), 'team_joined', { org: { id: 'org-1', project: 'proj-1' } }), 2);
    assert.equal(await publish(herald(), 'team_joined', { org: { id: 'org-2', project: 'proj-1' } }), 0);
    assert.equal(await publish(herald(), 'team_joined', { tenantId: 'org-1' }), 0);
    await requestsTo('teams', 3);
  });

  test('custom types outlive a restart, two of them sharing a schema $id included', async () => {
    const own = await startTestHerald();
    let restarted: TestHerald | undefined;
    try {
      const schema = {
        $id: 'https://schemas.example.com/order.json',
        type: 'object',
        properties: { tenantId: { type: 'string' }, total: { $ref: '#/definitions/money' } },
        definitions: { money: { type: 'number', minimum: 0 } },
      };
      for (const name of ['order_placed', 'order_shipped']) {
        const added = await own.post('/api/event-types', { name, schema });
        assert.equal(added.status, 201, JSON.stringify(added.body));
      }
      const negative = await own.post('/api/events', { eventName: 'order_shipped', payload: { tenantId: 't', total: -1 } });
      assert.equal(negative.status, 400);
      assert.equal(negative.body.field, 'payload.total');
      const types = (await own.get('/api/event-types')).body.data;
      await own.stop();

      restarted = await startTestHerald({ dataDir: own.dataDir });
      assert.deepEqual((await restarted.get('/api/event-types')).body.data, types);
      const accepted = await restarted.post('/api/events', { eventName: 'order_placed', payload: { tenantId: 't', total: 5 } });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const refused = await restarted.post('/api/events', { eventName: 'order_placed', payload: { tenantId: 't', total: 'five' } });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.field, 'payload.total');
      const duplicate = await restarted.post('/api/event-types', { name: 'order_placed' });
      assert.equal(duplicate.status, 409);
    } finally {
      if (restarted) await restarted.stop({ removeData: true });
      else await own.stop({ removeData: true });
    }
  });
});

describe('small API edges', () => {
  let herald: TestHerald;
  before(async () => {
    herald = await startTestHerald();
  });
  after(async () => herald.stop({ removeData: true }));

  test('an unknown /api path answers 401 without a token and 404 with one', async () => {
    const anonymous = apiClient(herald.url, 'not-a-token');
    assert.equal((await anonymous.get('/api/no-such-thing')).status, 401);
    const known = await herald.get('/api/no-such-thing');
    assert.equal(known.status, 404);
    assert.equal(known.body.error, 'not_found');
  });

  test('filtering the list by an unknown event type is a 400 naming the filter', async () => {
    const reply = await herald.get('/api/webhooks?event=no_such_event');
    assert.equal(reply.status, 400);
    assert.equal(reply.body.error, 'unknown_event_type');
    assert.equal(reply.body.field, 'event');
  });

  test('an older CMS document with an empty proxy.url has no proxy', async () => {
    const reply = await herald.post('/api/webhooks', {
      eventName: 'project_created',
      target: 'https://receiver.example/hook',
      secret: 'cms-secret-1',
      tenantId: '',
      projectId: '',
      base64CA: '',
      'proxy.url': '',
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    assert.equal(reply.body.proxy, null);
    assert.equal(reply.body.scope, 'instance');
  });
});
