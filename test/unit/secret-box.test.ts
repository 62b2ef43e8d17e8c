import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { isEncrypted, SecretBox, SecretDecryptionError } from '../../src/core/secret-box.js';

const SECRET = 'whsec-the-receivers-know-this-ü';

describe('secret box', () => {
  const key = randomBytes(32);
  const box = new SecretBox(key);

  test('what it encrypts it decrypts, in the self-describing v1 format', () => {
    const text = box.encrypt(SECRET);
    assert.match(text, /^v1\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/);
    const [, iv, tag] = text.split('.');
    assert.equal(Buffer.from(iv, 'base64').length, 12);
    assert.equal(Buffer.from(tag, 'base64').length, 16);
    assert.equal(box.decrypt(text), SECRET);
    assert.equal(box.decrypt(box.encrypt('')), '');
  });

  test('each encryption differs, and none contains the secret', () => {
    const texts = new Set(Array.from({ length: 50 }, () => box.encrypt(SECRET)));
    assert.equal(texts.size, 50);
    for (const text of texts) assert.ok(!text.includes(SECRET));
  });

  test('another key fails with a message that holds neither the secret nor a key', () => {
    const otherKey = randomBytes(32);
    const text = box.encrypt(SECRET);
    assert.throws(
      () => new SecretBox(otherKey, 'HERALD_ENCRYPTION_KEY').decrypt(text),
      (error: Error) => {
        assert.ok(error instanceof SecretDecryptionError);
        assert.match(error.message, /cannot be decrypted with HERALD_ENCRYPTION_KEY/);
        for (const forbidden of [SECRET, key.toString('base64'), key.toString('hex'), otherKey.toString('base64'), otherKey.toString('hex')]) {
          assert.ok(!error.message.includes(forbidden) && !String(error.stack).includes(forbidden));
        }
        return true;
      },
    );
  });

  test('a changed byte in the IV, the tag or the ciphertext fails, also once the unchanged text was decrypted', () => {
    const text = box.encrypt(SECRET);
    assert.equal(box.decrypt(text), SECRET);
    for (const part of [1, 2, 3]) {
      const parts = text.split('.');
      const bytes = Buffer.from(parts[part], 'base64');
      bytes[0] ^= 1;
      parts[part] = bytes.toString('base64');
      assert.throws(() => box.decrypt(parts.join('.')), SecretDecryptionError, `part ${part}`);
    }
    assert.throws(() => box.decrypt(text.slice(0, -4)), SecretDecryptionError, 'truncated');
  });

  test('text of another shape is not taken for an encrypted secret', () => {
    assert.equal(isEncrypted(box.encrypt(SECRET)), true);
    for (const plain of [SECRET, 'v1.', 'v1.a.b.c', `v2.${box.encrypt(SECRET).slice(3)}`]) {
      assert.equal(isEncrypted(plain), false, plain);
      assert.throws(() => box.decrypt(plain), SecretDecryptionError);
    }
    assert.equal(box.encryptIfPlain(SECRET) === SECRET, false);
    const encrypted = box.encrypt(SECRET);
    assert.equal(box.encryptIfPlain(encrypted), encrypted);
  });

  test('the key must be 32 bytes, and neither it nor a decrypted secret shows when the box is logged', () => {
    assert.throws(() => new SecretBox(randomBytes(16)), /32 bytes/);
    assert.equal(box.decrypt(box.encrypt(SECRET)), SECRET);
    const shown = JSON.stringify(box) + inspect(box, { showHidden: true, depth: 5 });
    assert.ok(!shown.includes(key.toString('hex')) && !shown.includes(key.toString('base64')), shown);
    assert.ok(!shown.includes(SECRET), shown);
    assert.ok(!/\b(\d{1,3}, ){8}/.test(shown), 'no key bytes either');
  });
});
