export * from './types.js';
export { SqliteStore } from './sqlite/sqlite-store.js';
export { ThreadedSqliteStore } from './sqlite/threaded-store.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres/postgres-store.js';
export { openStore } from './open.js';
export { loadSecretBox } from './encryption-key.js';
export { importSnapshot, parseSnapshot, newSnapshot, type Snapshot, type ImportCounts } from './snapshot.js';
