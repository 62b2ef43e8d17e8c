import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/core/ids.js';
import { instanceWebhook } from '../support/fixtures.js';
import { isEncrypted, SecretBox } from '../../src/core/secret-box.js';
import { webhookHearsEvent, type WebhookWithSecret } from '../../src/core/types.js';
import { HISTORY_LIMIT, type AttemptRecord, type ClaimRequest, type Store } from '../../src/store/index.js';
import { HISTORY_PRUNE_MARGIN } from '../../src/store/tuning.js';

export interface StoreHarness {
  /** A store on a fresh, empty, migrated database, its secrets under TEST_SECRETS. */
  open(): Promise<Store>;
  /** The database `open` created last, opened again (its store closed first) with `secrets`. */
  reopen(secrets: SecretBox): Promise<Store>;
  /** The `secret` and `previous_secret` columns of the last database, as stored. */
  storedSecrets(): Promise<Array<string | null>>;
  /** Writes a webhook's secret column as is, the way Herald did before it encrypted them. */
  writeStoredSecret(webhookId: string, secret: string): Promise<void>;
  /** Rows in the last database's attempts table. */
  attemptRows(): Promise<number>;
  /** Rows in the last database's deliveries table. */
  deliveryRows(): Promise<number>;
  /** The ids in the last database's events table, sorted. */
  storedEventIds(): Promise<string[]>;
  cleanUp(): Promise<void>;
}

const TEST_KEY = Buffer.alloc(32, 0x5a);
export const TEST_SECRETS = new SecretBox(TEST_KEY, 'the test key');
const OTHER_KEY = Buffer.alloc(32, 0xa5);

const NOW = 1_800_000_000_000;

function webhook(overrides: Partial<WebhookWithSecret> = {}): WebhookWithSecret {
  return instanceWebhook({ secret: 'contract-secret', ...overrides }, NOW);
}

function event(eventName = 'project_created', tenantId: string | null = 't1', projectId: string | null = 'p1') {
  const id = newId('evt');
  return { id, eventName, tenantId, projectId, body: JSON.stringify({ eventName, eventTimestamp: NOW, payload: { tenantId, projectId } }) };
}

function claimRequest(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    workerId: 'worker-a',
    now: NOW,
    limit: 100,
    leaseMs: 30_000,
    inFlightByWebhook: new Map(),
    maxInFlightPerWebhook: 1_000,
    ...overrides,
  };
}

function delivered(deliveryId: string, webhookId: string, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    deliveryId,
    webhookId,
    eventName: 'project_created',
    startedAt: NOW,
    durationMs: 12,
    statusCode: 200,
    error: null,
    requestHeaders: { 'content-type': 'application/json' },
    responseBodyStart: 'ok',
    next: { kind: 'delivered' },
    ...overrides,
  };
}

