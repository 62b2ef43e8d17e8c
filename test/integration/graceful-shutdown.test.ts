import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, removeDir, startReceiver, waitUntil } from '../support/index.js';
import { apiClient, spawnHerald, TEST_ADMIN_TOKEN } from '../support/herald.js';

test('SIGTERM releases an in-flight delivery, exits cleanly, and the next run delivers it once', async () => {
  const dataDir = makeTempDir('herald-sigterm-');
  const env = {
    HERALD_DATA_DIR: dataDir,
    HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    HERALD_ALLOW_PRIVATE_NETWORKS: '1',
    HERALD_SHUTDOWN_GRACE_MS: '500',
    HERALD_LOG_LEVEL: 'warn',
  };
  // The first request hangs past the shutdown grace period; later ones succeed.
  const receiver = await startReceiver({ responder: (_request, index) => (index === 0 ? 'hang' : { status: 200 }) });
  let herald = await spawnHerald(env);
  try {
    const api = apiClient(herald.url);
    const created = await api.post('/api/webhooks', {
      url: `${receiver.url}/slow`,
      events: ['tag_created'],
      secret: 'shutdown-secret',
    });
    const published = await api.post('/api/events', {
      eventName: 'tag_created',
      payload: { tenantId: 't', projectId: 'p', tagName: 'v1.0.0' },
    });
    assert.equal(published.status, 202);
    await receiver.waitForRequests(1);

    herald.process.kill('SIGTERM');
    assert.equal(await herald.exited, 0, herald.output());
    assert.match(herald.output(), /Herald stopped/);

    herald = await spawnHerald(env);
    const [, redelivery] = await receiver.waitForRequests(2, 15_000);
    assert.equal(redelivery.headers['webhook-id'], published.body.id);
    const history = await waitUntil(async () => {
      const list = await apiClient(herald.url).get(`/api/webhooks/${created.body.id}/deliveries`);
      return list.body.data[0]?.status === 'success' ? list.body.data : null;
    });
    // The cancelled try was not the receiver's fault, so it does not count as an attempt.
    assert.equal(history[0].attempts, 1);
  } finally {
    herald.process.kill('SIGKILL');
    await herald.exited;
    await receiver.close();
    removeDir(dataDir);
  }
});

test('a second Herald on the same SQLite data folder refuses to start', async () => {
  const dataDir = makeTempDir('herald-lock-');
  const env = { HERALD_DATA_DIR: dataDir, HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN, HERALD_LOG_LEVEL: 'warn' };
  const first = await spawnHerald(env);
  try {
    await assert.rejects(spawnHerald(env), /another Herald process/);
  } finally {
    first.process.kill('SIGTERM');
    await first.exited;
    removeDir(dataDir);
  }
});
