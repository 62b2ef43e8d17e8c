import dns from 'node:dns';
import net from 'node:net';

/**
 * The SSRF guard. Webhook URLs come from users; without this a webhook could make Herald call
 * the metadata service, the database or anything else on the private network. The check runs
 * on the resolved address at connect time, so DNS names that resolve to such addresses (and
 * DNS rebinding between a check and the connection) are refused too.
 */

const BLOCKED_RANGES: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], // "this" network
  ['10.0.0.0', 8, 'ipv4'], // private
  ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
  ['127.0.0.0', 8, 'ipv4'], // loopback
  ['169.254.0.0', 16, 'ipv4'], // link-local, cloud metadata services
  ['172.16.0.0', 12, 'ipv4'], // private
  ['192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['192.168.0.0', 16, 'ipv4'], // private
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'], // unspecified
  ['::1', 128, 'ipv6'], // loopback
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['ff00::', 8, 'ipv6'], // multicast
];

const blockList = new net.BlockList();
for (const [address, prefix, family] of BLOCKED_RANGES) blockList.addSubnet(address, prefix, family);

export class BlockedAddressError extends Error {
  readonly code = 'HERALD_BLOCKED_ADDRESS';
  constructor(host: string, address: string) {
    super(
      host === address
        ? `${address} is a private, loopback or link-local address`
        : `${host} resolves to ${address}, a private, loopback or link-local address`,
    );
    this.name = 'BlockedAddressError';
  }
}

/** True for addresses a webhook may not reach unless private networks are allowed. */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blockList.check(address, 'ipv4');
  if (family !== 6) return true;
  const embedded = embeddedIpv4(address);
  if (embedded !== null) return blockList.check(embedded, 'ipv4');
  return blockList.check(address, 'ipv6');
}

/** IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::) addresses
 * reach the IPv4 address inside them, so that address is what gets checked. */
function embeddedIpv4(ipv6: string): string | null {
  const words = expandIpv6(ipv6);
  const isMapped = words.slice(0, 5).every((word) => word === 0) && (words[5] === 0xffff || words[5] === 0);
  const isNat64 = words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((word) => word === 0);
  if (!isMapped && !isNat64) return null;
  if (isMapped && words[5] === 0 && words[6] === 0) return null; // :: and ::1 themselves
  return [words[6] >> 8, words[6] & 0xff, words[7] >> 8, words[7] & 0xff].join('.');
}

function expandIpv6(address: string): number[] {
  let text = address.toLowerCase().split('%')[0];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const headWords = head ? head.split(':') : [];
  const tailWords = tail ? tail.split(':') : [];
  const missing = 8 - headWords.length - tailWords.length;
  const words = [...headWords, ...Array<string>(tail === null ? 0 : missing).fill('0'), ...tailWords];
  return words.map((word) => parseInt(word || '0', 16));
}

/** Strips the brackets of an IPv6 URL host. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Refuses a URL whose host is a blocked IP literal. Names are checked when they resolve. */
export function assertHostAllowed(url: URL): void {
  const host = bareHost(url.hostname);
  if (net.isIP(host) && isBlockedAddress(host)) throw new BlockedAddressError(host, host);
}

/** Resolves a name and refuses it when any of its addresses is blocked: used for targets that
 * a proxy resolves, where Herald never sees the address it connects to. */
export async function assertResolvesToPublic(url: URL): Promise<void> {
  const host = bareHost(url.hostname);
  if (net.isIP(host)) return assertHostAllowed(url);
  const addresses = await dns.promises.lookup(host, { all: true });
  const blocked = addresses.find((entry) => isBlockedAddress(entry.address));
  if (blocked) throw new BlockedAddressError(host, blocked.address);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for net/tls connect options that refuses blocked addresses. */
export function guardedLookup(
  hostname: string,
  options: dns.LookupOptions,
  callback: LookupCallback,
): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const blocked = addresses.find((entry) => isBlockedAddress(entry.address));
    if (blocked) return callback(new BlockedAddressError(hostname, blocked.address), []);
    if (options.all) return callback(null, addresses);
    const [first] = addresses;
    callback(null, first.address, first.family);
  });
}
