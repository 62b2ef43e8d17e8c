import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHostAllowed, isBlockedAddress } from '../../src/http/index.js';

describe('address guard', () => {
  const blocked = [
    '127.0.0.1',
    '127.255.0.9',
    '0.0.0.0',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
  ];
  const allowed = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'];

  for (const address of blocked) {
    test(`blocks ${address}`, () => assert.equal(isBlockedAddress(address), true));
  }
  for (const address of allowed) {
    test(`allows ${address}`, () => assert.equal(isBlockedAddress(address), false));
  }

  test('URL spellings of loopback (decimal, octal, hex, bracketed IPv6) are all caught', () => {
    for (const url of [
      'http://2130706433/',
      'http://0177.0.0.1/',
      'http://0x7f.1/',
      'http://0x7f000001/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://127.1/',
    ]) {
      assert.throws(() => assertHostAllowed(new URL(url)), /private, loopback or link-local/, url);
    }
    assert.doesNotThrow(() => assertHostAllowed(new URL('https://example.com/hook')));
  });
});
