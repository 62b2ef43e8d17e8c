export * from './types.js';
export { SqliteStore } from './sqlite/sqlite-store.js';
