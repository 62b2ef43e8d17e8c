import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { guardedLookup, guardedLookupFor } from '../../src/http/address-guard.js';
import {
  assertHostAllowed,
  BlockedAddressError,
  isBlockedAddress,
  NetworkAllowList,
  parseCidr,
} from '../../src/http/index.js';

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

describe('address guard with an allow-list (HERALD_ALLOWED_NETWORKS)', () => {
  const allowed = new NetworkAllowList(['127.0.0.0/8', '10.20.0.0/16', 'fd00:1::/64', '192.168.1.7']);

  test('addresses in a listed range pass, in every spelling', () => {
    for (const address of ['127.0.0.1', '10.20.3.4', 'fd00:1::5', '192.168.1.7', '::ffff:127.0.0.1', '::ffff:a14:304']) {
      assert.equal(isBlockedAddress(address, allowed), false, address);
    }
    for (const url of ['http://127.0.0.1/', 'http://0x7f000001/', 'http://[::ffff:127.0.0.1]/', 'http://10.20.0.1:8080/']) {
      assert.doesNotThrow(() => assertHostAllowed(new URL(url), allowed), url);
    }
  });

  test('the rest of the private space stays blocked', () => {
    for (const address of ['10.21.0.1', '10.1.2.3', '::1', 'fd00:2::1', '192.168.1.8', '169.254.169.254', '172.16.0.1']) {
      assert.equal(isBlockedAddress(address, allowed), true, address);
    }
    assert.throws(() => assertHostAllowed(new URL('http://[::1]/'), allowed), BlockedAddressError);
  });

  test('without an allow-list nothing internal passes', () => {
    assert.equal(isBlockedAddress('127.0.0.1'), true);
    assert.equal(isBlockedAddress('127.0.0.1', NetworkAllowList.EMPTY), true);
  });

  test('the connect-time lookup applies the allow-list too', async () => {
    const lookup = (guard: typeof guardedLookup, host: string) =>
      new Promise<string>((resolve, reject) =>
        guard(host, {}, (error, address) => (error ? reject(error) : resolve(address as string))),
      );
    assert.equal(await lookup(guardedLookupFor(allowed), '127.0.0.1'), '127.0.0.1');
    await assert.rejects(lookup(guardedLookup, '127.0.0.1'), BlockedAddressError);
    await assert.rejects(lookup(guardedLookupFor(allowed), '10.1.2.3'), BlockedAddressError);
  });

  test('CIDRs are parsed strictly', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(parseCidr('fd00::/8'), { address: 'fd00::', prefix: 8, family: 'ipv6' });
    assert.deepEqual(parseCidr('10.1.2.3'), { address: '10.1.2.3', prefix: 32, family: 'ipv4' });
    for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.1/8', '0x7f.1/8', 'example.com/24', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/-1', '']) {
      assert.throws(() => parseCidr(bad), Error, bad);
    }
  });
});