/** The behaviour every store must have. Each store implementation runs this same suite. */
export function storeContract(name: string, harness: StoreHarness): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await harness.open();
    });
    after(async () => harness.cleanUp());

    test('webhooks round-trip, update and delete', async () => {
      const created = webhook({ name: 'n', tenantId: 't1', events: ['tag_created', 'project_created'] });
      await store.insertWebhook(created);
      const read = await store.getWebhook(created.id);
      assert.deepEqual(read?.events, ['project_created', 'tag_created']);
      assert.equal(read?.lastEvent, null);
      assert.equal('secret' in (read as object), false, 'reads never carry the secret');
      const updated = await store.updateWebhook(created.id, { active: false, events: ['tag_deleted'] }, NOW + 1);
      assert.equal(updated?.active, false);
      assert.deepEqual(updated?.events, ['tag_deleted']);
      assert.equal(updated?.updatedAt, NOW + 1);
      assert.equal(await store.updateWebhook('wh_missing', { active: true }, NOW), null);
      assert.equal(await store.deleteWebhook(created.id), true);
      assert.equal(await store.getWebhook(created.id), null);
      assert.equal(await store.deleteWebhook(created.id), false);
      await store.close();
    });

    test('list and count filter by tenant, project, scope and event; the list pages by id', async () => {
      const instance = webhook();
      const company = webhook({ tenantId: 't1', events: ['tag_created'] });
      const project = webhook({ tenantId: 't1', projectId: 'p1' });
      for (const item of [instance, company, project]) await store.insertWebhook(item);
      const ids = async (filter: Parameters<Store['listWebhooks']>[0]) =>
        (await store.listWebhooks(filter)).map((item) => item.id);
      assert.deepEqual(await ids({ limit: 10, scope: 'instance' }), [instance.id]);
      assert.deepEqual(await ids({ limit: 10, scope: 'company' }), [company.id]);
      assert.deepEqual(await ids({ limit: 10, scope: 'project' }), [project.id]);
      assert.deepEqual(await ids({ limit: 10, tenantId: 't1' }), [company.id, project.id]);
      assert.deepEqual(await ids({ limit: 10, projectId: 'p1' }), [project.id]);
      assert.deepEqual(await ids({ limit: 10, event: 'tag_created' }), [company.id]);
      const firstPage = await ids({ limit: 2 });
      assert.equal(firstPage.length, 2);
      assert.deepEqual(await ids({ limit: 2, after: firstPage[1] }), [project.id]);
      assert.equal(await store.countWebhooks({}), 3);
      assert.equal(await store.countWebhooks({ scope: 'company', tenantId: 't1' }), 1);
      assert.equal(await store.countWebhooks({ scope: 'project', tenantId: 't1', projectId: 'p1' }), 1);
      assert.equal(await store.countWebhooks({ scope: 'project', tenantId: 't1', projectId: 'p2' }), 0);
      assert.equal(await store.countWebhooks({ event: 'tag_created' }), 1);
      await store.close();
    });

    test('fan-out matches the scope rule for every webhook and event combination', async () => {
      const tenants = [null, 't1', 't2'];
      const hooks: WebhookWithSecret[] = [];
      for (const tenantId of tenants) {
        for (const projectId of tenantId ? [null, 'p1', 'p2'] : [null]) {
          for (const active of [true, false]) hooks.push(webhook({ tenantId, projectId, active }));
        }
      }
      for (const item of hooks) await store.insertWebhook(item);
      const scopes = tenants.flatMap((tenantId) => [null, 'p1', 'p2'].map((projectId) => ({ tenantId, projectId })));
      for (const { tenantId, projectId } of scopes) {
        const published = await store.publishEvents({ events: [event('project_created', tenantId, projectId)], now: NOW });
        assert.equal(published.kind, 'published');
        const expected = hooks.filter((item) => webhookHearsEvent(item, 'project_created', { tenantId, projectId }));
        assert.equal(published.kind === 'published' && published.events[0].deliveries, expected.length, `${tenantId}/${projectId}`);
      }
      // The same in one batch, each scope twice and in turn, beside an event no webhook hears.
      const batch = [...scopes, ...scopes].map(({ tenantId, projectId }) => event('project_created', tenantId, projectId));
      batch.splice(3, 0, event('tag_created', 't1', 'p1'));
      const published = await store.publishEvents({ events: batch, now: NOW });
      assert.equal(published.kind, 'published');
      const expected = batch.map((item) =>
        hooks.filter((hook) => webhookHearsEvent(hook, item.eventName, { tenantId: item.tenantId, projectId: item.projectId })).length,
      );
      assert.deepEqual(published.kind === 'published' && published.events.map((item) => item.deliveries), expected);
      await store.close();
    });

    test('an event body is claimed as it was published, whatever characters it holds', async () => {
      const target = webhook({ events: ['project_created'] });
      await store.insertWebhook(target);
      const bodies = ['{"q":"say \\"hi\\"","path":"C:\\\\x"}', '{"text":"línea 1\\nзаписка 🚀 \\u0000 end"}', '{}'];
      const events = bodies.map((body) => ({ ...event(), body }));
      await store.publishEvents({ events, now: NOW });
      const claimed = await store.claimDueDeliveries(claimRequest());
      const bodyOf = new Map(claimed.map((delivery) => [delivery.eventId, delivery.body]));
      assert.deepEqual(events.map((item) => bodyOf.get(item.id)), bodies);
      await store.close();
    });

    test('an outcome keeps the request headers as they were sent', async () => {
      const target = webhook({ events: ['project_created'] });
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await store.claimDueDeliveries(claimRequest());
      const requestHeaders = { 'content-type': 'application/json', 'x-note': 'say "hi" \\ café', 'webhook-id': claimed.eventId };
      await store.recordAttempts('worker-a', [delivered(claimed.id, target.id, { requestHeaders })]);
      assert.deepEqual((await store.getDelivery(target.id, claimed.id))?.requestHeaders, requestHeaders);
      // A lone surrogate (a content type may hold one) is kept as UTF-8 sends it: U+FFFD.
      await store.publishEvents({ events: [event()], now: NOW });
      const [odd] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [delivered(odd.id, target.id, { requestHeaders: { 'content-type': 'text/x\ud800' } })]);
      assert.deepEqual((await store.getDelivery(target.id, odd.id))?.requestHeaders, { 'content-type': 'text/x\ufffd' });
      await store.close();
    });

    test('claims hand each due delivery to one worker until its lease lapses', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event(), event()], now: NOW });
      const first = await store.claimDueDeliveries(claimRequest());
      assert.equal(first.length, 2);
      assert.equal(first[0].webhook.secret, 'contract-secret');
      assert.match(first[0].body, /project_created/);
      assert.deepEqual(await store.claimDueDeliveries(claimRequest({ workerId: 'worker-b' })), []);
      const afterLease = await store.claimDueDeliveries(claimRequest({ workerId: 'worker-b', now: NOW + 30_001 }));
      assert.equal(afterLease.length, 2, 'a lapsed claim is taken over');
      // The first worker lost its claim: its late result is ignored.
      await store.recordAttempts('worker-a', [delivered(first[0].id, target.id)]);
      const [row] = (await store.listDeliveries(target.id, { sort: 'oldest' })).filter((item) => item.id === first[0].id);
      assert.equal(row.status, 'pending');
      await store.recordAttempts('worker-b', [delivered(first[0].id, target.id)]);
      const [done] = (await store.listDeliveries(target.id, { sort: 'oldest' })).filter((item) => item.id === first[0].id);
      assert.equal(done.status, 'success');
      assert.equal(done.attempts, 1);
      await store.close();
    });

    test('claims respect the per-webhook in-flight cap', async () => {
      const busy = webhook();
      const quiet = webhook();
      await store.insertWebhook(busy);
      await store.insertWebhook(quiet);
      await store.publishEvents({ events: Array.from({ length: 10 }, () => event()), now: NOW });
      const claimed = await store.claimDueDeliveries(
        claimRequest({ maxInFlightPerWebhook: 3, inFlightByWebhook: new Map([[busy.id, 2]]) }),
      );
      const perWebhook = (id: string) => claimed.filter((item) => item.webhook.id === id).length;
      assert.equal(perWebhook(busy.id), 1);
      assert.equal(perWebhook(quiet.id), 3);
      const saturated = await store.claimDueDeliveries(
        claimRequest({ maxInFlightPerWebhook: 3, inFlightByWebhook: new Map([[busy.id, 3], [quiet.id, 3]]) }),
      );
      assert.equal(saturated.length, 0);
      await store.close();
    });

    test('retries come due at their time; released claims are due at once', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event(), event()], now: NOW });
      const [retrying, released] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [
        delivered(retrying.id, target.id, {
          statusCode: 503,
          error: { code: 'http_status', message: 'HTTP 503' },
          next: { kind: 'retry', at: NOW + 5_000 },
        }),
      ]);
      await store.releaseClaims('worker-a', [released.id], NOW + 1);
      assert.equal(await store.nextDueAt(), NOW + 1);
      const again = await store.claimDueDeliveries(claimRequest({ now: NOW + 2 }));
      assert.deepEqual(again.map((item) => item.id), [released.id]);
      assert.equal(again[0].attemptsMade, 0, 'a released claim is not an attempt');
      const later = await store.claimDueDeliveries(claimRequest({ now: NOW + 5_000 }));
      assert.deepEqual(later.map((item) => item.id), [retrying.id]);
      assert.equal(later[0].attemptsMade, 1);
      const detail = await store.getDelivery(target.id, retrying.id);
      assert.equal(detail?.attemptLog.length, 1);
      assert.equal(detail?.attemptLog[0].statusCode, 503);
      await store.close();
    });

    test('an answer whose body holds NUL characters is recorded, each NUL shown as U+FFFD', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event(), event()], now: NOW });
      const [nul, plain] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [
        delivered(nul.id, target.id, { responseBodyStart: 'a\u0000b\u0000' }),
        delivered(plain.id, target.id),
      ]);
      assert.equal((await store.getDelivery(target.id, nul.id))?.responseBody, 'a\uFFFDb\uFFFD');
      assert.equal((await store.getDelivery(target.id, plain.id))?.responseBody, 'ok');
      await store.close();
    });

    test('the attempt log lists every attempt; only those a retry followed take a row of their own', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event(), event(), event()], now: NOW });
      const [retried, failed, succeeded] = await store.claimDueDeliveries(claimRequest());
      const unavailable = { statusCode: 503, error: { code: 'http_status' as const, message: 'HTTP 503' } };
      await store.recordAttempts('worker-a', [
        delivered(retried.id, target.id, { ...unavailable, next: { kind: 'retry', at: NOW + 5_000 } }),
        delivered(failed.id, target.id, { ...unavailable, durationMs: 7, next: { kind: 'gave-up' } }),
        delivered(succeeded.id, target.id),
      ]);
      const [again] = await store.claimDueDeliveries(claimRequest({ now: NOW + 5_000 }));
      await store.recordAttempts('worker-a', [delivered(again.id, target.id, { startedAt: NOW + 5_001, durationMs: 30 })]);

      const log = async (id: string) => (await store.getDelivery(target.id, id))?.attemptLog;
      assert.deepEqual(await log(retried.id), [
        { attempt: 1, startedAt: NOW, durationMs: 12, statusCode: 503, error: unavailable.error },
        { attempt: 2, startedAt: NOW + 5_001, durationMs: 30, statusCode: 200, error: null },
      ]);
      assert.deepEqual(await log(failed.id), [{ attempt: 1, startedAt: NOW, durationMs: 7, statusCode: 503, error: unavailable.error }]);
      assert.deepEqual(await log(succeeded.id), [{ attempt: 1, startedAt: NOW, durationMs: 12, statusCode: 200, error: null }]);
      assert.equal(await harness.attemptRows(), 1, 'the retried delivery\'s first attempt; last attempts stay on the delivery');
      await store.close();
    });

    test('the next due time can leave out webhooks without a free slot', async () => {
      const saturated = webhook();
      const other = webhook({ events: ['tag_created'] });
      await store.insertWebhook(saturated);
      await store.insertWebhook(other);
      await store.publishEvents({ events: [event()], now: NOW });
      await store.publishEvents({ events: [event('tag_created')], now: NOW + 7_000 });
      assert.equal(await store.nextDueAt(), NOW);
      assert.equal(await store.nextDueAt([saturated.id]), NOW + 7_000);
      assert.equal(await store.nextDueAt([saturated.id, other.id]), null);
      await store.close();
    });

    test('a long backlog that cannot be taken now does not hide other webhooks\' due work', async () => {
      // More due rows than a claim's window, all of a webhook without free slots or an inactive
      // one, ahead of one delivery of a third webhook.
      const hog = webhook();
      const paused = webhook();
      const other = webhook({ events: ['tag_created'] });
      for (const item of [hog, paused, other]) await store.insertWebhook(item);
      for (let batch = 0; batch < 3; batch++) {
        await store.publishEvents({ events: Array.from({ length: 200 }, () => event()), now: NOW });
      }
      await store.updateWebhook(paused.id, { active: false }, NOW);
      await store.publishEvents({ events: [event('tag_created')], now: NOW + 1 });
      const at = NOW + 10;

      const hogFull = new Map([[hog.id, 5]]);
      const claimed = await store.claimDueDeliveries(claimRequest({ now: at, maxInFlightPerWebhook: 5, inFlightByWebhook: hogFull }));
      assert.deepEqual(claimed.map((item) => item.webhook.id), [other.id]);
      assert.equal(await store.nextDueAt([hog.id]), null, 'the paused backlog waits, the hog has no slot, the third is claimed');
      assert.equal(await store.nextDueAt(), NOW);

      await store.releaseClaims('worker-a', [claimed[0].id], at);
      const hogHalf = new Map([[hog.id, 3]]);
      const mixed = await store.claimDueDeliveries(claimRequest({ now: at, maxInFlightPerWebhook: 5, inFlightByWebhook: hogHalf }));
      const perWebhook = (id: string) => mixed.filter((item) => item.webhook.id === id).length;
      assert.equal(perWebhook(hog.id), 2, 'the hog gets its two free slots');
      assert.equal(perWebhook(other.id), 1);
      assert.equal(perWebhook(paused.id), 0);
      await store.close();
    });

    test('a held-up backlog shorter than the window does not hide other webhooks\' due work', async () => {
      // Fewer due rows than a claim's window (200 for a limit of 100), most of them a webhook's
      // without free slots: the window passes over them and the per-webhook look finds the rest.
      const hog = webhook();
      const other = webhook({ events: ['tag_created'] });
      for (const item of [hog, other]) await store.insertWebhook(item);
      await store.publishEvents({ events: Array.from({ length: 150 }, () => event()), now: NOW });
      await store.publishEvents({ events: [event('tag_created'), event('tag_created')], now: NOW + 1 });
      const at = NOW + 10;

      const hogFull = new Map([[hog.id, 5]]);
      const first = await store.claimDueDeliveries(claimRequest({ now: at, maxInFlightPerWebhook: 5, inFlightByWebhook: hogFull }));
      assert.deepEqual(first.map((item) => item.webhook.id), [other.id, other.id]);
      const busy = new Map([[hog.id, 5], [other.id, 2]]);
      const second = await store.claimDueDeliveries(claimRequest({ now: at, maxInFlightPerWebhook: 5, inFlightByWebhook: busy }));
      assert.deepEqual(second, [], 'every due delivery is held up or claimed');
      const hogFree = new Map([[hog.id, 2], [other.id, 2]]);
      const third = await store.claimDueDeliveries(claimRequest({ now: at, maxInFlightPerWebhook: 5, inFlightByWebhook: hogFree }));
      assert.deepEqual(third.map((item) => item.webhook.id), [hog.id, hog.id, hog.id], 'the hog gets its three free slots');
      await store.close();
    });

    test('the last outcome shows on the webhook', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [
        delivered(claimed.id, target.id, {
          statusCode: 500,
          error: { code: 'http_status', message: 'HTTP 500' },
          next: { kind: 'gave-up' },
        }),
      ]);
      const read = await store.getWebhook(target.id);
      assert.deepEqual(read?.lastEvent, { eventName: 'project_created', status: 'error', statusCode: 500, dispatchedAt: NOW });
      await store.close();
    });

    test('an outcome written late does not replace a newer last outcome', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event(), event()], now: NOW });
      const [first, second] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [delivered(second.id, target.id, { startedAt: NOW + 20 })]);
      await store.recordAttempts('worker-a', [
        delivered(first.id, target.id, {
          startedAt: NOW + 10,
          statusCode: 500,
          error: { code: 'http_status', message: 'HTTP 500' },
          next: { kind: 'gave-up' },
        }),
      ]);
      const read = await store.getWebhook(target.id);
      assert.deepEqual(read?.lastEvent, { eventName: 'project_created', status: 'success', statusCode: 200, dispatchedAt: NOW + 20 });
      const history = await store.listDeliveries(target.id, { sort: 'newest' });
      assert.deepEqual(history.map((item) => item.status).sort(), ['error', 'success']);
      await store.close();
    });

    test(`history keeps the newest ${HISTORY_LIMIT} finished deliveries and every pending one`, async () => {
      const target = webhook();
      await store.insertWebhook(target);
      for (let round = 0; round < 3; round++) {
        await store.publishEvents({ events: Array.from({ length: 100 }, () => event()), now: NOW });
        const claimed = await store.claimDueDeliveries(claimRequest({ limit: 1_000 }));
        await store.recordAttempts('worker-a', claimed.map((item) => delivered(item.id, target.id)));
      }
      await store.publishEvents({ events: Array.from({ length: 60 }, () => event()), now: NOW });
      const newest = await store.listDeliveries(target.id, { sort: 'newest' });
      assert.equal(newest.length, HISTORY_LIMIT);
      assert.equal(newest.filter((item) => item.status === 'pending').length, 60);
      const oldest = await store.listDeliveries(target.id, { sort: 'oldest' });
      assert.deepEqual(oldest.map((item) => item.id), newest.map((item) => item.id).reverse());
      // Pending deliveries survive pruning whatever their age: all 60 can still be claimed.
      assert.equal((await store.claimDueDeliveries(claimRequest({ limit: 1_000 }))).length, 60);
      await store.close();
    });

    test('round after round of outcomes, the history is pruned each time it outgrows its margin', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      const finished: string[] = [];
      const stored = async () => (await Promise.all(finished.map((id) => store.getDelivery(target.id, id)))).filter(Boolean).length;
      const storedAfterEachRound: number[] = [];
      const expected: number[] = [];
      for (let round = 0; round < 8; round++) {
        await store.publishEvents({ events: Array.from({ length: 100 }, () => event()), now: NOW });
        const claimed = await store.claimDueDeliveries(claimRequest({ limit: 1_000 }));
        await store.recordAttempts('worker-a', claimed.map((item) => delivered(item.id, target.id)));
        finished.push(...claimed.map((item) => item.id));
        storedAfterEachRound.push(await stored());
        // Past the limit and its margin the history goes back to the limit, every time.
        const before = (expected.at(-1) ?? 0) + 100;
        expected.push(before > HISTORY_LIMIT + HISTORY_PRUNE_MARGIN ? HISTORY_LIMIT : before);
      }
      assert.ok(expected.filter((count) => count === HISTORY_LIMIT).length >= 2, 'the rounds prune more than once');
      assert.deepEqual(storedAfterEachRound, expected);
      await store.close();
    });

    /** Stores `target`, publishes one event to it and records its first attempt failed, to retry `at`. */
    async function firstDeliveryRetried(target: WebhookWithSecret, at: number) {
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [delivered(claimed.id, target.id, { statusCode: 500, next: { kind: 'retry', at } })]);
      return claimed;
    }

    test('a delivery pruned from the history takes its attempt log with it', async () => {
      const target = webhook();
      const retried = await firstDeliveryRetried(target, NOW + 1);
      const [again] = await store.claimDueDeliveries(claimRequest({ now: NOW + 1 }));
      await store.recordAttempts('worker-a', [delivered(again.id, target.id)]);
      assert.equal(await harness.attemptRows(), 1);
      // Enough newer finished deliveries to push it out of the history.
      await store.publishEvents({ events: Array.from({ length: HISTORY_LIMIT + HISTORY_PRUNE_MARGIN }, () => event()), now: NOW + 1 });
      const newer = await store.claimDueDeliveries(claimRequest({ now: NOW + 1, limit: 1_000 }));
      await store.recordAttempts('worker-a', newer.map((item) => delivered(item.id, target.id)));
      assert.equal(await store.getDelivery(target.id, retried.id), null);
      assert.equal(await harness.attemptRows(), 0);
      await store.close();
    });

    test('pruning behind a pending backlog deletes only the oldest finished deliveries', async () => {
      const target = webhook();
      // The oldest delivery waits for a retry: pending, older than all the history.
      const retrying = await firstDeliveryRetried(target, NOW + 60_000);
      const finishing = HISTORY_LIMIT + HISTORY_PRUNE_MARGIN + 50;
      await store.publishEvents({ events: Array.from({ length: finishing }, () => event()), now: NOW });
      const claimed = await store.claimDueDeliveries(claimRequest({ limit: 1_000 }));
      // A backlog published after them is pending when their outcomes prune the history.
      await store.publishEvents({ events: Array.from({ length: 300 }, () => event()), now: NOW });
      await store.recordAttempts('worker-a', claimed.map((item) => delivered(item.id, target.id)));
      const kept = await Promise.all(claimed.map(async (item) => (await store.getDelivery(target.id, item.id)) !== null));
      // Claimed oldest first: the newest HISTORY_LIMIT of them are kept, the rest deleted.
      assert.deepEqual(kept, claimed.map((_, index) => index >= finishing - HISTORY_LIMIT));
      assert.ok(await store.getDelivery(target.id, retrying.id), 'the pending retry is kept');
      assert.equal((await store.claimDueDeliveries(claimRequest({ now: NOW + 60_000, limit: 1_000 }))).length, 301);
      await store.close();
    });

    test('an idempotency key replays its first result and refuses another body', async () => {
      await store.insertWebhook(webhook());
      const idempotency = { key: 'tok:k1', fingerprint: 'f1' };
      const first = await store.publishEvents({ events: [event()], now: NOW, idempotency });
      const again = await store.publishEvents({ events: [event()], now: NOW, idempotency });
      assert.equal(first.kind, 'published');
      assert.equal(again.kind, 'replayed');
      assert.deepEqual(again.kind === 'replayed' && again.events, first.kind === 'published' && first.events);
      const reused = await store.publishEvents({ events: [event()], now: NOW, idempotency: { key: 'tok:k1', fingerprint: 'f2' } });
      assert.equal(reused.kind, 'key-reused');
      assert.equal((await store.claimDueDeliveries(claimRequest())).length, 1, 'a replay adds no delivery');
      await store.close();
    });

    test('deleting a webhook removes its pending deliveries', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event(), event()], now: NOW });
      await store.deleteWebhook(target.id);
      assert.deepEqual(await store.claimDueDeliveries(claimRequest()), []);
      assert.equal(await store.nextDueAt(), null);
      await store.close();
    });

    test('deleting a webhook removes its deliveries, finished or not, and their attempts', async () => {
      const target = webhook();
      const bystander = webhook();
      await store.insertWebhook(target);
      await store.insertWebhook(bystander);
      await store.publishEvents({ events: [event(), event(), event()], now: NOW });
      const claimed = await store.claimDueDeliveries(claimRequest());
      const ofTarget = claimed.filter((delivery) => delivery.webhook.id === target.id);
      const unavailable = { statusCode: 503, error: { code: 'http_status' as const, message: 'HTTP 503' } };
      await store.recordAttempts('worker-a', [
        delivered(ofTarget[0].id, target.id, { ...unavailable, next: { kind: 'retry', at: NOW + 5_000 } }),
        delivered(ofTarget[1].id, target.id),
      ]);
      assert.deepEqual([await harness.deliveryRows(), await harness.attemptRows()], [6, 1]);
      await store.deleteWebhook(target.id);
      assert.deepEqual([await harness.deliveryRows(), await harness.attemptRows()], [3, 0]);
      await store.close();
    });

    test('a direct delivery goes to its webhook alone', async () => {
      const target = webhook();
      const bystander = webhook();
      await store.insertWebhook(target);
      await store.insertWebhook(bystander);
      const testEvent = event();
      const deliveryId = await store.enqueueDirectDelivery({ webhookId: target.id, event: testEvent, now: NOW });
      assert.ok(deliveryId);
      const claimed = await store.claimDueDeliveries(claimRequest());
      assert.deepEqual(claimed.map((item) => [item.id, item.webhook.id, item.body]), [[deliveryId, target.id, testEvent.body]]);
      assert.deepEqual(await store.listDeliveries(bystander.id, { sort: 'newest' }), []);
      const [listed] = await store.listDeliveries(target.id, { sort: 'newest' });
      assert.deepEqual([listed.id, listed.eventId, listed.resentFrom], [deliveryId, testEvent.id, null]);
      assert.equal(await store.enqueueDirectDelivery({ webhookId: 'wh_missing', event: event(), now: NOW }), null);
      await store.close();
    });

    test('what failed since a time is judged by its last attempt, not by when it was queued', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await store.claimDueDeliveries(claimRequest());
      const givenUpAt = NOW + 60_000;
      await store.recordAttempts('worker-a', [
        delivered(claimed.id, target.id, { startedAt: givenUpAt, statusCode: 500, error: { code: 'http_status', message: 'HTTP 500' }, next: { kind: 'gave-up' } }),
      ]);
      assert.equal((await store.resendDeliveries({ webhookId: target.id, failedSince: givenUpAt + 1, now: givenUpAt + 2 })).length, 0);
      assert.equal((await store.resendDeliveries({ webhookId: target.id, failedSince: givenUpAt, now: givenUpAt + 2 })).length, 1);
      await store.close();
    });

    test('resending queues new deliveries of the same events, attempts from zero', async () => {
      const target = webhook();
      const other = webhook({ events: ['tag_created'] });
      await store.insertWebhook(target);
      await store.insertWebhook(other);
      const failed = (id: string, at: number) =>
        delivered(id, target.id, { startedAt: at, statusCode: 500, error: { code: 'http_status', message: 'HTTP 500' }, next: { kind: 'gave-up' } });
      // Three deliveries: given up at NOW, delivered at NOW + 10s, given up at NOW + 20s.
      const outcomes: Array<[number, (id: string, at: number) => AttemptRecord]> = [
        [NOW, failed],
        [NOW + 10_000, (id, at) => delivered(id, target.id, { startedAt: at })],
        [NOW + 20_000, failed],
      ];
      const original: string[] = [];
      for (const [at, outcome] of outcomes) {
        await store.publishEvents({ events: [event()], now: at });
        const claimed = await store.claimDueDeliveries(claimRequest({ now: at }));
        await store.recordAttempts('worker-a', claimed.map((item) => outcome(item.id, at)));
        original.push(claimed[0].id);
      }

      const [again] = await store.resendDeliveries({ webhookId: target.id, deliveryId: original[1], now: NOW + 30_000 });
      assert.ok(again && !original.includes(again));
      const copy = (await store.listDeliveries(target.id, { sort: 'newest' }))[0];
      const source = (await store.listDeliveries(target.id, { sort: 'newest' })).find((item) => item.id === original[1])!;
      assert.deepEqual(
        [copy.id, copy.status, copy.attempts, copy.resentFrom, copy.eventId, copy.createdAt],
        [again, 'pending', 0, original[1], source.eventId, NOW + 30_000],
      );
      assert.equal(source.status, 'success', 'the original stays as it was');
      assert.deepEqual(await store.resendDeliveries({ webhookId: other.id, deliveryId: original[1], now: NOW }), [], 'only under its own webhook');
      assert.deepEqual(await store.resendDeliveries({ webhookId: target.id, deliveryId: 'dlv_missing', now: NOW }), []);

      // Given up on since NOW + 5s: only the third.
      const resent = await store.resendDeliveries({ webhookId: target.id, failedSince: NOW + 5_000, now: NOW + 31_000 });
      assert.equal(resent.length, 1);
      const detail = await store.getDelivery(target.id, resent[0]);
      assert.deepEqual([detail?.resentFrom, detail?.attempts, detail?.attemptLog], [original[2], 0, []]);
      assert.equal((await store.resendDeliveries({ webhookId: target.id, failedSince: NOW, now: NOW + 32_000 })).length, 2);
      const claimed = await store.claimDueDeliveries(claimRequest({ now: NOW + 40_000 }));
      assert.equal(claimed.length, 4);
      assert.ok(claimed.every((item) => item.webhook.id === target.id && item.attemptsMade === 0));
      await store.close();
    });

    test('a webhook failing long and often enough is set inactive; a success or re-enabling starts over', async () => {
      const policy = { afterMs: 60_000, afterFailures: 3 };
      const target = webhook();
      await store.insertWebhook(target);
      /** Publishes `count` events, claims one at `at` and records its outcome then. */
      const attempt = async (at: number, ok: boolean, count = 1) => {
        await store.publishEvents({ events: Array.from({ length: count }, () => event()), now: at });
        const [claimed] = await store.claimDueDeliveries(claimRequest({ now: at, limit: 1 }));
        const record = ok
          ? delivered(claimed.id, target.id, { startedAt: at })
          : delivered(claimed.id, target.id, {
              startedAt: at,
              statusCode: 500,
              error: { code: 'http_status', message: 'HTTP 500' },
              next: { kind: 'gave-up' },
            });
        await store.recordAttempts('worker-a', [record], policy);
      };
      // Three failures in a row, but within a second: still active.
      for (const at of [NOW, NOW + 500, NOW + 1_000]) await attempt(at, false);
      let read = await store.getWebhook(target.id);
      assert.deepEqual([read?.active, read?.consecutiveFailures, read?.failingSince], [true, 3, NOW]);
      // A success ends the run.
      await attempt(NOW + 2_000, true);
      read = await store.getWebhook(target.id);
      assert.deepEqual([read?.active, read?.consecutiveFailures, read?.failingSince], [true, 0, null]);
      // A minute of failures, but only two: still active.
      await attempt(NOW + 10_000, false);
      await attempt(NOW + 70_000, false);
      assert.equal((await store.getWebhook(target.id))?.active, true);
      // The third, with one more event still queued: set inactive, with the reason.
      await attempt(NOW + 80_000, false, 2);
      read = await store.getWebhook(target.id);
      assert.equal(read?.active, false);
      assert.equal(read?.disabledAt, NOW + 80_000);
      assert.equal(read?.disabledReason, `no successful delivery since ${new Date(NOW + 10_000).toISOString()} (3 deliveries failed in a row)`);
      // What is still queued waits while it is inactive.
      assert.deepEqual(await store.claimDueDeliveries(claimRequest({ now: NOW + 90_000 })), []);
      assert.equal(await store.nextDueAt(), null);
      // A patch that leaves it inactive keeps the reason; setting it active clears it.
      assert.equal((await store.updateWebhook(target.id, { name: 'renamed' }, NOW + 95_000))?.disabledReason, read?.disabledReason);
      read = await store.updateWebhook(target.id, { active: true }, NOW + 100_000);
      assert.deepEqual(
        [read?.active, read?.disabledReason, read?.disabledAt, read?.failingSince, read?.consecutiveFailures],
        [true, null, null, null, 0],
      );
      const resumed = await store.claimDueDeliveries(claimRequest({ now: NOW + 100_000 }));
      assert.equal(resumed.length, 1, 'the held delivery is sent once it is active again');
      // Without a policy the run is kept but nothing is disabled.
      await store.recordAttempts('worker-a', [
        delivered(resumed[0].id, target.id, { startedAt: NOW + 500_000, statusCode: 500, error: { code: 'http_status', message: 'HTTP 500' }, next: { kind: 'gave-up' } }),
      ]);
      read = await store.getWebhook(target.id);
      assert.deepEqual([read?.active, read?.consecutiveFailures], [true, 1]);
      await store.close();
    });

    test('custom event types are stored once', async () => {
      const definition = {
        name: 'invoice_paid',
        description: 'd',
        schema: { type: 'object' },
        tenantIdPointer: '/tenantId',
        projectIdPointer: '/projectId',
        aliases: [],
        builtin: false,
      };
      assert.equal(await store.insertEventType(definition, NOW), true);
      assert.equal(await store.insertEventType(definition, NOW), false);
      assert.deepEqual(await store.listCustomEventTypes(), [definition]);
      await store.close();
    });

    test('secrets are stored encrypted and read in plain text only by claims and exports', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      const stored = await harness.storedSecrets();
      assert.equal(stored.includes('contract-secret'), false);
      assert.ok(stored.filter((value) => value !== null).every(isEncrypted), 'every stored secret is SecretBox text');
      await store.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await store.claimDueDeliveries(claimRequest());
      assert.equal(claimed.webhook.secret, 'contract-secret');
      assert.equal(claimed.webhook.previousSecret, null);
      const snapshot = await store.exportSnapshot();
      assert.deepEqual(snapshot.webhooks.map((item) => item.secret), ['contract-secret']);
      assert.equal('previousSecretExpiresAt' in snapshot.webhooks[0], false);
      await store.close();
    });

    test('a rotated-out secret is claimed beside the new one until its grace period ends', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      const rotated = await store.updateWebhook(target.id, { secret: 'rotated-secret', keepPreviousSecretForMs: 60_000 }, NOW);
      assert.equal(rotated?.previousSecretExpiresAt, NOW + 60_000);
      const stored = await harness.storedSecrets();
      assert.equal(stored.filter((value) => value !== null).length, 2);
      assert.ok(!stored.includes('rotated-secret') && !stored.includes('contract-secret'));

      await store.publishEvents({ events: [event()], now: NOW });
      const [during] = await store.claimDueDeliveries(claimRequest({ now: NOW + 59_999 }));
      assert.deepEqual([during.webhook.secret, during.webhook.previousSecret], ['rotated-secret', 'contract-secret']);
      await store.releaseClaims('worker-a', [during.id], NOW);
      const [after] = await store.claimDueDeliveries(claimRequest({ now: NOW + 60_000 }));
      assert.deepEqual([after.webhook.secret, after.webhook.previousSecret], ['rotated-secret', null]);

      // Past its grace period the old secret is dropped from the row too.
      await store.pruneOrphans(NOW + 60_000, 24 * 60 * 60 * 1000);
      assert.equal((await store.getWebhook(target.id))?.previousSecretExpiresAt, null);
      assert.equal((await harness.storedSecrets()).filter((value) => value !== null).length, 1);
      await store.close();
    });

    test('the janitor deletes old events that no delivery refers to, and only those', async () => {
      const target = webhook({ events: ['project_created'] });
      await store.insertWebhook(target);
      const dayMs = 24 * 60 * 60 * 1000;
      const [heard, unheard, recent] = [event(), event('project_deleted'), event('project_deleted')];
      await store.publishEvents({ events: [heard, unheard], now: NOW - 2 * dayMs });
      await store.publishEvents({ events: [recent], now: NOW });

      await store.pruneOrphans(NOW, dayMs);
      assert.deepEqual(await harness.storedEventIds(), [heard.id, recent.id].sort());
      // Delivered, the delivery still refers to its event: the history shows the body.
      const [claimed] = await store.claimDueDeliveries(claimRequest());
      await store.recordAttempts('worker-a', [delivered(claimed.id, target.id)]);
      await store.pruneOrphans(NOW, dayMs);
      assert.deepEqual(await harness.storedEventIds(), [heard.id, recent.id].sort());
      assert.equal((await store.getDelivery(target.id, claimed.id))?.requestBody, heard.body);
      await store.close();
    });

    test('a new secret without a grace period ends the previous one at once', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.updateWebhook(target.id, { secret: 'second-secret', keepPreviousSecretForMs: 60_000 }, NOW);
      const replaced = await store.updateWebhook(target.id, { secret: 'third-secret' }, NOW + 1);
      assert.equal(replaced?.previousSecretExpiresAt, null);
      await store.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await store.claimDueDeliveries(claimRequest({ now: NOW + 2 }));
      assert.deepEqual([claimed.webhook.secret, claimed.webhook.previousSecret], ['third-secret', null]);
      // A patch without a secret leaves the secrets alone.
      await store.updateWebhook(target.id, { name: 'renamed' }, NOW + 3);
      assert.equal((await store.exportSnapshot()).webhooks[0].secret, 'third-secret');
      await store.close();
    });

    test('another key is refused at open; plain secrets of older rows are encrypted once', async () => {
      const target = webhook();
      await store.insertWebhook(target);
      await store.close();
      await harness.writeStoredSecret(target.id, 'plain-from-before');
      await assert.rejects(harness.reopen(new SecretBox(OTHER_KEY, 'the other key')), (error: Error) => {
        assert.match(error.message, /encrypted with another key than the other key/);
        assert.ok(!error.message.includes(OTHER_KEY.toString('base64')) && !error.message.includes('plain-from-before'));
        return true;
      });
      const reopened = await harness.reopen(TEST_SECRETS);
      const encrypted = await harness.storedSecrets();
      assert.equal(encrypted.includes('plain-from-before'), false);
      await reopened.publishEvents({ events: [event()], now: NOW });
      const [claimed] = await reopened.claimDueDeliveries(claimRequest());
      assert.equal(claimed.webhook.secret, 'plain-from-before');
      await reopened.close();
      await (await harness.reopen(TEST_SECRETS)).close();
      assert.deepEqual(await harness.storedSecrets(), encrypted, 'a second open changes nothing');
    });
  });
}
