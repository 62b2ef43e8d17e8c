import { createHash } from 'node:crypto';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { guardedLookupFor, NetworkAllowList } from './address-guard.js';

/** Idle keep-alive connections to a receiver are closed after this long. */
const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** Connections per receiver origin; more requests queue in the pool. */
const CONNECTIONS_PER_ORIGIN = 32;
/** Pools kept for distinct (CA, proxy) pairs; the least recently used beyond this is closed. */
const MAX_POOLS = 512;

export interface TargetTransport {
  base64CA: string | null;
  proxyUrl: string | null;
}

/**
 * One connection pool per (CA, proxy) pair, shared by every webhook with the same pair, so
 * connections to a receiver are reused across deliveries instead of opened per request.
 */
export class AgentPool {
  private readonly pools = new Map<string, Dispatcher>();
  /** Used for targets and proxies alike; undefined when private networks are allowed outright. */
  private readonly lookup: ReturnType<typeof guardedLookupFor> | undefined;

  constructor(
    private readonly options: {
      allowPrivateNetworks: boolean;
      /** Internal ranges reachable even with private networks off (HERALD_ALLOWED_NETWORKS). */
      allowedNetworks?: NetworkAllowList;
      connectTimeoutMs: number;
    },
  ) {
    this.lookup = options.allowPrivateNetworks
      ? undefined
      : guardedLookupFor(options.allowedNetworks ?? NetworkAllowList.EMPTY);
  }

  dispatcherFor(transport: TargetTransport): Dispatcher {
    const key = poolKey(transport);
    const existing = this.pools.get(key);
    if (existing) {
      // Re-insert to mark it most recently used.
      this.pools.delete(key);
      this.pools.set(key, existing);
      return existing;
    }
    const created = this.create(transport);
    this.pools.set(key, created);
    this.evictBeyondLimit();
    return created;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }

  private create(transport: TargetTransport): Dispatcher {
    const ca = transport.base64CA ? Buffer.from(transport.base64CA, 'base64').toString('utf8') : undefined;
    const connect = {
      timeout: this.options.connectTimeoutMs,
      ...(ca ? { ca } : {}),
      ...(this.lookup ? { lookup: this.lookup } : {}),
    };
    if (!transport.proxyUrl) {
      return new Agent({
        connect,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        connections: CONNECTIONS_PER_ORIGIN,
      });
    }
    return new ProxyAgent({
      uri: transport.proxyUrl,
      // Plain http targets go as absolute-form requests; https targets through a CONNECT tunnel.
      proxyTunnel: false,
      // The connection to the proxy itself passes the same address guard.
      proxyTls: this.lookup ? { lookup: this.lookup } : {},
      requestTls: ca ? { ca } : {},
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connections: CONNECTIONS_PER_ORIGIN,
    } as ProxyAgent.Options);
  }

  private evictBeyondLimit(): void {
    while (this.pools.size > MAX_POOLS) {
      const [oldestKey, oldest] = this.pools.entries().next().value as [string, Dispatcher];
      this.pools.delete(oldestKey);
      void oldest.close().catch(() => undefined);
    }
  }
}

function poolKey(transport: TargetTransport): string {
  const ca = transport.base64CA ? createHash('sha256').update(transport.base64CA).digest('hex') : '-';
  return `${transport.proxyUrl ?? '-'}|${ca}`;
}
