import type { HeraldConfig } from '../config.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/** The store the configuration names: PostgreSQL when HERALD_DATABASE_URL is set, else SQLite. */
export async function openStore(config: Pick<HeraldConfig, 'databaseUrl' | 'databaseSchema' | 'dataDir'>): Promise<Store> {
  if (config.databaseUrl) {
    return PostgresStore.open({ connectionString: config.databaseUrl, schema: config.databaseSchema });
  }
  return SqliteStore.open(config.dataDir);
}
