import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApi, TokenAuthority } from './api/index.js';
import type { HeraldConfig } from './config.js';
import { EventCatalog } from './core/event-catalog.js';
import { Dispatcher } from './dispatch/index.js';
import { AgentPool } from './http/index.js';
import { SqliteStore, type Store } from './store/index.js';

/** Events whose deliveries are all pruned are removed after this long; so are idempotency keys. */
const RETENTION_MS = 24 * 60 * 60 * 1000;
const JANITOR_INTERVAL_MS = 10 * 60 * 1000;

export interface RunningHerald {
  url: string;
  api: FastifyInstance;
  store: Store;
  dispatcher: Dispatcher;
  /** The admin token created on this start, to be shown once; null when none was created. */
  createdAdminToken: string | null;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  clock?: () => number;
}

/** Wires Herald's parts together: the store, the API on top of it, the dispatcher beside it. */
export async function startHerald(config: HeraldConfig, options: StartOptions = {}): Promise<RunningHerald> {
  const logger = options.logger ?? createLogger(config);
  const clock = options.clock ?? Date.now;
  const store = await SqliteStore.open(config.dataDir);
  try {
    const catalog = new EventCatalog(await store.listCustomEventTypes());
    const tokens = new TokenAuthority(store, config.adminToken);
    const createdAdminToken = await tokens.ensureAdminToken(clock());
    const api = buildApi({ store, catalog, config, logger, clock }, tokens);
    const agents = new AgentPool({
      allowPrivateNetworks: config.allowPrivateNetworks,
      connectTimeoutMs: config.deliveryTimeoutMs,
    });
    const dispatcher = new Dispatcher({
      store,
      agents,
      logger,
      clock,
      workerId: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      maxInFlight: config.maxInFlight,
      maxInFlightPerWebhook: config.maxInFlightPerWebhook,
      deliveryTimeoutMs: config.deliveryTimeoutMs,
      retryScheduleMs: config.retryScheduleMs,
      allowPrivateNetworks: config.allowPrivateNetworks,
      shutdownGraceMs: config.shutdownGraceMs,
    });
    dispatcher.start();
    const janitor = setInterval(() => {
      store.pruneOrphans(clock(), RETENTION_MS).catch((error: unknown) => logger.error({ err: error }, 'pruning failed'));
    }, JANITOR_INTERVAL_MS).unref();
    const address = await api.listen({ port: config.port, host: config.host });
    const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
    logger.info({ url, dataDir: config.dataDir }, 'herald listening');

    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        clearInterval(janitor);
        await api.close();
        await dispatcher.stop();
        await agents.close();
        await store.close();
        logger.info('herald stopped');
      })());
    return { url, api, store, dispatcher, createdAdminToken, stop };
  } catch (error) {
    await store.close();
    throw error;
  }
}

export function createLogger(config: Pick<HeraldConfig, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'herald' },
    // Belt and braces: these never get logged on purpose, and are masked if they ever are.
    redact: {
      paths: ['secret', '*.secret', 'req.headers.authorization', 'headers.authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
  });
}
