import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { createTestPki, makeTempDir, removeDir, startReceiver, type ReceivedRequest } from '../support/index.js';
import { apiClient, spawnHerald, type SpawnedHerald } from '../support/herald.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');
const ORIGINAL_SECRET = 'original-secret-of-the-sqlite-days';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `herald` command from the sources with exactly `env` (plus PATH). */
function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function stopGracefully(herald: SpawnedHerald): Promise<void> {
  herald.process.kill('SIGTERM');
  assert.equal(await herald.exited, 0, herald.output());
}

async function killIfRunning(herald: SpawnedHerald | null): Promise<void> {
  if (!herald) return;
  if (herald.process.exitCode === null && herald.process.signalCode === null) herald.process.kill('SIGKILL');
  await herald.exited;
}

/** The console scheme: hex(sha256(body bytes, then the secret)). */
function miaSignature(request: ReceivedRequest, secret: string): string {
  return createHash('sha256').update(request.body).update(secret, 'utf8').digest('hex');
}

async function storedSecrets(schema: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(`SELECT secret FROM "${schema}".webhooks`)).rows.map((row) => row.secret as string);
  } finally {
    await client.end();
  }
}

const INVOICE_PAID = {
  name: 'invoice_paid',
  description: 'A company paid an invoice.',
  schema: {
    type: 'object',
    required: ['billing', 'amount'],
    properties: { billing: { type: 'object' }, amount: { type: 'number' } },
  },
  // Not the default pointers, so a company-scoped webhook only hears its company if they survive.
  tenantIdPointer: '/billing/companyId',
  projectIdPointer: '/billing/projectId',
};

