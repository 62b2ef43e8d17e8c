import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { newId } from '../../src/core/ids.js';
import { instanceWebhook, waitUntil } from '../support/index.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { PostgresStore, type ClaimedBatch, type ClaimRequest } from '../../src/store/index.js';
import { DELIVERY_SESSION_SETTINGS, PRUNE_HISTORY_SQL } from '../../src/store/postgres/postgres-store.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';
import { storeContract, TEST_SECRETS } from './store-contract.js';

const schemas: string[] = [];
const lastSchema = () => schemas[schemas.length - 1];

/** A connection of its own, outside the store, to see the rows as stored. */
async function query(sql: string, params: unknown[] = []): Promise<Array<Record<string, string | null>>> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql.replace('webhooks', `"${lastSchema()}".webhooks`), params)).rows;
  } finally {
    await client.end();
  }
}

storeContract('postgres', {
  async open() {
    const schema = freshSchemaName();
    schemas.push(schema);
    return PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, secrets: TEST_SECRETS });
  },
  async reopen(secrets) {
    return PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema: lastSchema(), secrets });
  },
  async storedSecrets() {
    const rows = await query('SELECT secret, previous_secret FROM webhooks ORDER BY id');
    return rows.flatMap((row) => [row.secret, row.previous_secret]);
  },
  async writeStoredSecret(webhookId, secret) {
    await query('UPDATE webhooks SET secret = $1 WHERE id = $2', [secret, webhookId]);
  },
  async attemptRows() {
    const [row] = await query(`SELECT count(*) AS n FROM "${lastSchema()}".attempts`);
    return Number(row.n);
  },
  async deliveryRows() {
    const [row] = await query(`SELECT count(*) AS n FROM "${lastSchema()}".deliveries`);
    return Number(row.n);
  },
  async storedEventIds() {
    const rows = await query(`SELECT id FROM "${lastSchema()}".events ORDER BY id`);
    return rows.map((row) => row.id as string);
  },
  async cleanUp() {
    await dropSchemas(schemas.splice(0));
  },
});

