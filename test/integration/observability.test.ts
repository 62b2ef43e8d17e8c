import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startTestHerald, TEST_ADMIN_TOKEN, type TestHerald } from '../support/herald.js';
import { dropSchemas } from '../support/postgres.js';
import { failTimesThenSucceed, startReceiver, waitUntil, type Receiver } from '../support/index.js';

/**
 * Health and readiness probes, Prometheus metrics, the OpenAPI document with its reference page,
 * and the delivery id on every log line of a delivery.
 */

// ---------------------------------------------------------------------------------------------
// A small reader of the Prometheus text exposition format

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) types.set(type[1], type[2]);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const label of (match[2] ?? '').matchAll(labelPattern)) {
      labels[label[1]] = label[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const raw = match[3];
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    // prom-client writes NaN as `Nan`.
    assert.ok(!Number.isNaN(value) || raw.toLowerCase() === 'nan', `bad value in: ${line}`);
    samples.push({ name: match[1], labels, value });
  }
  return { types, samples };
}

/** The one sample of `name` whose labels include `labels`; 0 when there is none (a counter never
 * incremented for those labels is not written). */
function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

function sumOf(exposition: Exposition, name: string): number {
  return exposition.samples.filter((sample) => sample.name === name).reduce((sum, sample) => sum + sample.value, 0);
}

async function scrape(url: string, token: string | null = TEST_ADMIN_TOKEN): Promise<Exposition> {
  const response = await fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return parseExposition(await response.text());
}

// ---------------------------------------------------------------------------------------------
// Log capture

function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  let pending = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), lines, raw };
}

// ---------------------------------------------------------------------------------------------

