import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver, waitUntil } from '../support/index.js';
import { startTestHerald } from '../support/herald.js';

test('a published event reaches a subscribed receiver', async () => {
  const receiver = await startReceiver();
  const herald = await startTestHerald();
  try {
    const created = await herald.post('/api/webhooks', {
      url: `${receiver.url}/hook`,
      events: ['project_created'],
      secret: 'a-test-secret',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const published = await herald.post('/api/events', {
      eventName: 'project_created',
      payload: { tenantId: 't1', projectId: 'p1' },
    });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.deliveries, 1);
    const [request] = await receiver.waitForRequests(1);
    assert.equal(JSON.parse(request.body.toString()).eventName, 'project_created');
    const history = await waitUntil(async () => {
      const list = await herald.get(`/api/webhooks/${created.body.id}/deliveries`);
      return list.body.data[0]?.status === 'success' ? list.body.data : null;
    });
    assert.equal(history[0].statusCode, 200);
  } finally {
    await herald.stop({ removeData: true });
    await receiver.close();
  }
});
