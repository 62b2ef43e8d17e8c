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

/**
 * Internal ranges an operator lets webhooks reach (HERALD_ALLOWED_NETWORKS) while the rest of
 * the private space stays blocked. Built once from validated CIDRs and shared by every check.
 */
export class NetworkAllowList {
  static readonly EMPTY = new NetworkAllowList([]);
  private readonly list = new net.BlockList();

  constructor(readonly cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const { address, prefix, family } = parseCidr(cidr);
      this.list.addSubnet(address, prefix, family);
    }
  }

  includes(address: string, family: 'ipv4' | 'ipv6'): boolean {
    return this.cidrs.length > 0 && this.list.check(address, family);
  }
}

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8` or `fd00::/8`; a bare address is a network of one. Throws on anything else. */
export function parseCidr(text: string): Cidr {
  const [address, prefixText, ...rest] = text.trim().split('/');
  const version = net.isIP(address);
  // Only canonical literals: '10.1' or '0x7f.1' would be read differently by different tools.
  if (version === 0 || rest.length > 0 || address.includes('%')) throw new Error(`"${text}" is not a CIDR`);
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const maxPrefix = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? '0') || prefix > maxPrefix) {
    throw new Error(`"${text}" has a prefix length outside 0 to ${maxPrefix}`);
  }
  return { address, prefix, family };
}

/** True for addresses a webhook may not reach unless private networks are allowed: internal
 * ranges, minus those on the allow-list. */
export function isBlockedAddress(address: string, allowed: NetworkAllowList = NetworkAllowList.EMPTY): boolean {
  const target = checkedForm(address);
  if (target === null) return true;
  return blockList.check(target.address, target.family) && !allowed.includes(target.address, target.family);
}

/** The address a connection to `address` really reaches, or null when it is not an IP. */
function checkedForm(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const family = net.isIP(address);
  if (family === 4) return { address, family: 'ipv4' };
  if (family !== 6) return null;
  const embedded = embeddedIpv4(address);
  return embedded === null ? { address, family: 'ipv6' } : { address: embedded, family: 'ipv4' };
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
export function assertHostAllowed(url: URL, allowed: NetworkAllowList = NetworkAllowList.EMPTY): void {
  const host = bareHost(url.hostname);
  if (net.isIP(host) && isBlockedAddress(host, allowed)) throw new BlockedAddressError(host, host);
}

/** Resolves a name and refuses it when any of its addresses is blocked: used for targets that
 * a proxy resolves, where Herald never sees the address it connects to. */
export async function assertResolvesToPublic(
  url: URL,
  allowed: NetworkAllowList = NetworkAllowList.EMPTY,
): Promise<void> {
  const host = bareHost(url.hostname);
  if (net.isIP(host)) return assertHostAllowed(url, allowed);
  const addresses = await dns.promises.lookup(host, { all: true });
  const blocked = addresses.find((entry) => isBlockedAddress(entry.address, allowed));
  if (blocked) throw new BlockedAddressError(host, blocked.address);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

type Lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

/** A `lookup` for net/tls connect options that refuses blocked addresses outside `allowed`. */
export function guardedLookupFor(allowed: NetworkAllowList): Lookup {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const blocked = addresses.find((entry) => isBlockedAddress(entry.address, allowed));
      if (blocked) return callback(new BlockedAddressError(hostname, blocked.address), []);
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      callback(null, first.address, first.family);
    });
  };
}

/** The lookup with no allow-list: every internal range is refused. */
export const guardedLookup: Lookup = guardedLookupFor(NetworkAllowList.EMPTY);
