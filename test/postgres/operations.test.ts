// The same suite as test/integration/operations.test.ts, on the PostgreSQL store.
process.env.HERALD_TEST_STORE = 'postgres';
await import('../integration/operations.test.js');
