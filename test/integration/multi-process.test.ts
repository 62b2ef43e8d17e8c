import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { makeTempDir, removeDir, startReceiver, waitUntil } from '../support/index.js';
import {
  apiClient,
  spawnHerald,
  spawnWorker,
  TEST_ADMIN_TOKEN,
  type SpawnedHerald,
  type SpawnedProcess,
} from '../support/herald.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';

const EVENT_COUNT = 3000;
const BATCH_SIZE = 100;
/** The third process is killed once this many batches are acknowledged: halfway through. */
const KILL_AFTER_BATCHES = 15;
const CLUSTER_KEY = randomBytes(32).toString('base64');

function clusterEnv(schema: string): Record<string, string> {
  return {
    HERALD_DATABASE_URL: TEST_DATABASE_URL,
    HERALD_DATABASE_SCHEMA: schema,
    // Every process of one database shares the key of its webhook secrets.
    HERALD_ENCRYPTION_KEY: CLUSTER_KEY,
    HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    HERALD_ALLOW_PRIVATE_NETWORKS: '1',
    HERALD_RETRY_SCHEDULE: '200ms',
    // A claim lapses this plus 5 s after it was taken, one its publish handed off 10 s later
    // (HANDED_OFF_WAIT_MS): a killed process's work is taken over within 16 s, not the default 25.
    HERALD_DELIVERY_TIMEOUT_MS: '1000',
    HERALD_LOG_LEVEL: 'warn',
  };
}

function isRunning(spawned: SpawnedProcess): boolean {
  return spawned.process.exitCode === null && spawned.process.signalCode === null;
}

async function killHard(spawned: SpawnedProcess): Promise<void> {
  if (isRunning(spawned)) spawned.process.kill('SIGKILL');
  await spawned.exited;
}

/** Starts `count` processes at once; when one fails, the others are killed before it throws. */
async function spawnMany(count: number, spawnOne: () => Promise<SpawnedHerald>): Promise<SpawnedHerald[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, spawnOne));
  const started = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    await Promise.all(started.map(killHard));
    throw failure.reason;
  }
  return started;
}

interface WatchfulReceiver {
  url: string;
  /** The `webhook-id` (the event id) of every request received whole, in arrival order. */
  arrivals: string[];
  /** Ids that arrived while a request with the same id was still open. */
  overlaps: string[];
  close(): Promise<void>;
}

/**
 * A receiver that answers 200 after a short random pause and watches for an event being in
 * flight twice at once: a request counts as open from its headers until its answer is out or
 * its sender hangs up (a killed process's sockets are closed by the kernel).
 */