describe('postgres store: several processes on one database', () => {
  const openShared = (schema: string) =>
    PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4, secrets: TEST_SECRETS });
  const mine: string[] = [];
  after(async () => dropSchemas(mine.splice(0)));

  /** `count` stores on one fresh schema, as processes sharing a database open it; closed after `use`. */
  async function withSharedStores(count: number, use: (stores: PostgresStore[], schema: string) => Promise<void>): Promise<void> {
    const schema = freshSchemaName();
    mine.push(schema);
    const stores = await Promise.all(Array.from({ length: count }, () => openShared(schema)));
    try {
      await use(stores, schema);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  }

  test('processes starting together migrate the schema exactly once', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const stores = await Promise.all([openShared(schema), openShared(schema), openShared(schema)]);
    for (const store of stores) assert.equal(await store.countTokens(), 0);
    await Promise.all(stores.map((store) => store.close()));
  });

  test('of processes starting together with different keys, all but the first key are refused', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const open = (fill: number) =>
      PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2, secrets: new SecretBox(Buffer.alloc(32, fill)) });
    const outcomes = await Promise.allSettled([open(1), open(2), open(3)]);
    const opened = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    assert.equal(opened.length, 1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') assert.match(String(outcome.reason), /encrypted with another key/);
    }
    await Promise.all(opened.map((outcome) => outcome.value.close()));
  });

  test('concurrent claimers never receive the same delivery', async () => {
    await withSharedStores(4, drainConcurrently);
  });

  test('concurrent publishes, resends and outcomes on the same webhooks all commit, none deadlocked', async () => {
    await withSharedStores(2, async (stores) => {
      const now = Date.now();
      const webhooks = [sharedWebhook(now), sharedWebhook(now)];
      for (const webhook of webhooks) await stores[0].insertWebhook(webhook);
      const event = () => ({ id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null });
      // Every publish adds to both webhooks' history counts: the rows every writer locks.
      const publishes = Array.from({ length: 48 }, (_, index) =>
        stores[index % 2].publishEvents({ events: [event(), event()], now }),
      );
      const outcomes = await Promise.allSettled(publishes);
      const failures = outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => String(outcome.reason));
      assert.deepEqual(failures, []);

      const claimed = await stores[0].claimDueDeliveries({
        workerId: 'worker-0', now, limit: 40, leaseMs: 60_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 10_000,
      });
      const records = claimed.map((delivery, index) => ({
        deliveryId: delivery.id, webhookId: delivery.webhook.id, eventName: delivery.eventName, startedAt: now,
        durationMs: 1, statusCode: index % 2 ? 200 : 500, error: null, requestHeaders: {}, responseBodyStart: '',
        next: index % 2 ? { kind: 'delivered' as const } : { kind: 'gave-up' as const },
      }));
      const mixed = await Promise.allSettled([
        ...records.map((record) => stores[0].recordAttempts('worker-0', [record])),
        ...Array.from({ length: 16 }, (_, index) => stores[index % 2].publishEvents({ events: [event()], now })),
        ...webhooks.map((webhook) => stores[1].resendDeliveries({ webhookId: webhook.id, now, failedSince: 0 })),
      ]);
      assert.deepEqual(mixed.filter((outcome) => outcome.status === 'rejected').map((outcome) => String(outcome.reason)), []);
      const histories = await Promise.all(webhooks.map((webhook) => stores[1].listDeliveries(webhook.id, { sort: 'newest' })));
      // Each webhook: its 48 * 2 + 8 published deliveries, plus whatever a resend found given up.
      for (const history of histories) assert.ok(history.length >= 48 * 2 + 8, `${history.length} deliveries`);
    });
  });

  test('outcome batches naming the same webhooks in opposite orders both commit, none deadlocked', async () => {
    await withSharedStores(2, async (stores, schema) => {
      const now = Date.now();
      const webhooks = Array.from({ length: 9 }, () => sharedWebhook(now));
      for (const webhook of webhooks) await stores[0].insertWebhook(webhook);
      const events = [0, 1].map(() => ({ id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null }));
      await stores[0].publishEvents({ events, now });
      const claimed = await stores[0].claimDueDeliveries({
        workerId: 'worker-0', now, limit: 100, leaseMs: 60_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 100,
      });
      assert.equal(claimed.length, 18);
      const batch = (eventId: string) =>
        claimed
          .filter((delivery) => delivery.eventId === eventId)
          .map((delivery) => ({
            deliveryId: delivery.id, webhookId: delivery.webhook.id, eventName: delivery.eventName, startedAt: now,
            durationMs: 1, statusCode: 200, error: null, requestHeaders: {}, responseBodyStart: '',
            next: { kind: 'delivered' as const },
          }))
          .sort((a, b) => (a.webhookId < b.webhookId ? -1 : 1));
      // The middle webhook's row is held, so that both writes are under way at once and stop
      // where they meet a row locked by another.
      const middle = webhooks.map((webhook) => webhook.id).sort()[4];
      const blocker = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query('SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE', [middle]);
        const outcomes = Promise.allSettled([
          stores[0].recordAttempts('worker-0', batch(events[0].id)),
          stores[1].recordAttempts('worker-0', batch(events[1].id).reverse()),
        ]);
        const waiting = await waitUntil(async () => {
          const found = await waitingOnLocks(blocker);
          return found.direct + found.behind === 2 ? found : null;
        });
        // Both lock in id order: one waits at the middle row, the other at the first row, which
        // the former holds. Each in its own order, they would both wait at the middle, each with
        // the other's next rows in hand: a deadlock once the middle is free.
        assert.deepEqual(waiting, { direct: 1, behind: 1 });
        await blocker.query('COMMIT');
        const failures = (await outcomes).filter((outcome) => outcome.status === 'rejected').map((outcome) => String(outcome.reason));
        assert.deepEqual(failures, []);
      } finally {
        await blocker.end();
      }
      for (const webhook of webhooks) {
        const history = await stores[1].listDeliveries(webhook.id, { sort: 'newest' });
        assert.deepEqual(history.map((delivery) => delivery.status), ['success', 'success']);
      }
    });
  });

  test('a webhook deleted while its outcomes are being written: both commit, none deadlocked', async () => {
    await withSharedStores(2, async (stores) => {
      // Each round races one delete against an outcome write touching the same webhook; the
      // delete lands at a different step of the write from round to round.
      for (let round = 0; round < 40; round++) {
        const now = Date.now();
        const doomed = sharedWebhook(now);
        const kept = sharedWebhook(now);
        for (const webhook of [doomed, kept]) await stores[0].insertWebhook(webhook);
        const events = Array.from({ length: 4 }, () => ({
          id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null,
        }));
        await stores[0].publishEvents({ events, now });
        const claimed = await stores[0].claimDueDeliveries({
          workerId: 'worker-0', now, limit: 100, leaseMs: 60_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 100,
        });
        assert.equal(claimed.length, 8);
        const records = claimed.map((delivery) => ({
          deliveryId: delivery.id, webhookId: delivery.webhook.id, eventName: delivery.eventName, startedAt: now,
          durationMs: 1, statusCode: 200, error: null, requestHeaders: {}, responseBodyStart: '',
          next: { kind: 'delivered' as const },
        }));
        const outcomes = await Promise.allSettled([
          stores[0].recordAttempts('worker-0', records),
          delay(round % 8).then(() => stores[1].deleteWebhook(doomed.id)),
        ]);
        assert.deepEqual(outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => String(outcome.reason)), []);
        assert.equal(await stores[1].getWebhook(doomed.id), null);
        assert.equal((await stores[1].listDeliveries(kept.id, { sort: 'newest' })).filter((d) => d.status === 'success').length, 4);
        await stores[1].deleteWebhook(kept.id); // the next round's events match only its own two
      }
    });
  });

  test('publishes racing a webhook\'s deletion leave no delivery of it behind', async () => {
    await withSharedStores(2, async (stores, schema) => {
      for (let round = 0; round < 20; round++) {
        const doomed = sharedWebhook(Date.now());
        await stores[0].insertWebhook(doomed);
        const publishes = Array.from({ length: 6 }, (_, index) =>
          delay(index).then(() =>
            stores[index % 2].publishEvents({
              events: Array.from({ length: 50 }, () => ({
                id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null,
              })),
              now: Date.now(),
            }),
          ),
        );
        const deleted = delay(round % 6).then(() => stores[1].deleteWebhook(doomed.id));
        await Promise.all([...publishes, deleted]);
      }
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM "${schema}".deliveries d
           WHERE NOT EXISTS (SELECT 1 FROM "${schema}".webhooks w WHERE w.id = d.webhook_id)`,
        );
        assert.equal(rows[0].n, 0);
      } finally {
        await client.end();
      }
    });
  });

  async function drainConcurrently(stores: PostgresStore[]): Promise<void> {
    const now = Date.now();
    await stores[0].insertWebhook(sharedWebhook(now));
    const events = Array.from({ length: 600 }, () => ({
      id: newId('evt'),
      eventName: 'project_created',
      body: '{}',
      tenantId: null,
      projectId: null,
    }));
    await stores[0].publishEvents({ events, now });

    const claimedBy = new Map<string, string>();
    const drain = async (store: PostgresStore, workerId: string) => {
      for (;;) {
        const batch = await store.claimDueDeliveries({
          workerId,
          now,
          limit: 25,
          leaseMs: 60_000,
          inFlightByWebhook: new Map(),
          maxInFlightPerWebhook: 10_000,
        });
        if (batch.length === 0) return;
        for (const delivery of batch) {
          assert.equal(claimedBy.has(delivery.id), false, `${delivery.id} claimed twice`);
          claimedBy.set(delivery.id, workerId);
        }
      }
    };
    await Promise.all(stores.map((store, index) => drain(store, `worker-${index}`)));
    assert.equal(claimedBy.size, 600);
  }

  test("a publish wakes the dispatchers of another process, and its own once: its own NOTIFY coming back is not a second wake", async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const [listener, publisher] = await Promise.all([openShared(schema), openShared(schema)]);
    const now = Date.now();
    await publisher.insertWebhook(sharedWebhook(now));
    let woken = 0;
    let wokenElsewhere = 0;
    publisher.onDeliveriesQueued(() => woken++);
    listener.onDeliveriesQueued(() => wokenElsewhere++);
    await publisher.publishEvents({
      events: [{ id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null }],
      now,
    });
    // The other process hearing it means the NOTIFY has been delivered to every listener.
    await waitUntil(() => wokenElsewhere > 0, { message: 'no notification arrived' });
    assert.equal(woken, 1);
    await Promise.all([listener.close(), publisher.close()]);
  });
});

describe('postgres store: delivery statements on a queue the planner has not measured', () => {
  const mine: string[] = [];
  after(async () => dropSchemas(mine.splice(0)));

  // The shapes of the claim's head and of the outcomes' match (see claimHeadFirst and
  // completeDeliveries), planned on a burst of due rows the table's statistics do not know of.
  const DUE_HEAD = `SELECT seq FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT 200 FOR UPDATE SKIP LOCKED`;
  const OUTCOME_MATCH = `UPDATE deliveries d SET claimed_by = NULL
    FROM json_to_recordset($1::json) AS r (id text) WHERE d.id = r.id AND d.claimed_by = $2`;

  test('walk the indexes after a burst, where an ordinary session reads every row', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const store = await PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, secrets: TEST_SECRETS });
    // No analysis may catch up with the burst while the test looks.
    await query(`ALTER TABLE "${schema}".deliveries SET (autovacuum_enabled = off)`);
    const now = Date.now();
    await store.insertWebhook(sharedWebhook(now));
    const events = Array.from({ length: 5_000 }, () => ({
      id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null,
    }));
    await store.publishEvents({ events, now });
    await store.close();
    const plans = async (settings: string) => {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}${settings}` });
      await client.connect();
      try {
        const explain = async (sql: string, params: unknown[]) =>
          (await client.query(`EXPLAIN ${sql}`, params)).rows.map((row) => row['QUERY PLAN'] as string).join('\n');
        return [await explain(DUE_HEAD, [now]), await explain(OUTCOME_MATCH, ['[]', 'worker'])];
      } finally {
        await client.end();
      }
    };
    const readsEveryRow = /Seq Scan on deliveries|Bitmap Heap Scan on deliveries/;
    const ordinary = await plans('');
    assert.ok(ordinary.some((plan) => readsEveryRow.test(plan)), `the burst should mislead an ordinary session:\n${ordinary.join('\n')}`);
    for (const plan of await plans(DELIVERY_SESSION_SETTINGS)) assert.doesNotMatch(plan, readsEveryRow);
  });
});

