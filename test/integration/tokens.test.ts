import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, waitUntil } from '../support/index.js';
import { apiClient, spawnHerald, startTestHerald, TEST_ADMIN_TOKEN } from '../support/herald.js';
import type { ApiClient, ApiResponse, SpawnedHerald, TestHerald } from '../support/herald.js';

/**
 * The life of an API token: made through the API or the CLI, shown once, stored as a hash,
 * limited in time and reach, revoked.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');

/** Every byte of every file in the data folder (the SQLite file, its WAL and shared memory). */
function dataFolderBytes(dataDir: string): Buffer {
  return Buffer.concat(
    fs
      .readdirSync(dataDir)
      .map((file) => path.join(dataDir, file))
      .filter((file) => fs.statSync(file).isFile())
      .map((file) => fs.readFileSync(file)),
  );
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

function assertError(response: ApiResponse, status: number, error: string, field?: string): void {
  const text = JSON.stringify(response.body);
  assert.equal(response.status, status, text);
  assert.equal(response.body.error, error, text);
  assert.equal(response.body.field, field, text);
  assert.equal(typeof response.body.message, 'string');
}

describe('tokens through the API', () => {
  let herald: TestHerald;

  before(async () => {
    herald = await startTestHerald();
  });

  after(async () => {
    await herald?.stop({ removeData: true });
  });

  async function create(spec: Record<string, unknown>, by: ApiClient = herald): Promise<{ id: string; token: string; body: any }> {
    const created = await by.post('/api/tokens', spec);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return { id: created.body.id, token: created.body.token, body: created.body };
  }

  async function listed(): Promise<any[]> {
    const list = await herald.get('/api/tokens');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    return list.body.data;
  }

  test('a new token is shown once, never listed, and stored only as a hash', async () => {
    const { id, token, body } = await create({ role: 'company', tenantId: 't1', name: 'shown once' });
    assert.match(token, /^hrld_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      { role: body.role, tenantId: body.tenantId, projectId: body.projectId, name: body.name, active: body.active, expiresAt: body.expiresAt, revokedAt: body.revokedAt },
      { role: 'company', tenantId: 't1', projectId: null, name: 'shown once', active: true, expiresAt: null, revokedAt: null },
    );

    const company = apiClient(herald.url, token);
    for (const list of [await herald.get('/api/tokens'), await company.get('/api/tokens')]) {
      assert.equal(list.status, 200);
      const item = list.body.data.find((entry: { id: string }) => entry.id === id);
      assert.ok(item, 'the token is not listed');
      assert.equal('token' in item, false);
      assert.equal(JSON.stringify(list.body).includes(token), false, 'the list carries the token text');
      assert.equal(JSON.stringify(list.body).includes(sha256(token)), false, 'the list carries the token hash');
    }

    const stored = dataFolderBytes(herald.dataDir);
    // The search does reach where tokens are kept: the hash is there, the token is not.
    assert.ok(stored.includes(sha256(token)), 'the token hash was not found in the data folder');
    assert.equal(stored.includes(token), false, 'the data folder holds the token text');
    assert.equal(stored.includes(token.slice('hrld_'.length)), false, 'the data folder holds the token text');
  });

  test('a token with expiresAt works until then and answers 401 expired afterwards', async () => {
    const expiresAt = new Date(Date.now() + 2_000).toISOString();
    const { id, token, body } = await create({ role: 'publisher', expiresAt });
    assert.equal(body.expiresAt, expiresAt);
    const client = apiClient(herald.url, token);
    // Whether or not this very request still makes it in time, the token must expire.
    const first = await client.get('/api/event-types');
    assert.ok(first.status === 200 || first.status === 401, JSON.stringify(first.body));
    const refused = await waitUntil(
      async () => {
        const answer = await client.get('/api/event-types');
        return answer.status === 401 ? answer : null;
      },
      { timeoutMs: 15_000, message: 'the token did not expire' },
    );
    assertError(refused, 401, 'unauthorized');
    assert.match(refused.body.message, /expired/);
    const item = (await listed()).find((entry) => entry.id === id);
    assert.equal(item.active, false);
    assert.equal(item.revokedAt, null);
  });

  test('a revoked token answers 401 on its next request', async () => {
    const { id, token } = await create({ role: 'project', tenantId: 't1', projectId: 'p1' });
    const client = apiClient(herald.url, token);
    assert.equal((await client.get('/api/webhooks')).status, 200);
    const revoked = await herald.delete(`/api/tokens/${id}`);
    assert.equal(revoked.status, 204, JSON.stringify(revoked.body));
    const refused = await client.get('/api/webhooks');
    assertError(refused, 401, 'unauthorized');
    assert.match(refused.body.message, /revoked/);
    const item = (await listed()).find((entry) => entry.id === id);
    assert.equal(item.active, false);
    assert.ok(item.revokedAt);
  });

  test("a company token cannot revoke another company's token: 404, and that token keeps working", async () => {
    const own = await create({ role: 'company', tenantId: 't1' });
    const foreign = await create({ role: 'company', tenantId: 't2' });
    const before = await listed();
    const answer = await apiClient(herald.url, own.token).delete(`/api/tokens/${foreign.id}`);
    assertError(answer, 404, 'not_found');
    const missing = await apiClient(herald.url, own.token).delete('/api/tokens/tok_does_not_exist');
    assert.deepEqual(answer.body, missing.body, 'a foreign token reads differently from a missing one');
    assert.deepEqual(await listed(), before);
    assert.equal((await apiClient(herald.url, foreign.token).get('/api/webhooks')).status, 200);
  });

  test('a company token cannot make an admin token: 403 role, and nothing is made', async () => {
    const company = await create({ role: 'company', tenantId: 't1' });
    const before = await listed();
    const answer = await apiClient(herald.url, company.token).post('/api/tokens', { role: 'admin' });
    assertError(answer, 403, 'forbidden', 'role');
    assert.deepEqual(await listed(), before);
  });

  test('a company token makes tokens within its company only', async () => {
    const company = await create({ role: 'company', tenantId: 't1' });
    const client = apiClient(herald.url, company.token);
    const made = await create({ role: 'publisher', tenantId: 't1' }, client);
    assert.equal(made.body.tenantId, 't1');
    const before = await listed();
    assertError(await client.post('/api/tokens', { role: 'publisher', tenantId: 't2' }), 403, 'forbidden', 'tenantId');
    assertError(await client.post('/api/tokens', { role: 'publisher' }), 403, 'forbidden', 'tenantId');
    assert.deepEqual(await listed(), before);
  });

  const badRequests: Array<{ name: string; body: Record<string, unknown>; field: string }> = [
    { name: 'a company token without tenantId', body: { role: 'company' }, field: 'tenantId' },
    { name: 'a project token without tenantId', body: { role: 'project', projectId: 'p1' }, field: 'tenantId' },
    { name: 'a project token without projectId', body: { role: 'project', tenantId: 't1' }, field: 'projectId' },
    { name: 'an admin token with a tenantId', body: { role: 'admin', tenantId: 't1' }, field: 'tenantId' },
    { name: 'an admin token with a projectId', body: { role: 'admin', projectId: 'p1' }, field: 'projectId' },
    { name: 'a company token with a projectId', body: { role: 'company', tenantId: 't1', projectId: 'p1' }, field: 'projectId' },
    { name: 'a publisher token with a projectId', body: { role: 'publisher', tenantId: 't1', projectId: 'p1' }, field: 'projectId' },
    { name: 'expiresAt in the past', body: { role: 'publisher', expiresAt: new Date(Date.now() - 60_000).toISOString() }, field: 'expiresAt' },
    { name: 'expiresAt that is not a date', body: { role: 'publisher', expiresAt: 'tomorrow' }, field: 'expiresAt' },
    { name: 'an unknown role', body: { role: 'owner' }, field: 'role' },
    { name: 'no role', body: { tenantId: 't1' }, field: 'role' },
    { name: 'an unknown field', body: { role: 'publisher', scopes: ['publish'] }, field: 'scopes' },
    { name: 'an empty tenantId', body: { role: 'company', tenantId: '' }, field: 'tenantId' },
  ];
  for (const bad of badRequests) {
    test(`refused with 400: ${bad.name}`, async () => {
      const before = await listed();
      assertError(await herald.post('/api/tokens', bad.body), 400, 'validation_failed', bad.field);
      assert.deepEqual(await listed(), before, 'a refused request made a token');
    });
  }

  test('a company token is held to the same reach rules', async () => {
    const company = await create({ role: 'company', tenantId: 't1' });
    const client = apiClient(herald.url, company.token);
    assertError(await client.post('/api/tokens', { role: 'project', tenantId: 't1' }), 400, 'validation_failed', 'projectId');
    assertError(await client.post('/api/tokens', { role: 'company' }), 400, 'validation_failed', 'tenantId');
  });
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

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

describe('tokens through the CLI', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let running: SpawnedHerald | null = null;

  before(() => {
    dataDir = makeTempDir('herald-cli-tokens-');
    env = { HERALD_DATA_DIR: dataDir, HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN, HERALD_LOG_LEVEL: 'warn' };
  });

  after(async () => {
    await stop();
    removeDir(dataDir);
  });

  async function start(): Promise<SpawnedHerald> {
    running = await spawnHerald(env);
    return running;
  }

  async function stop(): Promise<void> {
    if (!running) return;
    const herald = running;
    running = null;
    if (herald.process.exitCode === null && herald.process.signalCode === null) herald.process.kill('SIGTERM');
    assert.equal(await herald.exited, 0, herald.output());
  }

  async function cliJson(args: string[]): Promise<any> {
    const run = await runCli(args, env);
    assert.equal(run.code, 0, `herald ${args.join(' ')}: ${run.stderr}${run.stdout}`);
    return JSON.parse(run.stdout);
  }

  test('create, list and revoke with Herald stopped; the tokens work against Herald once it runs', async () => {
    const created = await cliJson(['token', 'create', '--role', 'company', '--tenant', 't1', '--name', 'from the cli', '--json']);
    assert.match(created.token, /^hrld_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.role, 'company');
    assert.equal(created.tenantId, 't1');
    assert.equal(created.projectId, null);
    assert.equal(created.name, 'from the cli');
    assert.equal(created.revokedAt, null);
    assert.equal(dataFolderBytes(dataDir).includes(created.token), false, 'the data folder holds the token text');

    const publisher = await cliJson(['token', 'create', '--role', 'publisher', '--json']);

    const list = await runCli(['token', 'list', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const records = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(records.map((record) => record.id).sort(), [created.id, publisher.id].sort());
    assert.equal(list.stdout.includes(created.token), false, 'token list prints a token');
    assert.equal(list.stdout.includes(sha256(created.token)), false, 'token list prints a token hash');
    const text = await runCli(['token', 'list'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${created.id}\\s+company\\s+tenant t1`));
    const onlyT1 = await cliJson(['token', 'list', '--tenant', 't1', '--json']);
    assert.deepEqual(onlyT1.map((record: { id: string }) => record.id), [created.id]);

    // Refused by the reach rules, as on the API.
    const badReach = await runCli(['token', 'create', '--role', 'project', '--tenant', 't1'], env);
    assert.equal(badReach.code, 2, badReach.stdout);
    assert.match(badReach.stderr, /projectId/);
    assert.doesNotMatch(badReach.stdout, /hrld_/);

    let herald = await start();
    try {
      const company = apiClient(herald.url, created.token);
      assert.equal((await company.get('/api/webhooks')).status, 200);
      const seen = await company.get('/api/tokens');
      assert.equal(seen.status, 200);
      assert.deepEqual(seen.body.data.map((item: { id: string }) => item.id), [created.id]);
      assert.equal((await apiClient(herald.url, publisher.token).get('/api/event-types')).status, 200);
      // The reach the CLI gave it holds: a company token publishes nothing and sees no other tenant.
      assert.equal((await company.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } })).status, 403);
      const made = await apiClient(herald.url, TEST_ADMIN_TOKEN).post('/api/tokens', { role: 'publisher', tenantId: 't2' });
      assert.equal(made.status, 201);
    } finally {
      await stop();
    }

    // A token made through the API shows up in the CLI's list.
    assert.equal((await cliJson(['token', 'list', '--json'])).length, 3);

    const revoked = await runCli(['token', 'revoke', created.id], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked ${created.id}`));
    const again = await runCli(['token', 'revoke', created.id], env);
    assert.equal(again.code, 2, again.stdout);
    assert.match(again.stderr, /no active token/);
    const unknown = await runCli(['token', 'revoke', 'tok_does_not_exist'], env);
    assert.equal(unknown.code, 2, unknown.stdout);
    const afterRevoke = (await cliJson(['token', 'list', '--json'])) as Array<{ id: string; revokedAt: number | null }>;
    assert.ok(afterRevoke.find((record) => record.id === created.id)?.revokedAt, 'the list does not show the revocation');

    herald = await start();
    try {
      const refused = await apiClient(herald.url, created.token).get('/api/webhooks');
      assert.equal(refused.status, 401);
      assert.match(refused.body.message, /revoked/);
      assert.equal((await apiClient(herald.url, publisher.token).get('/api/event-types')).status, 200, 'revoking one token touched another');
    } finally {
      await stop();
    }
  });

  test('a token made with --expires-in answers 401 expired once its time is up; a longer one still works', async () => {
    const lasting = await cliJson(['token', 'create', '--role', 'publisher', '--expires-in', '1h', '--json']);
    assert.equal(typeof lasting.expiresAt, 'number');
    assert.ok(lasting.expiresAt > Date.now() + 50 * 60_000 && lasting.expiresAt <= Date.now() + 60 * 60_000);
    const brief = await cliJson(['token', 'create', '--role', 'publisher', '--expires-in', '2s', '--json']);
    const bad = await runCli(['token', 'create', '--role', 'publisher', '--expires-in', 'soon'], env);
    assert.equal(bad.code, 2, bad.stdout);
    assert.match(bad.stderr, /--expires-in/);

    const herald = await start();
    try {
      const refused = await waitUntil(
        async () => {
          const answer = await apiClient(herald.url, brief.token).get('/api/event-types');
          return answer.status === 401 ? answer : null;
        },
        { timeoutMs: 15_000, message: 'the CLI token did not expire' },
      );
      assert.match(refused.body.message, /expired/);
      assert.equal((await apiClient(herald.url, lasting.token).get('/api/event-types')).status, 200);
    } finally {
      await stop();
    }
  });

  test('the CLI manages tokens beside a running Herald, which honours them at once', async () => {
    const herald = await start();
    try {
      const created = await cliJson(['token', 'create', '--role', 'company', '--tenant', 't1', '--json']);
      const client = apiClient(herald.url, created.token);
      assert.equal((await client.get('/api/webhooks')).status, 200);
      const revoke = await runCli(['token', 'revoke', created.id], env);
      assert.equal(revoke.code, 0, revoke.stderr);
      assert.equal((await client.get('/api/webhooks')).status, 401);
      // The running Herald still delivers: the command left its lock and its claims alone.
      assert.equal((await apiClient(herald.url, TEST_ADMIN_TOKEN).get('/api/webhooks')).status, 200);
    } finally {
      await stop();
    }
  });
});
