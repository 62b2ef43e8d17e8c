import { scopeOf } from '../core/types.js';
import type { DeliveryDetail, DeliverySummary, StoredWebhook } from '../store/index.js';
import { maskProxyUrl } from './webhook-input.js';
import type { WebhookView } from './schemas.js';

/** Store records to API shapes: times as ISO 8601, secrets reduced to `hasSecret`. */

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

/** One argument only: it is passed to `Array.map` as it is. */
export function webhookView(webhook: StoredWebhook): WebhookView {
  // Shown while the grace period runs; the janitor drops the old secret some time after.
  const graceEnds = webhook.previousSecretExpiresAt;
  return {
    id: webhook.id,
    name: webhook.name,
    url: webhook.url,
    events: webhook.events,
    scope: scopeOf(webhook),
    tenantId: webhook.tenantId,
    projectId: webhook.projectId,
    method: webhook.method,
    contentType: webhook.contentType,
    maxAttempts: webhook.maxAttempts,
    active: webhook.active,
    base64CA: webhook.base64CA,
    proxy: webhook.proxyUrl === null ? null : { url: maskProxyUrl(webhook.proxyUrl) },
    hasSecret: true,
    previousSecretExpiresAt: graceEnds !== null && graceEnds > Date.now() ? iso(graceEnds) : null,
    lastEvent: webhook.lastEvent && { ...webhook.lastEvent, dispatchedAt: iso(webhook.lastEvent.dispatchedAt) },
    disabledReason: webhook.disabledReason,
    disabledAt: isoOrNull(webhook.disabledAt),
    createdAt: iso(webhook.createdAt),
    updatedAt: iso(webhook.updatedAt),
  };
}

export function deliverySummaryView(delivery: DeliverySummary) {
  return {
    ...delivery,
    dispatchedAt: isoOrNull(delivery.dispatchedAt),
    nextAttemptAt: isoOrNull(delivery.nextAttemptAt),
    createdAt: iso(delivery.createdAt),
  };
}

export function deliveryDetailView(delivery: DeliveryDetail) {
  return {
    ...deliverySummaryView(delivery),
    requestBody: delivery.requestBody,
    requestHeaders: delivery.requestHeaders,
    responseBody: delivery.responseBody,
    attemptLog: delivery.attemptLog.map((attempt) => ({ ...attempt, startedAt: iso(attempt.startedAt) })),
  };
}
