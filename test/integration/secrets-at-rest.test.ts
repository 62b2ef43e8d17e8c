import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { removeDir, startReceiver, waitUntil, type ReceivedRequest, type Receiver } from '../support/index.js';
import { spawnHerald, startTestHerald, type TestHerald } from '../support/herald.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';

/**
 * Webhook secrets are encrypted at rest: neither the SQLite files nor PostgreSQL's rows hold
 * them, a wrong key stops Herald at start-up, and a rotated secret keeps signing beside its
 * successor for the grace period asked for. The checks below use node:crypto only, the way a
 * receiver would, not Herald's signing code.
 */

// Long and distinctive, so finding one by accident in the files is out of the question.
const SECRETS = ['at-rest-secret-one-7c1f0d9a2b', 'at-rest-secret-two-ünïcödé-42e6', 'at-rest-rotated-in-8d3b57'];

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The `v1,` entries of webhook-signature that verify with `secret`. */
function standardMatches(request: ReceivedRequest, secret: string): number {
  const signed = `${request.headers['webhook-id']}.${request.headers['webhook-timestamp']}.`;
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(Buffer.concat([Buffer.from(signed, 'utf8'), request.body]))
    .digest('base64');
  return standardEntries(request).filter((entry) => sameText(entry, `v1,${expected}`)).length;
}

function standardEntries(request: ReceivedRequest): string[] {
  return String(request.headers['webhook-signature']).split(' ');
}

function miaVerifies(request: ReceivedRequest, secret: string): boolean {
  const expected = createHash('sha256').update(request.body).update(secret, 'utf8').digest('hex');
  return sameText(expected, String(request.headers['x-mia-signature']));
}

function hmacVerifies(request: ReceivedRequest, secret: string): boolean {
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(request.body).digest('hex');
  return sameText(expected, String(request.headers['x-signature']));
}

