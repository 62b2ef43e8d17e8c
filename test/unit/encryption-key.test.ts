import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { KEY_FILE_NAME, loadSecretBox } from '../../src/store/encryption-key.js';
import { makeTempDir, removeDir } from '../support/index.js';

const HEX_KEY = 'ab'.repeat(32);

describe('encryption key', () => {
  test('HERALD_ENCRYPTION_KEY takes 32 bytes as 64 hex digits or as base64, and names itself when bad', () => {
    const fromHex = loadConfig({ HERALD_ENCRYPTION_KEY: HEX_KEY }).encryptionKey;
    const fromBase64 = loadConfig({ HERALD_ENCRYPTION_KEY: Buffer.from(HEX_KEY, 'hex').toString('base64') }).encryptionKey;
    assert.deepEqual(fromHex, Buffer.from(HEX_KEY, 'hex'));
    assert.deepEqual(fromBase64, fromHex);
    assert.equal(loadConfig({}).encryptionKey, null);
    for (const bad of ['short', 'ab'.repeat(31), Buffer.alloc(16).toString('base64'), `${HEX_KEY}00`]) {
      assert.throws(
        () => loadConfig({ HERALD_ENCRYPTION_KEY: bad }),
        (error: Error) => error instanceof ConfigError && /HERALD_ENCRYPTION_KEY/.test(error.message) && !error.message.includes(bad),
      );
    }
  });

  test('the variable wins over the key file, which is then never created', () => {
    const dataDir = makeTempDir('herald-key-');
    try {
      const box = loadSecretBox({ dataDir, encryptionKey: Buffer.from(HEX_KEY, 'hex') });
      assert.equal(box.source, 'HERALD_ENCRYPTION_KEY');
      assert.equal(fs.existsSync(path.join(dataDir, KEY_FILE_NAME)), false);
    } finally {
      removeDir(dataDir);
    }
  });

  test('without the variable a key file is created once, private, in a private folder', () => {
    const parent = makeTempDir('herald-key-');
    const dataDir = path.join(parent, 'data');
    try {
      const first = loadSecretBox({ dataDir, encryptionKey: null });
      const file = path.join(dataDir, KEY_FILE_NAME);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(dataDir).mode & 0o777, 0o700);
      const again = loadSecretBox({ dataDir, encryptionKey: null });
      assert.equal(again.decrypt(first.encrypt('same key')), 'same key');
      assert.deepEqual(fs.readdirSync(dataDir), [KEY_FILE_NAME], 'no temporary file is left behind');
    } finally {
      removeDir(parent);
    }
  });

  test('a key file others may read is refused, with what to do about it', () => {
    const dataDir = makeTempDir('herald-key-');
    try {
      loadSecretBox({ dataDir, encryptionKey: null });
      const file = path.join(dataDir, KEY_FILE_NAME);
      fs.chmodSync(file, 0o644);
      assert.throws(() => loadSecretBox({ dataDir, encryptionKey: null }), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /mode 644/);
        assert.match(error.message, /chmod 600/);
        assert.ok(!error.message.includes(fs.readFileSync(file, 'utf8').trim()));
        return true;
      });
      fs.chmodSync(file, 0o600);
      fs.writeFileSync(file, 'not a key\n');
      assert.throws(() => loadSecretBox({ dataDir, encryptionKey: null }), /does not hold a 32-byte key/);
    } finally {
      removeDir(dataDir);
    }
  });
});
