// The same suite as test/integration/observability.test.ts, on the PostgreSQL store.
process.env.HERALD_TEST_STORE = 'postgres';
await import('../integration/observability.test.js');