async function createWebhook(herald: TestHerald, receiver: Receiver, secret: string): Promise<string> {
  const created = await herald.post('/api/webhooks', { url: `${receiver.url}/hook`, events: ['project_created'], secret });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

/** Publishes one event and waits until `receiver` has it; returns that request. */
async function publishAndReceive(herald: TestHerald, receiver: Receiver): Promise<ReceivedRequest> {
  const published = await herald.post('/api/events', { eventName: 'project_created', payload: { tenantId: 'acme', projectId: 'shop' } });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  return waitUntil(() => receiver.requests.find((request) => request.headers['webhook-id'] === published.body.id), {
    message: `event ${published.body.id} was not delivered`,
  });
}

/** Webhooks with known secrets, one of them rotated (so a previous secret is stored too), each delivered to. */
async function storeSecretsAndDeliver(herald: TestHerald, receiver: Receiver): Promise<void> {
  await createWebhook(herald, receiver, SECRETS[0]);
  const rotated = await createWebhook(herald, receiver, SECRETS[1]);
  const patched = await herald.patch(`/api/webhooks/${rotated}`, { secret: SECRETS[2], keepPreviousSecretFor: 3600 });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  await publishAndReceive(herald, receiver);
  await waitUntil(() => receiver.requests.length >= 2, { message: 'both webhooks were delivered to' });
}

function assertHoldsNoSecret(where: string, bytes: Buffer): void {
  for (const secret of SECRETS) {
    assert.equal(bytes.indexOf(Buffer.from(secret, 'utf8')), -1, `${where} holds the secret ${secret}`);
  }
}

describe('secrets at rest: the embedded store', () => {
  test('no file of the data folder holds a secret; the key file is private', async () => {
    const receiver = await startReceiver();
    const herald = await startTestHerald();
    const { dataDir } = herald;
    try {
      await storeSecretsAndDeliver(herald, receiver);
      const listed = await herald.get('/api/webhooks');
      assertHoldsNoSecret('GET /api/webhooks', Buffer.from(JSON.stringify(listed.body)));
      await herald.stop();

      const files = fs.readdirSync(dataDir);
      assert.ok(files.includes('herald.db'), files.join());
      for (const file of files) assertHoldsNoSecret(file, fs.readFileSync(path.join(dataDir, file)));
      const keyFile = path.join(dataDir, 'encryption.key');
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(fs.statSync(dataDir).mode & 0o777, 0o700);
      const keyText = fs.readFileSync(keyFile, 'utf8').trim();
      const database = fs.readFileSync(path.join(dataDir, 'herald.db'));
      assert.equal(database.indexOf(keyText), -1, 'the database does not hold the key');
    } finally {
      await herald.stop({ removeData: true });
      await receiver.close();
    }
  });

  test('another key stops Herald at start-up with a clear message; the right one delivers as before', async () => {
    const receiver = await startReceiver();
    const first = await startTestHerald();
    const { dataDir } = first;
    try {
      await createWebhook(first, receiver, SECRETS[0]);
      await first.stop();

      const otherKey = randomBytes(32).toString('hex');
      await assert.rejects(spawnHerald({ HERALD_DATA_DIR: dataDir, HERALD_ENCRYPTION_KEY: otherKey, HERALD_LOG_LEVEL: 'warn' }), (error: Error) => {
        assert.match(error.message, /exited early[\s\S]*encrypted with another key than HERALD_ENCRYPTION_KEY/);
        assert.ok(!error.message.includes(otherKey));
        return true;
      });
      const keyFile = path.join(dataDir, 'encryption.key');
      fs.chmodSync(keyFile, 0o644);
      await assert.rejects(startTestHerald({ dataDir }), /encryption\.key is readable or writable by other users[\s\S]*chmod 600/);
      fs.chmodSync(keyFile, 0o600);

      const again = await startTestHerald({ dataDir });
      try {
        const request = await publishAndReceive(again, receiver);
        assert.ok(miaVerifies(request, SECRETS[0]));
      } finally {
        await again.stop();
      }
    } finally {
      removeDir(dataDir);
      await receiver.close();
    }
  });
});

describe('secrets at rest: PostgreSQL', () => {
  test('no row of any table holds a secret', async () => {
    const schema = freshSchemaName();
    const receiver = await startReceiver();
    const herald = await startTestHerald({
      databaseUrl: TEST_DATABASE_URL,
      databaseSchema: schema,
      encryptionKey: randomBytes(32),
    });
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    try {
      await storeSecretsAndDeliver(herald, receiver);
      await client.connect();
      const { rows: tables } = await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
      assert.ok(tables.some((table) => table.table_name === 'webhooks'));
      for (const { table_name: table } of tables) {
        const { rows } = await client.query(`SELECT t::text AS row FROM "${schema}"."${table}" t`);
        assertHoldsNoSecret(`table ${table}`, Buffer.from(rows.map((row) => row.row).join('\n'), 'utf8'));
      }
      const { rows: webhooks } = await client.query(`SELECT secret, previous_secret FROM "${schema}".webhooks`);
      assert.equal(webhooks.length, 2);
      assert.equal(webhooks.filter((row) => row.previous_secret !== null).length, 1);
      for (const row of webhooks) assert.match(row.secret, /^v1\./);
    } finally {
      await client.end().catch(() => undefined);
      await herald.stop({ removeData: true });
      await dropSchemas([schema]);
      await receiver.close();
    }
  });
});

describe('secret rotation', () => {
  const OLD = 'rotation-old-secret-1';
  const NEW = 'rotation-new-secret-2';
  const NEWER = 'rotation-newer-secret-3';

  test('during the grace period both secrets verify the Standard Webhooks signature; afterwards only the new one', async () => {
    const receiver = await startReceiver();
    const herald = await startTestHerald();
    try {
      const id = await createWebhook(herald, receiver, OLD);
      const before = Date.now();
      const rotated = await herald.patch(`/api/webhooks/${id}`, { secret: NEW, keepPreviousSecretFor: 3600 });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal('secret' in rotated.body, false);
      const graceEnds = Date.parse(rotated.body.previousSecretExpiresAt);
      assert.ok(graceEnds >= before + 3_600_000 && graceEnds <= Date.now() + 3_600_000, rotated.body.previousSecretExpiresAt);
      assert.equal((await herald.get(`/api/webhooks/${id}`)).body.previousSecretExpiresAt, rotated.body.previousSecretExpiresAt);
      const listed = (await herald.get('/api/webhooks')).body.data;
      assert.deepEqual(listed.map((item: { previousSecretExpiresAt: string | null }) => item.previousSecretExpiresAt), [rotated.body.previousSecretExpiresAt]);

      const during = await publishAndReceive(herald, receiver);
      assert.equal(standardEntries(during).length, 2);
      assert.equal(standardMatches(during, NEW), 1);
      assert.equal(standardMatches(during, OLD), 1);
      assert.ok(miaVerifies(during, NEW) && !miaVerifies(during, OLD), 'X-Mia-Signature uses the new secret');
      assert.equal(during.headers['x-mia-token'], during.headers['x-mia-signature']);
      assert.ok(hmacVerifies(during, NEW) && !hmacVerifies(during, OLD), 'X-Signature uses the new secret');

      // A one-second grace: the next rotation replaces the previous secret, then it runs out.
      const short = await herald.patch(`/api/webhooks/${id}`, { secret: NEWER, keepPreviousSecretFor: 1 });
      assert.equal(short.status, 200, JSON.stringify(short.body));
      const afterGrace = await waitUntil(
        async () => {
          const request = await publishAndReceive(herald, receiver);
          return standardEntries(request).length === 1 ? request : null;
        },
        { timeoutMs: 10_000, intervalMs: 200, message: 'a delivery signed with the new secret only' },
      );
      assert.equal(standardMatches(afterGrace, NEWER), 1);
      assert.equal(standardMatches(afterGrace, NEW) + standardMatches(afterGrace, OLD), 0);
      assert.ok(miaVerifies(afterGrace, NEWER));
      assert.equal((await herald.get(`/api/webhooks/${id}`)).body.previousSecretExpiresAt, null);
      assert.equal((await herald.get('/api/webhooks')).body.data[0].previousSecretExpiresAt, null);
    } finally {
      await herald.stop({ removeData: true });
      await receiver.close();
    }
  });

  test('the first entry of webhook-signature is the new secret\'s, and a new secret without grace ends the old one', async () => {
    const receiver = await startReceiver();
    const herald = await startTestHerald();
    try {
      const id = await createWebhook(herald, receiver, OLD);
      await herald.patch(`/api/webhooks/${id}`, { secret: NEW, keepPreviousSecretFor: 600 });
      const during = await publishAndReceive(herald, receiver);
      const [first, second] = standardEntries(during);
      assert.ok(standardMatches({ ...during, headers: { ...during.headers, 'webhook-signature': first } }, NEW));
      assert.ok(standardMatches({ ...during, headers: { ...during.headers, 'webhook-signature': second } }, OLD));

      const replaced = await herald.patch(`/api/webhooks/${id}`, { secret: NEWER });
      assert.equal(replaced.body.previousSecretExpiresAt, null);
      const after = await publishAndReceive(herald, receiver);
      assert.deepEqual([standardEntries(after).length, standardMatches(after, NEWER)], [1, 1]);
    } finally {
      await herald.stop({ removeData: true });
      await receiver.close();
    }
  });

  test('keepPreviousSecretFor needs a new secret and a grace of 1 s to 30 days', async () => {
    const herald = await startTestHerald();
    try {
      const created = await herald.post('/api/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['project_created'], secret: OLD });
      const id = created.body.id as string;
      for (const body of [
        { keepPreviousSecretFor: 60 },
        { secret: NEW, keepPreviousSecretFor: 0 },
        { secret: NEW, keepPreviousSecretFor: 2_592_001 },
        { secret: NEW, keepPreviousSecretFor: 1.5 },
      ]) {
        const refused = await herald.patch(`/api/webhooks/${id}`, body);
        assert.equal(refused.status, 400, JSON.stringify(body));
        assert.equal(refused.body.field, 'keepPreviousSecretFor', JSON.stringify(refused.body));
      }
      const longest = await herald.patch(`/api/webhooks/${id}`, { secret: NEW, keepPreviousSecretFor: 2_592_000 });
      assert.equal(longest.status, 200, JSON.stringify(longest.body));
      assert.ok(longest.body.previousSecretExpiresAt);
    } finally {
      await herald.stop({ removeData: true });
    }
  });
});
