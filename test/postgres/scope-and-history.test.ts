// The same suite as test/integration/scope-and-history.test.ts, on the PostgreSQL store.
process.env.HERALD_TEST_STORE = 'postgres';
await import('../integration/scope-and-history.test.js');
