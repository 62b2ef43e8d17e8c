import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeDir } from '../support/index.js';
import { apiClient, spawnHerald, type SpawnedHerald } from '../support/herald.js';

async function stopHerald(herald: SpawnedHerald): Promise<void> {
  herald.process.kill('SIGTERM');
  await herald.exited;
}

test('without HERALD_ADMIN_TOKEN a token is generated on first start, printed once and stored hashed', async () => {
  const dataDir = makeTempDir('herald-token-');
  const env = { HERALD_DATA_DIR: dataDir, HERALD_LOG_LEVEL: 'info' };
  try {
    const first = await spawnHerald(env);
    const token = /^\s+(hrld_[A-Za-z0-9_-]{43})$/m.exec(first.output())?.[1];
    assert.ok(token, `no token printed:\n${first.output()}`);
    assert.equal((await apiClient(first.url, token).get('/api/webhooks')).status, 200);
    assert.equal((await apiClient(first.url, `${token}x`).get('/api/webhooks')).status, 401);
    await stopHerald(first);
    // The token appears in no log line (the JSON lines), only in the one plain-text notice.
    const logLines = first.output().split('\n').filter((line) => line.startsWith('{'));
    assert.ok(logLines.length > 0);
    assert.equal(logLines.some((line) => line.includes(token)), false);

    const second = await spawnHerald(env);
    assert.doesNotMatch(second.output(), /hrld_/, 'the token is shown on the first start only');
    assert.equal((await apiClient(second.url, token).get('/api/webhooks')).status, 200);
    await stopHerald(second);

    const database = Buffer.concat(
      fs.readdirSync(dataDir).filter((file) => file.startsWith('herald.db')).map((file) => fs.readFileSync(path.join(dataDir, file))),
    );
    assert.equal(database.includes(token), false, 'the database holds only a hash of the token');
  } finally {
    removeDir(dataDir);
  }
});

test('HERALD_ADMIN_TOKEN is accepted and no token is generated', async () => {
  const dataDir = makeTempDir('herald-env-token-');
  const token = 'operator-chosen-token-1234567890';
  try {
    const herald = await spawnHerald({ HERALD_DATA_DIR: dataDir, HERALD_ADMIN_TOKEN: token, HERALD_LOG_LEVEL: 'warn' });
    assert.doesNotMatch(herald.output(), /hrld_/);
    assert.equal((await apiClient(herald.url, token).get('/api/webhooks')).status, 200);
    await stopHerald(herald);
  } finally {
    removeDir(dataDir);
  }
});

test('a bad setting stops Herald at start with a message naming the variable', async () => {
  await assert.rejects(spawnHerald({ HERALD_RETRY_SCHEDULE: 'soon' }), /HERALD_RETRY_SCHEDULE/);
});
