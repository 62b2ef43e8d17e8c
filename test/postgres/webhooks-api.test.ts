// The same suite as test/integration/webhooks-api.test.ts, on the PostgreSQL store.
process.env.HERALD_TEST_STORE = 'postgres';
await import('../integration/webhooks-api.test.js');