describe('postgres store: the schema', () => {
  const mine: string[] = [];
  after(async () => dropSchemas(mine.splice(0)));

  /** A fresh schema the store has opened (and so migrated) and closed again. */
  async function migratedSchema(): Promise<string> {
    const schema = freshSchemaName();
    mine.push(schema);
    const store = await PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, secrets: TEST_SECRETS });
    await store.close();
    return schema;
  }

  test('deliveries and attempts carry no foreign key: the store keeps them whole itself, once per statement', async () => {
    const schema = await migratedSchema();
    const rows = await query(
      `SELECT table_name FROM information_schema.table_constraints
       WHERE constraint_schema = $1 AND constraint_type = 'FOREIGN KEY' ORDER BY table_name`,
      [schema],
    );
    // Subscriptions keep theirs: they change with a webhook's settings, never per event.
    assert.deepEqual(rows.map((row) => row.table_name), ['webhook_events']);
  });

  test('a delivery row is in four indexes, none by event or by seq alone: each is written at every claim and outcome', async () => {
    const schema = await migratedSchema();
    const rows = await query('SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname', [
      schema,
      'deliveries',
    ]);
    assert.deepEqual(
      rows.map((row) => row.indexname),
      ['deliveries_by_webhook', 'deliveries_due', 'deliveries_id_key', 'deliveries_pending_by_webhook'],
    );
    // Without a primary key, the unique id identifies a row for logical replication.
    const [identity] = await query(
      `SELECT c.relreplident AS kind, i.relname AS index FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_index x ON x.indrelid = c.oid AND x.indisreplident JOIN pg_class i ON i.oid = x.indexrelid
       WHERE n.nspname = $1 AND c.relname = 'deliveries'`,
      [schema],
    );
    assert.deepEqual({ ...identity }, { kind: 'i', index: 'deliveries_id_key' });
  });

  test('webhook pages keep half their room for the new versions outcomes write', async () => {
    const schema = await migratedSchema();
    const [row] = await query(
      `SELECT c.reloptions::text AS options FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, 'webhooks'],
    );
    assert.equal(row.options, '{fillfactor=50}');
  });

  test('the ids a delivery indexes compare byte by byte, whatever the database collation', async () => {
    const schema = await migratedSchema();
    const rows = await query(
      `SELECT table_name || '.' || column_name AS id_column, collation_name FROM information_schema.columns
       WHERE table_schema = $1 AND (column_name IN ('id', 'webhook_id', 'event_id', 'delivery_id'))
         AND table_name = ANY ($2)
       ORDER BY 1`,
      [schema, ['webhooks', 'webhook_events', 'events', 'deliveries', 'attempts']],
    );
    assert.deepEqual(
      rows.map((row) => `${row.id_column} ${row.collation_name}`),
      ['attempts.delivery_id C', 'deliveries.event_id C', 'deliveries.id C', 'deliveries.webhook_id C', 'events.id C', 'webhook_events.webhook_id C', 'webhooks.id C'],
    );
  });
});

describe('postgres store: pruning a history', () => {
  const mine: string[] = [];
  after(async () => dropSchemas(mine.splice(0)));

  /** Index entries a plan read, kept or filtered out, over its nodes on `index`. */
  function entriesRead(node: Record<string, unknown>, index: string): number {
    const perLoop = (node['Actual Rows'] as number) + ((node['Rows Removed by Filter'] as number | undefined) ?? 0);
    const own = node['Index Name'] === index ? perLoop * (node['Actual Loops'] as number) : 0;
    const children = (node.Plans as Array<Record<string, unknown>> | undefined) ?? [];
    return children.reduce((sum, child) => sum + entriesRead(child, index), own);
  }

  test('reads the finished deliveries it deletes, not the pending backlog behind them', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const store = await PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, secrets: TEST_SECRETS });
    const now = Date.now();
    const target = sharedWebhook(now);
    await store.insertWebhook(target);
    const publish = (count: number) =>
      store.publishEvents({
        events: Array.from({ length: count }, () => ({ id: newId('evt'), eventName: 'project_created', body: '{}', tenantId: null, projectId: null })),
        now,
      });
    await publish(300);
    const claimed = await store.claimDueDeliveries({
      workerId: 'w', now, limit: 1_000, leaseMs: 60_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 1_000,
    });
    const outcome = (deliveryId: string) => ({
      deliveryId, webhookId: target.id, eventName: 'project_created', startedAt: now, durationMs: 1,
      statusCode: 200, error: null, requestHeaders: {}, responseBodyStart: null, next: { kind: 'delivered' as const },
    });
    // 300 finished: under the limit and its margin, so nothing is pruned yet.
    await store.recordAttempts('w', claimed.map((delivery) => outcome(delivery.id)));
    await publish(3_000);
    await store.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}${DELIVERY_SESSION_SETTINGS}` });
    await client.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${PRUNE_HISTORY_SQL}`, [target.id, 100]);
      await client.query('ROLLBACK');
      const plan = (rows[0]['QUERY PLAN'] as Array<{ Plan: Record<string, unknown> }>)[0].Plan;
      const read = entriesRead(plan, 'deliveries_by_webhook');
      assert.ok(read >= 100 && read <= 110, `pruning 100 of 300 finished deliveries read ${read} entries of the webhook's index`);
    } finally {
      await client.end();
    }
  });
});

