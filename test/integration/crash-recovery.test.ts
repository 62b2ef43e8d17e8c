import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, removeDir, startReceiver, waitUntil, type Receiver } from '../support/index.js';
import { apiClient, spawnHerald, TEST_ADMIN_TOKEN, type SpawnedHerald } from '../support/herald.js';

const BATCH_SIZE = 20;

function heraldEnv(dataDir: string): Record<string, string> {
  return {
    HERALD_DATA_DIR: dataDir,
    HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    HERALD_ALLOW_PRIVATE_NETWORKS: '1',
    HERALD_RETRY_SCHEDULE: '100ms',
    HERALD_LOG_LEVEL: 'warn',
    // Few slots, so plenty of deliveries are still pending when the process is killed.
    HERALD_MAX_IN_FLIGHT: '4',
    HERALD_MAX_IN_FLIGHT_PER_WEBHOOK: '4',
  };
}

/** Event ids the receiver saw, from the Standard Webhooks id header (the event id). */
function deliveredEventIds(receiver: Receiver): Set<string> {
  return new Set(receiver.requests.map((request) => String(request.headers['webhook-id'])));
}

async function killHard(herald: SpawnedHerald): Promise<void> {
  herald.process.kill('SIGKILL');
  assert.equal(await herald.exited, 'SIGKILL');
}

test('every acknowledged event is delivered after the process is SIGKILLed and restarted', async (t) => {
  const dataDir = makeTempDir('herald-crash-');
  // Slow answers keep deliveries in flight and pending at the moment of the kill.
  const receiver = await startReceiver({ responder: () => ({ status: 200, delayMs: 15 }) });
  let herald = await spawnHerald(heraldEnv(dataDir));
  try {
    const api = apiClient(herald.url);
    const created = await api.post('/api/webhooks', {
      url: `${receiver.url}/crash`,
      events: ['service_created'],
      secret: 'crash-test-secret',
    });
    assert.equal(created.status, 201);

    // Publish batches until the process dies under us; keep the ids of every 202.
    const acknowledged = new Set<string>();
    const publishing = (async () => {
      for (let batch = 0; batch < 50; batch++) {
        const events = Array.from({ length: BATCH_SIZE }, (_, index) => ({
          eventName: 'service_created',
          payload: { tenantId: 't', projectId: 'p', serviceName: `svc-${batch}-${index}` },
        }));
        try {
          const reply = await api.post('/api/events', { events });
          if (reply.status !== 202) throw new Error(`publish answered ${reply.status}`);
          for (const event of reply.body.events) acknowledged.add(event.id);
        } catch {
          return; // the process was killed mid-request: that batch was never acknowledged
        }
      }
    })();

    await waitUntil(() => acknowledged.size >= 200 && receiver.requests.length >= 10, {
      timeoutMs: 20_000,
      message: 'publishing and delivery did not get going',
    });
    await killHard(herald);
    await publishing;
    const deliveredBeforeKill = deliveredEventIds(receiver).size;
    assert.ok(deliveredBeforeKill < acknowledged.size, 'some deliveries must still be pending at the kill');

    herald = await spawnHerald(heraldEnv(dataDir));
    await waitUntil(() => [...acknowledged].every((id) => deliveredEventIds(receiver).has(id)), {
      timeoutMs: 30_000,
      message: 'not every acknowledged event arrived after the restart',
    });
    const duplicates = receiver.requests.length - deliveredEventIds(receiver).size;
    t.diagnostic(
      `acknowledged ${acknowledged.size}, delivered before kill ${deliveredBeforeKill}, duplicates ${duplicates}`,
    );

    // A batch the kill cut off may have been stored without its 202 reaching us: its
    // deliveries go out too, and nothing is left pending in the end.
    const restarted = apiClient(herald.url);
    await waitUntil(
      async () => {
        const pending = await restarted.get(`/api/webhooks/${created.body.id}/deliveries?status=pending`);
        return pending.body.data.length === 0;
      },
      { timeoutMs: 30_000, message: 'deliveries were left pending' },
    );
  } finally {
    if (herald.process.exitCode === null && herald.process.signalCode === null) await killHard(herald);
    await receiver.close();
    removeDir(dataDir);
  }
});