describe('readiness', () => {
  test('/healthz and /readyz answer without a token; /readyz is 503 once the store is closed', async () => {
    const herald = await startTestHerald();
    try {
      const health = await fetch(`${herald.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });

      const ready = await fetch(`${herald.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready' });

      await herald.herald.dispatcher?.stop();
      await herald.herald.store.close();
      const notReady = await fetch(`${herald.url}/readyz`);
      assert.equal(notReady.status, 503);
      const body = (await notReady.json()) as { status: string; reason: string };
      assert.equal(body.status, 'not-ready');
      assert.equal(typeof body.reason, 'string');
      assert.ok(body.reason.length > 0);
      // Liveness does not depend on the store.
      assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
    } finally {
      // The store is closed already: stopping may fail on closing it again.
      await herald.stop({ removeData: true }).catch(() => undefined);
      if (herald.config.databaseUrl) await dropSchemas([herald.config.databaseSchema]);
    }
  });
});

describe('metrics and delivery logs', () => {
  let herald: TestHerald;
  let capture: ReturnType<typeof logCapture>;
  const receivers: Receiver[] = [];
  const secrets = {
    ok: 'metrics-ok-secret-8f3a61c2d9',
    flaky: 'metrics-flaky-secret-0b7e44d1a5',
    dead: 'metrics-dead-secret-c62f90e7b3',
  };
  let ids: { ok: string; flaky: string; dead: string; inactive: string };

  before(async () => {
    capture = logCapture();
    herald = await startTestHerald({ retryScheduleMs: [30, 60, 90] }, { logger: capture.logger });
    const ok = await startReceiver();
    const flaky = await startReceiver({ responder: failTimesThenSucceed(2, 500) });
    const dead = await startReceiver({ responder: () => ({ status: 404, body: 'gone' }) });
    receivers.push(ok, flaky, dead);
    const create = async (body: Record<string, unknown>) => {
      const answer = await herald.post('/api/webhooks', { events: ['project_created'], ...body });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      return answer.body.id as string;
    };
    ids = {
      ok: await create({ url: ok.url, secret: secrets.ok }),
      flaky: await create({ url: flaky.url, secret: secrets.flaky, maxAttempts: 5 }),
      dead: await create({ url: dead.url, secret: secrets.dead, maxAttempts: 2 }),
      inactive: await create({ url: ok.url, active: false }),
    };
  });

  after(async () => {
    await herald?.stop({ removeData: true });
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  test('/metrics needs an admin token', async () => {
    assert.equal((await fetch(`${herald.url}/metrics`)).status, 401);
    assert.equal(
      (await fetch(`${herald.url}/metrics`, { headers: { authorization: 'Bearer not-a-real-token-at-all' } })).status,
      401,
    );
    const company = await herald.post('/api/tokens', { role: 'company', tenantId: 'acme' });
    assert.equal(company.status, 201, JSON.stringify(company.body));
    const forbidden = await fetch(`${herald.url}/metrics`, { headers: { authorization: `Bearer ${company.body.token}` } });
    assert.equal(forbidden.status, 403);
    // The token's text never shows up in what Herald exposes.
    const text = await (await fetch(`${herald.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
    assert.ok(!text.includes(company.body.token));
  });

  test('counters, histogram and queue gauges follow successes, retries and a give-up', async () => {
    const published = await herald.post('/api/events', {
      eventName: 'project_created',
      payload: { tenantId: 'acme', projectId: 'shop' },
    });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 3);

    // ok: delivered at once; flaky: two 500s then delivered; dead: a 404 retried once, then given up.
    const finished = await waitUntil(
      async () => {
        const metrics = await scrape(herald.url);
        return sumOf(metrics, 'herald_deliveries_total') === 6 && valueOf(metrics, 'herald_queue_depth') === 0 ? metrics : null;
      },
      { message: 'the deliveries did not all finish', timeoutMs: 15_000 },
    );

    assert.equal(finished.types.get('herald_deliveries_total'), 'counter');
    assert.equal(finished.types.get('herald_delivery_duration_seconds'), 'histogram');
    assert.equal(finished.types.get('herald_queue_depth'), 'gauge');
    assert.equal(valueOf(finished, 'herald_deliveries_total', { outcome: 'delivered', status_class: '2xx' }), 2);
    assert.equal(valueOf(finished, 'herald_deliveries_total', { outcome: 'retry', status_class: '5xx' }), 2);
    assert.equal(valueOf(finished, 'herald_deliveries_total', { outcome: 'retry', status_class: '4xx' }), 1);
    assert.equal(valueOf(finished, 'herald_deliveries_total', { outcome: 'gave_up', status_class: '4xx' }), 1);
    assert.equal(valueOf(finished, 'herald_deliveries_total', { outcome: 'gave_up', status_class: 'none' }), 0);
    assert.equal(valueOf(finished, 'herald_delivery_retries_total'), 3);
    // One observation per attempt, every one of them within the +Inf bucket.
    assert.equal(valueOf(finished, 'herald_delivery_duration_seconds_count'), 6);
    assert.equal(valueOf(finished, 'herald_delivery_duration_seconds_bucket', { le: '+Inf' }), 6);
    assert.ok(valueOf(finished, 'herald_delivery_duration_seconds_sum') >= 0);
    assert.equal(valueOf(finished, 'herald_queue_depth'), 0);
    assert.equal(valueOf(finished, 'herald_oldest_due_delivery_age_seconds'), 0);

    const webhooks = await herald.get('/api/webhooks');
    const inactive = (webhooks.body.data as { active: boolean }[]).filter((webhook) => !webhook.active).length;
    assert.ok(inactive >= 1);
    assert.equal(valueOf(finished, 'herald_webhooks_disabled'), inactive);

    // Default process metrics are there too.
    assert.ok(finished.samples.some((sample) => sample.name === 'process_cpu_user_seconds_total'));
    assert.ok(finished.samples.some((sample) => sample.name.startsWith('nodejs_')));

    // No URL, id or secret in any metric name or label.
    const labelText = finished.samples.map((sample) => `${sample.name} ${JSON.stringify(sample.labels)}`).join('\n');
    assert.ok(!labelText.includes('127.0.0.1'));
    for (const value of [...Object.values(secrets), ...Object.values(ids), TEST_ADMIN_TOKEN]) {
      assert.ok(!labelText.includes(value), `a metric label holds ${value}`);
    }
  });

  test("every log line of a delivery's life carries its deliveryId, and no secret is logged", async () => {
    const deliveryIds = new Map<string, string>();
    for (const [label, webhookId] of Object.entries({ ok: ids.ok, flaky: ids.flaky, dead: ids.dead })) {
      const list = await herald.get(`/api/webhooks/${webhookId}/deliveries`);
      assert.equal(list.status, 200);
      assert.equal(list.body.data.length, 1, `${label}: ${JSON.stringify(list.body)}`);
      deliveryIds.set(webhookId, list.body.data[0].id as string);
    }
    const eventIds = new Set<string>();
    const about = capture.lines.filter((line) => {
      const mentions =
        deliveryIds.has(String(line.webhookId)) ||
        [...deliveryIds.values()].includes(String(line.deliveryId)) ||
        ['delivered', 'gave up', 'attempt failed, will retry'].includes(String(line.msg));
      if (mentions && typeof line.eventId === 'string') eventIds.add(line.eventId);
      return mentions;
    });
    const alsoByEvent = capture.lines.filter((line) => typeof line.eventId === 'string' && eventIds.has(line.eventId));
    const deliveryLines = [...new Set([...about, ...alsoByEvent])];
    // ok: 1 line, flaky: 3, dead: 2, at trace level.
    assert.ok(deliveryLines.length >= 6, `only ${deliveryLines.length} delivery log lines`);
    for (const line of deliveryLines) {
      assert.equal(typeof line.deliveryId, 'string', `a delivery log line without deliveryId: ${JSON.stringify(line)}`);
      if (typeof line.webhookId === 'string' && deliveryIds.has(line.webhookId)) {
        assert.equal(line.deliveryId, deliveryIds.get(line.webhookId));
      }
    }
    const gaveUp = deliveryLines.filter((line) => line.msg === 'gave up');
    assert.deepEqual(
      gaveUp.map((line) => line.deliveryId),
      [deliveryIds.get(ids.dead)],
    );
    const text = capture.raw.join('\n');
    for (const secret of Object.values(secrets)) assert.ok(!text.includes(secret), 'a webhook secret was logged');
    assert.ok(!text.includes(TEST_ADMIN_TOKEN), 'the admin token was logged');
  });
});

describe('public metrics', () => {
  test('HERALD_METRICS_PUBLIC serves /metrics without a token', async () => {
    const herald = await startTestHerald({ metricsPublic: true });
    try {
      const metrics = await scrape(herald.url, null);
      assert.equal(valueOf(metrics, 'herald_queue_depth'), 0);
      assert.equal(sumOf(metrics, 'herald_deliveries_total'), 0);
    } finally {
      await herald.stop({ removeData: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// OpenAPI

/** Every route under /api, read from the router, as `METHOD /path`. */
function apiRoutes(herald: TestHerald): string[] {
  const tree = herald.herald.api!.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1].length / 4;
    prefixes.length = depth;
    const path = (prefixes[depth - 1] ?? '') + match[2];
    prefixes[depth] = path;
    for (const method of match[3].split(',').map((m) => m.trim())) {
      if (path.startsWith('/api/') && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes.sort();
}

/** Every property name anywhere in a schema, nested ones included. */
function propertyNames(schema: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const item of schema) propertyNames(item, into);
  } else if (schema && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && value && typeof value === 'object') {
        for (const name of Object.keys(value)) into.add(name);
      }
      propertyNames(value, into);
    }
  }
  return into;
}

describe('the OpenAPI document and the reference page', () => {
  let herald: TestHerald;
  let doc: any;

  before(async () => {
    herald = await startTestHerald();
    const response = await fetch(`${herald.url}/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    doc = await response.json();
  });

  after(async () => {
    await herald?.stop({ removeData: true });
  });

  test('is an OpenAPI 3 document about Herald with bearer authentication', async () => {
    const { version } = JSON.parse(
      await (await import('node:fs/promises')).readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(doc.info.title, 'Herald');
    assert.equal(doc.info.version, version);
    assert.equal(doc.components.securitySchemes.bearerAuth.type, 'http');
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.paths['/healthz'].get.security, []);
    assert.deepEqual(doc.paths['/readyz'].get.security, []);
    assert.ok(doc.paths['/metrics'].get);
  });

  test('holds every /api route of the route table with its methods, and no console page', () => {
    const routes = apiRoutes(herald);
    assert.ok(routes.length >= 10, routes.join('\n'));
    const missing = routes.filter((route) => {
      const [method, path] = route.split(' ');
      const documented = doc.paths[path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')];
      return !documented?.[method.toLowerCase()];
    });
    assert.deepEqual(missing, [], `routes missing from /openapi.json: ${missing.join(', ')}`);
    for (const path of Object.keys(doc.paths)) {
      assert.ok(path.startsWith('/api/') || ['/healthz', '/readyz', '/metrics'].includes(path), `${path} is documented`);
    }
  });

  test('no response schema carries a secret or a token except the two creation answers', () => {
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const names = propertyNames(operation.responses ?? {});
        const where = `${method.toUpperCase()} ${path}`;
        if (!(path === '/api/webhooks' && method === 'post')) {
          assert.ok(!names.has('secret'), `${where} may answer with a secret`);
          assert.ok(!names.has('previousSecret'), `${where} may answer with a previous secret`);
        }
        if (!(path === '/api/tokens' && method === 'post')) {
          assert.ok(!names.has('token'), `${where} may answer with a token`);
        }
      }
    }
    assert.ok(propertyNames(doc.paths['/api/webhooks'].post.responses).has('secret'));
    assert.ok(propertyNames(doc.paths['/api/tokens'].post.responses).has('token'));
  });

  test('/docs is a self-contained page that renders /openapi.json', async () => {
    const response = await fetch(`${herald.url}/docs`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const html = await response.text();
    assert.match(html, /<!doctype html>/i);
    assert.ok(html.includes("fetch('/openapi.json')"));
    assert.ok(!/src=["']https?:|href=["']https?:/.test(html), 'the page loads nothing from elsewhere');
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.ok(!csp.includes('unsafe-inline'));
    // The document needs no token, so the page works without one.
    assert.equal((await fetch(`${herald.url}/openapi.json`)).status, 200);
  });
});
