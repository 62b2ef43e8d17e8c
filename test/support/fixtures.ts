import { newId } from '../../src/core/ids.js';
import type { WebhookWithSecret } from '../../src/core/types.js';

/** An active instance webhook on `project_created`, as a store takes it; `overrides` change any field. */
export function instanceWebhook(overrides: Partial<WebhookWithSecret> = {}, now = Date.now()): WebhookWithSecret {
  return {
    id: newId('wh'),
    name: null,
    url: 'https://receiver.example/hook',
    events: ['project_created'],
    secret: 'test-webhook-secret',
    tenantId: null,
    projectId: null,
    method: 'POST',
    contentType: 'application/json',
    maxAttempts: 3,
    active: true,
    base64CA: null,
    proxyUrl: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}
