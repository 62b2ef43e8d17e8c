import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApi, HeraldMetrics, TokenAuthority } from './api/index.js';
import { ConfigError, type HeraldConfig } from './config.js';
import { EventCatalog } from './core/event-catalog.js';
import { Dispatcher, HandOffOffering, RemoteHandOff } from './dispatch/index.js';
import { createSender } from './http/index.js';
import { loadSecretBox, openStore, type PublishHandOff, type Store } from './store/index.js';

/** Events whose deliveries are all pruned are removed after this long; so are idempotency keys. */
const RETENTION_MS = 24 * 60 * 60 * 1000;
const JANITOR_INTERVAL_MS = 10 * 60 * 1000;

/** `all` runs both halves; with PostgreSQL they can run as separate processes. */
export type HeraldRole = 'api' | 'worker' | 'all';

export interface RunningHerald {
  role: HeraldRole;
  /** The API's address; null for a worker-only process. */
  url: string | null;
  /** Where /healthz, /readyz and /metrics answer: the API's address, or a worker's own. */
  probesUrl: string;
  /** The API server; null for a worker-only process. */
  api: FastifyInstance | null;
  store: Store;
  dispatcher: Dispatcher | null;
  /** The admin token created on this start, to be shown once; null when none was created. */
  createdAdminToken: string | null;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  clock?: () => number;
  role?: HeraldRole;
}

/** Wires Herald's parts together: the store, the API on top of it, the dispatcher beside it. */
export async function startHerald(config: HeraldConfig, options: StartOptions = {}): Promise<RunningHerald> {
  const role = options.role ?? 'all';
  if (role !== 'all' && !config.databaseUrl) {
    throw new ConfigError(`--role ${role} needs PostgreSQL (HERALD_DATABASE_URL): the embedded store serves one process`);
  }
  const logger = options.logger ?? createLogger(config);
  const clock = options.clock ?? Date.now;
  const store = await openStoreWithKey(config, logger);
  try {
    const tokens = new TokenAuthority(store, config.adminToken, clock);
    const createdAdminToken = await tokens.ensureAdminToken();
    // One registry per Herald: the dispatcher counts into it, the API's /metrics reads it.
    const metrics = new HeraldMetrics();
    const delivery = role === 'api' ? null : startDelivery(config, store, logger, clock, metrics);
    // Without a dispatcher of its own, publishes are handed to workers that offer (PostgreSQL).
    const remoteHandOff = role === 'api' && store.onHandOffMessage ? new RemoteHandOff(store, clock) : null;
    // A worker has no API, but orchestrators and scrapers still need its probes and metrics.
    const server = await startApi(config, store, tokens, logger, clock, metrics, {
      probesOnly: role === 'worker',
      handOff: delivery?.dispatcher ?? remoteHandOff ?? undefined,
    });
    const api = role === 'worker' ? null : server;
    logger.info({ role, url: server.url, store: store.kind }, 'herald started');

    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        await server.server.close();
        remoteHandOff?.stop();
        await delivery?.stop();
        await store.close();
        logger.info('herald stopped');
      })());
    return {
      role,
      url: api?.url ?? null,
      probesUrl: server.url,
      api: api?.server ?? null,
      store,
      dispatcher: delivery?.dispatcher ?? null,
      createdAdminToken,
      stop,
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The key is resolved first: a key file with loose permissions or a bad key stops Herald before
 * the store opens, and the store then checks the key against the secrets it holds. */
async function openStoreWithKey(config: HeraldConfig, logger: Logger): Promise<Store> {
  const secrets = loadSecretBox(config);
  if (config.databaseUrl && !config.encryptionKey) {
    // Other machines cannot see this file: a second process would create a key of its own.
    logger.warn({ keyFile: secrets.source }, 'HERALD_ENCRYPTION_KEY is unset: other processes of this database need this same key');
  }
  return openStore(config, secrets);
}

async function startApi(
  config: HeraldConfig,
  store: Store,
  tokens: TokenAuthority,
  logger: Logger,
  clock: () => number,
  metrics: HeraldMetrics,
  options: { probesOnly: boolean; handOff?: PublishHandOff },
): Promise<{ server: FastifyInstance; url: string }> {
  const catalog = new EventCatalog(await store.listCustomEventTypes());
  const server = buildApi({ store, catalog, config, logger, clock, handOff: options.handOff }, tokens, { metrics, probesOnly: options.probesOnly });
  const address = await server.listen({ port: config.port, host: config.host });
  return { server, url: address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost') };
}

/** The dispatcher and the store's periodic clean-up. */
function startDelivery(config: HeraldConfig, store: Store, logger: Logger, clock: () => number, metrics: HeraldMetrics) {
  const sender = createSender(
    {
      allowPrivateNetworks: config.allowPrivateNetworks,
      allowedNetworks: config.allowedNetworks,
      timeoutMs: config.deliveryTimeoutMs,
    },
    config.sendThreads,
    (error) => logger.error({ err: error }, 'a sending thread failed: its requests are handed back and a new thread takes over'),
  );
  const dispatcher = new Dispatcher({
    store,
    sender,
    logger,
    clock,
    workerId: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    maxInFlight: config.maxInFlight,
    maxInFlightPerWebhook: config.maxInFlightPerWebhook,
    deliveryTimeoutMs: config.deliveryTimeoutMs,
    retryScheduleMs: config.retryScheduleMs,
    autoDisable: { afterMs: config.disableAfterMs, afterFailures: config.disableAfterFailures },
    shutdownGraceMs: config.shutdownGraceMs,
    metrics,
  });
  dispatcher.start();
  // API-only processes hand their publishes to dispatchers that offer (PostgreSQL).
  const offering = new HandOffOffering(store, dispatcher);
  offering.start();
  const janitor = setInterval(() => {
    store.pruneOrphans(clock(), RETENTION_MS).catch((error: unknown) => logger.error({ err: error }, 'pruning failed'));
  }, JANITOR_INTERVAL_MS).unref();
  return {
    dispatcher,
    async stop() {
      clearInterval(janitor);
      offering.withdraw();
      await dispatcher.stop();
      offering.stop();
      await sender.close();
    },
  };
}

export function createLogger(config: Pick<HeraldConfig, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'herald' },
    // Belt and braces: these never get logged on purpose, and are masked if they ever are.
    redact: {
      paths: ['secret', '*.secret', 'previousSecret', '*.previousSecret', 'req.headers.authorization', 'headers.authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
  });
}
