import type { HeraldConfig } from '../config.js';
import type { SecretBox } from '../core/secret-box.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from './sqlite/threaded-store.js';
import type { Store } from './types.js';

/** The store the configuration names: PostgreSQL when HERALD_DATABASE_URL is set, else SQLite,
 * on its own thread when `storeThread` says so. `secrets` encrypts webhook secrets at rest (see
 * encryption-key.ts for where its key comes from). `shared`: a short command beside a running
 * Herald (see SqliteStore.open), on the calling thread. */
export async function openStore(
  config: Pick<HeraldConfig, 'databaseUrl' | 'databaseSchema' | 'dataDir'> & { storeThread?: boolean },
  secrets: SecretBox,
  options: { shared?: boolean } = {},
): Promise<Store> {
  if (config.databaseUrl) {
    return PostgresStore.open({ connectionString: config.databaseUrl, schema: config.databaseSchema, secrets });
  }
  if (config.storeThread && !options.shared) return ThreadedSqliteStore.open(config.dataDir, secrets);
  return SqliteStore.open(config.dataDir, secrets, options);
}
