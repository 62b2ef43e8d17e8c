export * from './types.js';
export { SqliteStore } from './sqlite/sqlite-store.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres/postgres-store.js';