async function startWatchfulReceiver(): Promise<WatchfulReceiver> {
  const arrivals: string[] = [];
  const overlaps: string[] = [];
  const open = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((request, response) => {
    const id = String(request.headers['webhook-id']);
    if (open.has(id)) overlaps.push(id);
    open.set(id, (open.get(id) ?? 0) + 1);
    response.on('close', () => {
      const left = (open.get(id) ?? 1) - 1;
      if (left === 0) open.delete(id);
      else open.set(id, left);
    });
    request.resume();
    request.on('end', () => {
      arrivals.push(id);
      const timer = setTimeout(() => {
        timers.delete(timer);
        response.end('ok');
      }, 5 + Math.floor(Math.random() * 16));
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    overlaps,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serviceEvents(batch: number): unknown[] {
  return Array.from({ length: BATCH_SIZE }, (_, index) => ({
    eventName: 'service_created',
    payload: { tenantId: 'acme', projectId: 'shop', serviceName: `svc-${batch}-${index}` },
  }));
}

/** Pending deliveries anywhere in the schema: the API only shows a webhook's newest 200. */
async function countPending(schema: string): Promise<number> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".deliveries WHERE status = 'pending'`);
    return rows[0].n as number;
  } finally {
    await client.end();
  }
}

test('three processes on one schema deliver every acknowledged event although one is SIGKILLed midway', async (t) => {
  const schema = freshSchemaName();
  const receiver = await startWatchfulReceiver();
  let heralds: SpawnedHerald[] = [];
  try {
    heralds = await spawnMany(3, () => spawnHerald(clusterEnv(schema), ['--role', 'all']));
    const apis = heralds.map((herald) => apiClient(herald.url));
    const created = await apis[0].post('/api/webhooks', {
      url: `${receiver.url}/cluster`,
      events: ['service_created'],
      secret: 'cluster-secret-123',
    });
    assert.equal(created.status, 201);

    // One batch at a time, round-robin over the live processes, so the kill falls between two
    // acknowledged batches and the acknowledged set is exactly what was stored.
    const acknowledged = new Set<string>();
    let live = [0, 1, 2];
    let atKill = { acknowledged: 0, arrived: 0 };
    for (let batch = 0; batch < EVENT_COUNT / BATCH_SIZE; batch++) {
      if (batch === KILL_AFTER_BATCHES) {
        await waitUntil(() => receiver.arrivals.length >= 100, { message: 'deliveries did not get going' });
        await killHard(heralds[2]);
        assert.equal(await heralds[2].exited, 'SIGKILL');
        live = [0, 1];
        atKill = { acknowledged: acknowledged.size, arrived: new Set(receiver.arrivals).size };
        assert.ok(atKill.arrived < atKill.acknowledged, 'some deliveries must still be pending at the kill');
      }
      const reply = await apis[live[batch % live.length]].post('/api/events', { events: serviceEvents(batch) });
      assert.equal(reply.status, 202, JSON.stringify(reply.body));
      for (const event of reply.body.events) acknowledged.add(event.id);
    }
    assert.equal(acknowledged.size, EVENT_COUNT);

    await waitUntil(
      () => {
        const arrived = new Set(receiver.arrivals);
        return [...acknowledged].every((id) => arrived.has(id));
      },
      { timeoutMs: 60_000, intervalMs: 100, message: 'not every acknowledged event arrived' },
    );
    await waitUntil(
      async () => {
        const pending = await apis[0].get(`/api/webhooks/${created.body.id}/deliveries?status=pending`);
        return pending.status === 200 && pending.body.data.length === 0;
      },
      { timeoutMs: 30_000, message: 'the history still lists pending deliveries' },
    );
    await waitUntil(async () => (await countPending(schema)) === 0, {
      timeoutMs: 30_000,
      message: 'deliveries outside the history window were left pending',
    });

    const arrived = new Set(receiver.arrivals);
    assert.equal(arrived.size, acknowledged.size);
    assert.ok([...arrived].every((id) => acknowledged.has(id)), 'an event nobody published arrived');
    const duplicates = receiver.arrivals.length - arrived.size;
    t.diagnostic(
      `events ${acknowledged.size}; at the kill ${atKill.acknowledged} acknowledged and ${atKill.arrived} delivered; ` +
        `requests ${receiver.arrivals.length}, duplicates ${duplicates}, overlapping ${receiver.overlaps.length}`,
    );
    assert.ok(duplicates < acknowledged.size * 0.05, `${duplicates} duplicates is too many`);
    assert.deepEqual(receiver.overlaps, [], 'an event was in flight twice at once');
  } finally {
    await Promise.all(heralds.map(killHard));
    await receiver.close();
    await dropSchemas([schema]);
  }
});

test('an API-only process stores deliveries without sending them, and a worker process sends them', async () => {
  const schema = freshSchemaName();
  const controlSchema = freshSchemaName();
  const receiver = await startReceiver();
  const processes: SpawnedProcess[] = [];
  try {
    const apiOnly = await spawnHerald(clusterEnv(schema), ['--role', 'api']);
    processes.push(apiOnly);
    const api = apiClient(apiOnly.url);
    const created = await api.post('/api/webhooks', {
      url: `${receiver.url}/split`,
      events: ['tag_created'],
      secret: 'split-secret-123',
    });
    assert.equal(created.status, 201);
    const first = await api.post('/api/events', {
      eventName: 'tag_created',
      payload: { tenantId: 'acme', projectId: 'shop', tagName: 'v1.0.0' },
    });
    assert.equal(first.status, 202);
    assert.equal(first.body.deliveries, 1);

    // The control: a complete Herald on a schema of its own, started and used only after that
    // publish, gets its event delivered. A dispatcher in the API-only process would have
    // delivered ours long before.
    const control = await spawnHerald(clusterEnv(controlSchema));
    processes.push(control);
    const controlApi = apiClient(control.url);
    assert.equal(
      (await controlApi.post('/api/webhooks', { url: `${receiver.url}/control`, events: ['tag_created'] })).status,
      201,
    );
    assert.equal(
      (await controlApi.post('/api/events', { eventName: 'tag_created', payload: { tenantId: 'acme', projectId: 'shop', tagName: 'c' } }))
        .status,
      202,
    );
    await waitUntil(() => receiver.requests.some((request) => request.url === '/control'), {
      message: 'the control Herald did not deliver',
    });
    const waiting = await api.get(`/api/webhooks/${created.body.id}/deliveries`);
    assert.equal(waiting.body.data.length, 1);
    assert.equal(waiting.body.data[0].status, 'pending');
    assert.equal(waiting.body.data[0].attempts, 0);
    assert.equal(receiver.requests.filter((request) => request.url === '/split').length, 0);

    const worker = await spawnWorker(clusterEnv(schema));
    processes.push(worker);
    assert.match(worker.output(), /Herald is delivering \(worker, postgres\)/);
    const delivered = await waitUntil(() => receiver.requests.find((request) => request.url === '/split'), {
      message: 'the worker did not deliver the waiting event',
    });
    await assertWorkerProbes(worker.output());
    assert.equal(delivered.headers['webhook-id'], first.body.id);

    // With the worker running, a new publish through the API process goes out too.
    const second = await api.post('/api/events', {
      eventName: 'tag_created',
      payload: { tenantId: 'acme', projectId: 'shop', tagName: 'v1.0.1' },
    });
    assert.equal(second.status, 202);
    await waitUntil(
      async () => {
        const history = await api.get(`/api/webhooks/${created.body.id}/deliveries`);
        return history.body.data.length === 2 && history.body.data.every((row: { status: string }) => row.status === 'success');
      },
      { message: 'the worker did not record both deliveries' },
    );
    const splitIds = receiver.requests.filter((request) => request.url === '/split').map((r) => r.headers['webhook-id']);
    assert.deepEqual(splitIds, [first.body.id, second.body.id]);
  } finally {
    await Promise.all(processes.map(killHard));
    await receiver.close();
    await dropSchemas([schema, controlSchema]);
  }
});

test('--role worker and --role api refuse to start without HERALD_DATABASE_URL', async () => {
  const dataDir = makeTempDir('herald-roles-');
  const env = { HERALD_DATA_DIR: dataDir, HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN, HERALD_LOG_LEVEL: 'warn' };
  try {
    await assert.rejects(spawnWorker(env), /exited early[\s\S]*--role worker needs PostgreSQL \(HERALD_DATABASE_URL\)/);
    await assert.rejects(spawnHerald(env, ['--role', 'api']), /exited early[\s\S]*--role api needs PostgreSQL \(HERALD_DATABASE_URL\)/);
  } finally {
    removeDir(dataDir);
  }
});

/** A worker answers the probes and its own metrics on HERALD_PORT, and nothing of the API. */
async function assertWorkerProbes(output: string): Promise<void> {
  const probesUrl = /\/metrics on (http:\/\/\S+)/.exec(output)?.[1];
  assert.ok(probesUrl, output);
  assert.equal((await fetch(`${probesUrl}/readyz`)).status, 200);
  assert.equal((await fetch(`${probesUrl}/metrics`)).status, 401, 'metrics need the admin token');
  // The receiver may have the request a moment before the worker has counted the answer.
  await waitUntil(
    async () => {
      const metrics = await fetch(`${probesUrl}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
      assert.equal(metrics.status, 200);
      return /^herald_deliveries_total\{outcome="delivered",status_class="2xx"\} 1$/m.test(await metrics.text());
    },
    { message: 'the worker\'s metrics did not count its delivery' },
  );
  assert.equal((await fetch(`${probesUrl}/api/webhooks`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).status, 404);
}
