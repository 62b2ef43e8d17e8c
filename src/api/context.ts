import type { Logger } from 'pino';
import type { HeraldConfig } from '../config.js';
import type { EventCatalog } from '../core/event-catalog.js';
import type { PublishHandOff, Store } from '../store/index.js';

/** What every route plugin is given: no globals, no singletons. */
export interface ApiContext {
  store: Store;
  catalog: EventCatalog;
  config: HeraldConfig;
  logger: Logger;
  clock: () => number;
  /** This process's dispatcher, when it has one: its publishes claim deliveries for it. */
  handOff?: PublishHandOff;
}
