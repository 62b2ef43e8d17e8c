import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from '../../src/config.js';
import { newId } from '../../src/core/ids.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { ThreadedSqliteStore } from '../../src/store/index.js';
import { instanceWebhook, makeTempDir, removeDir } from '../support/index.js';
import { sqliteHarness } from './sqlite-harness.js';
import { storeContract, TEST_SECRETS } from './store-contract.js';

/**
 * SQLite on a thread of its own (HERALD_STORE_THREAD): the same contract as on the calling
 * thread, plus what crossing threads adds: errors that keep their kind, the queued notice,
 * calls after close, and the log copied back into the database file by its own connection.
 */

storeContract(
  'sqlite on its own thread',
  sqliteHarness((dataDir, secrets) => ThreadedSqliteStore.open(dataDir, secrets), TEST_SECRETS),
);

/** Runs `work` on a threaded store in a fresh folder, removed afterwards. */
async function withThreadedStore(work: (store: ThreadedSqliteStore, dir: string) => Promise<void>): Promise<void> {
  const dir = makeTempDir('herald-threaded-store-');
  try {
    await work(await ThreadedSqliteStore.open(dir, TEST_SECRETS), dir);
  } finally {
    removeDir(dir);
  }
}

function event(eventName = 'project_created') {
  return { id: newId('evt'), eventName, tenantId: null, projectId: null, body: '{"eventName":"project_created"}' };
}

test('a failure on the thread comes back as an error with its message and code; the wrong key stays a ConfigError', async () => {
  await withThreadedStore(async (store, dir) => {
    const webhook = instanceWebhook({ id: 'wh_twice' });
    await store.insertWebhook(webhook);
    await assert.rejects(store.insertWebhook(webhook), (error: Error & { code?: string }) => {
      assert.match(error.message, /UNIQUE constraint failed/);
      assert.equal(error.code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
      return true;
    });
    assert.equal((await store.listWebhooks({ limit: 10 })).length, 1, 'the store goes on answering');
    await store.close();
    await assert.rejects(ThreadedSqliteStore.open(dir, new SecretBox(Buffer.alloc(32, 1), 'another key')), ConfigError);
  });
});

test('a publish on the thread tells the listeners here; calls after close fail at once', async () => {
  await withThreadedStore(async (store) => {
    await store.insertWebhook(instanceWebhook({ id: 'wh_listening', events: ['project_created'] }));
    let told = 0;
    const heard = new Promise<void>((resolve) =>
      store.onDeliveriesQueued(() => {
        told++;
        resolve();
      }),
    );
    await store.publishEvents({ events: [event()], now: Date.now() });
    await heard;
    assert.equal(told, 1);
    await store.close();
    await assert.rejects(store.countTokens(), /the store is closed/);
    await store.close(); // a second close is harmless
  });
});

test("the dispatcher's calls go ahead of a burst of publishes waiting on the thread", async () => {
  await withThreadedStore(async (store) => {
    await store.insertWebhook(instanceWebhook({ id: 'wh_busy', events: ['project_created'] }));
    await store.publishEvents({ events: [event()], now: Date.now() });
    const answered: string[] = [];
    // Many publishes, each of some size.
    const publishes = Array.from({ length: 40 }, (_, index) =>
      store
        .publishEvents({ events: Array.from({ length: 200 }, () => event()), now: Date.now() })
        .then(() => answered.push(`publish ${index}`)),
    );
    const claim = store
      .claimDueDeliveries({
        workerId: 'w',
        now: Date.now() + 1,
        limit: 1,
        leaseMs: 30_000,
        inFlightByWebhook: new Map(),
        maxInFlightPerWebhook: 10,
      })
      .then((claimed) => answered.push(`claim ${claimed.length}`));
    await Promise.all([...publishes, claim]);
    // Sent last, the claim is answered long before the last publishes (first in, first out, it
    // would be answered last): only those the thread took on before it arrived come first.
    assert.ok(answered.indexOf('claim 1') <= 30, answered.join(', '));
    await store.close();
  });
});

test('publishes sent together are kept or refused each on its own', async () => {
  await withThreadedStore(async (store) => {
    await store.insertWebhook(instanceWebhook({ id: 'wh_together', events: ['project_created'] }));
    const taken = event();
    await store.publishEvents({ events: [taken], now: Date.now() });
    // Sent in one go, the one reusing an event id fails alone.
    const outcomes = await Promise.allSettled([
      store.publishEvents({ events: [event(), event()], now: Date.now() }),
      store.publishEvents({ events: [event(), { ...taken }], now: Date.now() }),
      store.publishEvents({ events: [event()], now: Date.now() }),
    ]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'fulfilled']);
    const claimed = await store.claimDueDeliveries({
      workerId: 'w',
      now: Date.now() + 1,
      limit: 100,
      leaseMs: 30_000,
      inFlightByWebhook: new Map(),
      maxInFlightPerWebhook: 100,
    });
    assert.equal(claimed.length, 4, 'the first event and the three of the two kept publishes');
    await store.close();
  });
});

/** What SQLite says of a copy taken while a checkpoint was writing the file: it may be torn. */
const TORN_COPY_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/** Whether a copy of the main file holds the webhook; a torn copy says "not yet". */
function holdsCheckpointedWebhook(copy: string): boolean {
  let db: Database.Database | undefined;
  try {
    db = new Database(copy, { readonly: true });
    // Before the first checkpoint the file does not even hold the tables.
    const tables = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'webhooks'").get();
    return tables !== undefined && db.prepare("SELECT 1 FROM webhooks WHERE id = 'wh_checkpointed'").get() !== undefined;
  } catch (error) {
    if (TORN_COPY_CODES.has((error as { code?: string }).code ?? '')) return false;
    throw error;
  } finally {
    db?.close();
  }
}

test("the write-ahead log is copied into the database file while the store stays open", async () => {
  await withThreadedStore(async (store, dir) => {
    const copy = path.join(dir, 'copy-of-the-main-file.db');
    await store.insertWebhook(instanceWebhook({ id: 'wh_checkpointed' }));
    // The main file alone, without its log, holds the webhook only once a checkpoint ran: the
    // store's own connection never runs one, so this is the checkpointer's work.
    const deadline = Date.now() + 5_000;
    let found = false;
    while (!found && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      fs.copyFileSync(path.join(dir, 'herald.db'), copy);
      found = holdsCheckpointedWebhook(copy);
    }
    assert.ok(found, 'the main file holds the webhook within 5 s');
    await store.close();
  });
});
