// The same suite as test/integration/delivery-retries.test.ts, on the PostgreSQL store.
process.env.HERALD_TEST_STORE = 'postgres';
await import('../integration/delivery-retries.test.js');
