import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hmacSignature,
  miaSignature,
  safeEqual,
  signatureHeaders,
  standardWebhookSignature,
} from '../../src/core/signing.js';

// Expected values computed with the openssl command line, not with the code under test:
//   printf '%s' "$BODY$SECRET" | openssl dgst -sha256
//   printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET"
//   printf '%s' "evt_1.1700000000.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
const BODY = Buffer.from('{"eventName":"x","payload":{"é":1}}', 'utf8');
const SECRET = 's3cr3t-ü';

describe('signatures', () => {
  test('X-Mia-Signature is hex(sha256(body + secret))', () => {
    assert.equal(miaSignature(BODY, SECRET), '317d616609a004b2038db32819e10030cd67f2b6e05871a72de3723dc026c9a8');
  });

  test('X-Signature is hex(HMAC-SHA256(secret, body))', () => {
    assert.equal(hmacSignature(BODY, SECRET), '45be8557a56fb3a0c4782a3115f23fe8e6fc91743c8594f5c2f25b5879001314');
  });

  test('webhook-signature is v1, + base64 HMAC of id.timestamp.body', () => {
    assert.equal(
      standardWebhookSignature('evt_1', 1_700_000_000, BODY, SECRET),
      'v1,cv0Tj8y6l0Agem471DI/Exp7iZvqWOIkk6MsLOwLCyw=',
    );
  });

  test('the header set carries every scheme, X-Mia-Token equal to X-Mia-Signature', () => {
    const headers = signatureHeaders({ body: BODY, secret: SECRET, messageId: 'evt_1', timestampSeconds: 1_700_000_000 });
    assert.deepEqual(Object.keys(headers).sort(), [
      'webhook-id',
      'webhook-signature',
      'webhook-timestamp',
      'x-mia-signature',
      'x-mia-token',
      'x-signature',
    ]);
    assert.equal(headers['x-mia-token'], headers['x-mia-signature']);
    assert.equal(headers['webhook-id'], 'evt_1');
    assert.equal(headers['webhook-timestamp'], '1700000000');
  });

  test('during a rotation webhook-signature lists the new and the previous signature; the rest use the new secret', () => {
    const input = { body: BODY, messageId: 'evt_1', timestampSeconds: 1_700_000_000 };
    const single = signatureHeaders({ ...input, secret: SECRET });
    const rotating = signatureHeaders({ ...input, secret: SECRET, previousSecret: 'the-old-secret' });
    assert.equal(
      rotating['webhook-signature'],
      `${standardWebhookSignature('evt_1', 1_700_000_000, BODY, SECRET)} ${standardWebhookSignature('evt_1', 1_700_000_000, BODY, 'the-old-secret')}`,
    );
    assert.deepEqual({ ...rotating, 'webhook-signature': '' }, { ...single, 'webhook-signature': '' });
    assert.equal(signatureHeaders({ ...input, secret: SECRET, previousSecret: null })['webhook-signature'], single['webhook-signature']);
  });

  test('a changed byte or another secret changes every signature', () => {
    const tampered = Buffer.from(BODY);
    tampered[5] ^= 1;
    assert.notEqual(miaSignature(tampered, SECRET), miaSignature(BODY, SECRET));
    assert.notEqual(hmacSignature(BODY, 'other-secret'), hmacSignature(BODY, SECRET));
  });

  test('safeEqual compares without short-circuiting on length', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'abcd'), false);
  });
});