test('export from SQLite and import into PostgreSQL keep webhooks, secrets, event types and tokens', async () => {
  const dataDir = makeTempDir('herald-export-');
  const schema = freshSchemaName();
  const exportFile = path.join(dataDir, 'herald-export.json');
  const pki = createTestPki();
  const plainReceiver = await startReceiver();
  const tlsReceiver = await startReceiver({ tls: { certPem: pki.certPem, keyPem: pki.keyPem } });
  // No HERALD_ADMIN_TOKEN: the generated token is stored (hashed) and has to travel too.
  const sqliteEnv = { HERALD_DATA_DIR: dataDir, HERALD_ALLOW_PRIVATE_NETWORKS: '1', HERALD_LOG_LEVEL: 'warn' };
  // PostgreSQL with a key of its own (SQLite uses the key file of its data folder): the export
  // holds plain secrets and the import encrypts them with the target's key.
  const postgresEnv = {
    ...sqliteEnv,
    HERALD_DATABASE_URL: TEST_DATABASE_URL,
    HERALD_DATABASE_SCHEMA: schema,
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  };
  let herald: SpawnedHerald | null = null;
  try {
    herald = await spawnHerald(sqliteEnv);
    const token = /hrld_[A-Za-z0-9_-]+/.exec(herald.output())?.[0];
    assert.ok(token, `no admin token printed:\n${herald.output()}`);
    const sqliteApi = apiClient(herald.url, token);
    assert.equal((await sqliteApi.post('/api/event-types', INVOICE_PAID)).status, 201);
    const instanceWide = await sqliteApi.post('/api/webhooks', {
      url: `${plainReceiver.url}/all`,
      events: ['invoice_paid', 'project_created'],
      secret: ORIGINAL_SECRET,
      name: 'everything',
    });
    assert.equal(instanceWide.status, 201);
    const companyOnly = await sqliteApi.post('/api/webhooks', {
      url: `${tlsReceiver.url}/acme`,
      events: ['invoice_paid'],
      tenantId: 'acme',
      base64CA: pki.base64CA,
      maxAttempts: 3,
    });
    assert.equal(companyOnly.status, 201);
    const companySecret = companyOnly.body.secret as string;
    const before = [
      (await sqliteApi.get(`/api/webhooks/${instanceWide.body.id}`)).body,
      (await sqliteApi.get(`/api/webhooks/${companyOnly.body.id}`)).body,
    ];
    assert.deepEqual(
      before.map((webhook) => webhook.scope),
      ['instance', 'company'],
    );
    await stopGracefully(herald);
    herald = null;

    const exported = await runCli(['export', '--out', exportFile], sqliteEnv);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /exported 2 webhooks, 1 event types and 1 tokens/);
    assert.equal(fs.statSync(exportFile).mode & 0o777, 0o600);
    const text = fs.readFileSync(exportFile, 'utf8');
    const snapshot = JSON.parse(text);
    assert.equal(snapshot.format, 'herald-export');
    assert.deepEqual(
      snapshot.webhooks.map((webhook: { id: string; secret: string }) => [webhook.id, webhook.secret]),
      [
        [instanceWide.body.id, ORIGINAL_SECRET],
        [companyOnly.body.id, companySecret],
      ],
    );
    assert.deepEqual(
      snapshot.eventTypes.map((type: { name: string }) => type.name),
      ['invoice_paid'],
    );
    assert.equal(snapshot.tokens.length, 1);
    assert.equal(snapshot.tokens[0].tokenHash, createHash('sha256').update(token).digest('hex'));
    assert.ok(!text.includes(token), 'the export holds the token itself, not only its hash');

    const imported = await runCli(['import', exportFile], postgresEnv);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /imported 2 webhooks, 1 event types and 1 tokens into postgres/);
    const stored = await storedSecrets(schema);
    assert.equal(stored.length, 2);
    assert.ok(!stored.includes(ORIGINAL_SECRET) && !stored.includes(companySecret), 'PostgreSQL holds the secrets encrypted');

    herald = await spawnHerald(postgresEnv);
    assert.doesNotMatch(herald.output(), /An admin token was created/);
    assert.equal((await apiClient(herald.url, 'hrld_not-the-imported-token').get('/api/webhooks')).status, 401);
    const postgresApi = apiClient(herald.url, token);
    const after = [
      (await postgresApi.get(`/api/webhooks/${instanceWide.body.id}`)).body,
      (await postgresApi.get(`/api/webhooks/${companyOnly.body.id}`)).body,
    ];
    assert.deepEqual(after, before);
    const types = await postgresApi.get('/api/event-types');
    const invoicePaid = types.body.data.find((type: { name: string }) => type.name === 'invoice_paid');
    assert.deepEqual(invoicePaid, { ...INVOICE_PAID, aliases: [], builtin: false });

    const published = await postgresApi.post('/api/events', {
      eventName: 'invoice_paid',
      payload: { billing: { companyId: 'acme' }, amount: 12.5 },
    });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 2);
    const [plain] = await plainReceiver.waitForRequests(1);
    assert.equal(plain.headers['webhook-id'], published.body.id);
    assert.equal(plain.headers['x-mia-signature'], miaSignature(plain, ORIGINAL_SECRET));
    // Over TLS that trusts only the imported CA.
    const [overTls] = await tlsReceiver.waitForRequests(1);
    assert.equal(overTls.headers['x-mia-signature'], miaSignature(overTls, companySecret));

    const again = await runCli(['import', exportFile], postgresEnv);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /imported 0 webhooks, 0 event types and 0 tokens/);
    assert.equal((await postgresApi.get('/api/webhooks')).body.data.length, 2);
  } finally {
    await killIfRunning(herald);
    await plainReceiver.close();
    await tlsReceiver.close();
    await dropSchemas([schema]);
    removeDir(pki.dir);
    removeDir(dataDir);
  }
});

test('import refuses a file that is not an export, and migrate prepares a fresh schema', async () => {
  const dir = makeTempDir('herald-import-');
  const schema = freshSchemaName();
  const env = {
    HERALD_DATABASE_URL: TEST_DATABASE_URL,
    HERALD_DATABASE_SCHEMA: schema,
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    HERALD_LOG_LEVEL: 'warn',
  };
  try {
    const notJson = path.join(dir, 'notes.txt');
    fs.writeFileSync(notJson, 'these are not the webhooks you are looking for\n');
    const otherJson = path.join(dir, 'package.json');
    fs.writeFileSync(otherJson, JSON.stringify({ name: 'something', webhooks: [] }));
    for (const file of [notJson, otherJson]) {
      const refused = await runCli(['import', file], env);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /is not a Herald export/);
      assert.doesNotMatch(refused.stdout, /imported/);
    }

    const migrated = await runCli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /the postgres database is up to date/);
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT max(version) AS version FROM "${schema}".schema_migrations`);
      assert.equal(rows[0].version, POSTGRES_MIGRATIONS.length);
    } finally {
      await client.end();
    }
    // Running it again changes nothing and still succeeds.
    assert.equal((await runCli(['migrate'], env)).code, 0);
  } finally {
    await dropSchemas([schema]);
    removeDir(dir);
  }
});
