// The same suite as test/integration/smoke.test.ts, on the PostgreSQL store.
process.env.HERALD_TEST_STORE = 'postgres';
await import('../integration/smoke.test.js');
