import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makeTempDir, removeDir } from '../support/index.js';
import { startTestHerald } from '../support/herald.js';
import { dropSchemas, freshSchemaName, TEST_DATABASE_URL } from '../support/postgres.js';

test('an event type added through one Herald process is usable through another at once', async () => {
  // Processes of one database share the key of its webhook secrets.
  const shared = { databaseUrl: TEST_DATABASE_URL, databaseSchema: freshSchemaName(), encryptionKey: randomBytes(32) };
  const folders = [makeTempDir('herald-a-'), makeTempDir('herald-b-')];
  const first = await startTestHerald({ ...shared, dataDir: folders[0] });
  const second = await startTestHerald({ ...shared, dataDir: folders[1] });
  try {
    const added = await first.post('/api/event-types', { name: 'invoice_paid', schema: { type: 'object', required: ['tenantId'] } });
    assert.equal(added.status, 201);

    const listed = await second.get('/api/event-types');
    assert.ok(listed.body.data.some((type: { name: string }) => type.name === 'invoice_paid'));
    const webhook = await second.post('/api/webhooks', {
      url: 'https://receiver.example/invoices',
      events: ['invoice_paid'],
      secret: 'shared-catalog-secret',
    });
    assert.equal(webhook.status, 201, JSON.stringify(webhook.body));
    const invalid = await second.post('/api/events', { eventName: 'invoice_paid', payload: {} });
    assert.equal(invalid.status, 400, 'the second process validates against the same schema');
    assert.equal(invalid.body.field, 'payload.tenantId');
    const published = await second.post('/api/events', { eventName: 'invoice_paid', payload: { tenantId: 'acme' } });
    assert.equal(published.status, 202);
    assert.equal(published.body.deliveries, 1);
    const duplicate = await second.post('/api/event-types', { name: 'invoice_paid' });
    assert.equal(duplicate.status, 409);
  } finally {
    await first.stop();
    await second.stop();
    folders.forEach(removeDir);
    await dropSchemas([shared.databaseSchema]);
  }
});