describe('postgres store: a publish that claims for its own dispatcher', () => {
  const mine: string[] = [];
  after(async () => dropSchemas(mine.splice(0)));
  const NOW = 1_800_000_000_000;
  const LEASE_MS = 60_000;

  async function openStore(): Promise<PostgresStore> {
    const schema = freshSchemaName();
    mine.push(schema);
    return PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, secrets: TEST_SECRETS });
  }

  function claimFor(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
    return {
      workerId: 'publisher', now: NOW, limit: 1_000, leaseMs: LEASE_MS,
      inFlightByWebhook: new Map(), maxInFlightPerWebhook: 10, ...overrides,
    };
  }

  const events = (count: number) =>
    Array.from({ length: count }, (_, index) => ({
      id: newId('evt'), eventName: 'project_created', body: `{"n":${index}}`, tenantId: null, projectId: null,
    }));

  /** Stores `count` webhooks hearing every project_created, sorted by id (the order a publish fans out in). */
  async function webhooks(store: PostgresStore, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let index = 0; index < count; index++) {
      const webhook = instanceWebhook({ secret: `secret-${index}` }, NOW);
      await store.insertWebhook(webhook);
      ids.push(webhook.id);
    }
    return ids.sort();
  }

  /** Publishes `count` events with `claim`, and returns the batch the publish claimed. */
  async function publishClaimed(store: PostgresStore, count: number, claim = claimFor()): Promise<ClaimedBatch> {
    const outcome = await store.publishEvents({ events: events(count), now: NOW, claimFor: claim });
    assert.ok(outcome.kind === 'published' && outcome.claimed, 'the publish claimed nothing');
    return outcome.claimed;
  }

  const ordinaryClaim = (store: PostgresStore, now = NOW) =>
    store.claimDueDeliveries({
      workerId: 'another', now, limit: 1_000, leaseMs: 30_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 1_000,
    });

  test('creates the deliveries claimed, and reads them back in order, page by page, with bodies and secrets', async () => {
    const store = await openStore();
    const webhookIds = await webhooks(store, 3);
    const batch = await publishClaimed(store, 2);
    assert.equal(batch.count, 6);
    assert.equal(batch.leaseEndsAt, NOW + LEASE_MS);
    assert.deepEqual(await ordinaryClaim(store), [], 'no other worker may take them');

    const first = await store.readClaimedBatch('publisher', batch, null, 4, NOW);
    assert.equal(first.read, 4);
    const second = await store.readClaimedBatch('publisher', batch, first.lastId, 4, NOW);
    assert.equal(second.read, 2, 'a short page: the batch is done');
    const read = [...first.deliveries, ...second.deliveries];
    // Event by event, each to the webhooks in id order: the publish's order.
    assert.deepEqual(read.map((delivery) => [JSON.parse(delivery.body).n, delivery.webhook.id]), [
      [0, webhookIds[0]], [0, webhookIds[1]], [0, webhookIds[2]],
      [1, webhookIds[0]], [1, webhookIds[1]], [1, webhookIds[2]],
    ]);
    assert.ok(read.every((delivery) => /^secret-\d$/.test(delivery.webhook.secret) && delivery.attemptsMade === 0));
    assert.deepEqual(await store.readClaimedBatch('another', batch, null, 10, NOW), { deliveries: [], inactive: [], lastId: null, read: 0 });
    await store.close();
  });

  test('claims only what a claim would take: the first `limit`, each webhook up to its free slots', async () => {
    const store = await openStore();
    const [busy, full, free] = await webhooks(store, 3);
    const claim = claimFor({ limit: 4, maxInFlightPerWebhook: 3, inFlightByWebhook: new Map([[busy, 1], [full, 3]]) });
    const page = await store.readClaimedBatch('publisher', await publishClaimed(store, 3, claim), null, 100, NOW);
    // busy has 2 free slots, full none, free 3; the limit stops at the fourth, in publish order.
    assert.deepEqual(page.deliveries.map((delivery) => delivery.webhook.id), [busy, free, busy, free]);
    const others = await ordinaryClaim(store);
    assert.deepEqual(others.map((delivery) => delivery.webhook.id).sort(), [busy, full, full, full, free].sort(), 'the rest are due for anyone');
    await store.close();
  });

  test("the batch is only what the publish claimed, not the worker's own ordinary claims of the rest", async () => {
    const store = await openStore();
    await webhooks(store, 1);
    const batch = await publishClaimed(store, 3, claimFor({ maxInFlightPerWebhook: 1 }));
    assert.equal(batch.count, 1);
    const ordinary = await store.claimDueDeliveries({
      workerId: 'publisher', now: NOW, limit: 10, leaseMs: 30_000, inFlightByWebhook: new Map(), maxInFlightPerWebhook: 10,
    });
    assert.equal(ordinary.length, 2);
    const page = await store.readClaimedBatch('publisher', batch, null, 10, NOW);
    assert.deepEqual(page.deliveries.map((delivery) => JSON.parse(delivery.body).n), [0]);
    await store.releaseClaimedBatch('publisher', batch, null, NOW);
    assert.deepEqual(
      (await ordinaryClaim(store, NOW + 1)).map((delivery) => JSON.parse(delivery.body).n),
      [0],
      'giving the batch back leaves the ordinary claims alone',
    );
    await store.close();
  });

  test('without claimFor, or with a limit of 0, nothing is claimed', async () => {
    const store = await openStore();
    await webhooks(store, 2);
    const plain = await store.publishEvents({ events: events(1), now: NOW });
    const none = await store.publishEvents({ events: events(1), now: NOW, claimFor: claimFor({ limit: 0 }) });
    assert.ok(plain.kind === 'published' && plain.claimed === undefined);
    assert.ok(none.kind === 'published' && none.claimed === undefined);
    assert.equal((await ordinaryClaim(store)).length, 4);
    await store.close();
  });

  test('a webhook set inactive after the publish comes back as inactive, not to be sent', async () => {
    const store = await openStore();
    const [paused, live] = await webhooks(store, 2);
    const batch = await publishClaimed(store, 1);
    await store.updateWebhook(paused, { active: false }, NOW);
    const page = await store.readClaimedBatch('publisher', batch, null, 10, NOW);
    assert.deepEqual(page.deliveries.map((delivery) => delivery.webhook.id), [live]);
    assert.equal(page.inactive.length, 1);
    assert.equal(page.read, 2);
    await store.releaseClaims('publisher', page.inactive, NOW);
    await store.updateWebhook(paused, { active: true }, NOW);
    assert.deepEqual((await ordinaryClaim(store)).map((delivery) => delivery.id), page.inactive);
    await store.close();
  });

  test('giving back the rest of a batch makes it due at once for anyone; what was read stays claimed', async () => {
    const store = await openStore();
    await webhooks(store, 4);
    const batch = await publishClaimed(store, 1);
    const page = await store.readClaimedBatch('publisher', batch, null, 1, NOW);
    await store.releaseClaimedBatch('another', batch, page.lastId, NOW + 5);
    assert.deepEqual(await ordinaryClaim(store, NOW + 5), [], 'only the claim\'s own worker gives it back');
    await store.releaseClaimedBatch('publisher', batch, page.lastId, NOW + 5);
    const rest = await ordinaryClaim(store, NOW + 5);
    assert.equal(rest.length, 3);
    assert.ok(!rest.some((delivery) => delivery.id === page.deliveries[0].id));
    await store.close();
  });

  test('a claimed batch nobody reads falls due again when its lease ends', async () => {
    const store = await openStore();
    await webhooks(store, 2);
    await publishClaimed(store, 1);
    assert.deepEqual(await ordinaryClaim(store, NOW + LEASE_MS - 1), []);
    assert.equal((await ordinaryClaim(store, NOW + LEASE_MS)).length, 2);
    await store.close();
  });

  test('a publish claimed whole wakes no other process; one with deliveries left for them does', async () => {
    const schema = freshSchemaName();
    mine.push(schema);
    const open = () => PostgresStore.open({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2, secrets: TEST_SECRETS });
    const [listener, publisher] = await Promise.all([open(), open()]);
    await webhooks(publisher, 2);
    let woken = 0;
    listener.onDeliveriesQueued(() => woken++);
    await publisher.publishEvents({ events: events(1), now: NOW, claimFor: claimFor() });
    await publisher.publishEvents({ events: events(1), now: NOW, claimFor: claimFor({ limit: 1 }) });
    await waitUntil(() => woken > 0, { message: 'the second publish woke nobody' });
    // NOTIFYs arrive in commit order: the first publish's would have come before the second's.
    await delay(100);
    assert.equal(woken, 1);
    await Promise.all([listener.close(), publisher.close()]);
  });
});

function sharedWebhook(now: number) {
  return instanceWebhook({ secret: 'shared-secret' }, now);
}

/**
 * Sessions waiting for a lock `client`'s session holds: directly, or behind a session that
 * waits for it directly.
 */
async function waitingOnLocks(client: pg.Client): Promise<{ direct: number; behind: number }> {
  // Within a transaction the activity view keeps what it showed first, unless told to look again.
  await client.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await client.query(
    `WITH waits AS (SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity)
     SELECT count(*) FILTER (WHERE pg_backend_pid() = ANY (w.blockers))::int AS direct,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM waits o WHERE o.pid = ANY (w.blockers) AND pg_backend_pid() = ANY (o.blockers)))::int AS behind
     FROM waits w`,
  );
  return rows[0] as { direct: number; behind: number };
}
