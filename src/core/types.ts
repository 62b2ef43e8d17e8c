/** Herald's domain: what a webhook, an event and a delivery are. No I/O here. */

export type Scope = 'instance' | 'company' | 'project';
export const WEBHOOK_METHODS = ['POST', 'PUT', 'PATCH'] as const;
export type WebhookMethod = (typeof WEBHOOK_METHODS)[number];

export interface Webhook {
  id: string;
  name: string | null;
  url: string;
  events: string[];
  tenantId: string | null;
  projectId: string | null;
  method: WebhookMethod;
  contentType: string;
  maxAttempts: number;
  active: boolean;
  base64CA: string | null;
  proxyUrl: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Only the store and the dispatcher ever hold a webhook together with its secret. */
export interface WebhookWithSecret extends Webhook {
  secret: string;
}

export type DeliveryStatus = 'pending' | 'success' | 'error';

/** Why an attempt failed, in terms a receiver's owner can act on. */
export type DeliveryErrorCode =
  | 'timeout'
  | 'dns'
  | 'tls'
  | 'refused'
  | 'connection'
  | 'http_status'
  | 'redirect'
  | 'blocked_address'
  | 'proxy'
  | 'cancelled';

export interface DeliveryError {
  code: DeliveryErrorCode;
  message: string;
}

export interface LastEvent {
  eventName: string;
  status: 'success' | 'error';
  statusCode: number | null;
  dispatchedAt: number;
}

/** The envelope every receiver gets, serialised once per event. */
export interface EventEnvelope {
  eventName: string;
  eventTimestamp: number;
  payload: Record<string, unknown>;
}

export interface EventScope {
  tenantId: string | null;
  projectId: string | null;
}

export function scopeOf(webhook: Pick<Webhook, 'tenantId' | 'projectId'>): Scope {
  if (webhook.projectId !== null) return 'project';
  if (webhook.tenantId !== null) return 'company';
  return 'instance';
}

/**
 * The rule of the seeds: an instance webhook hears every event it subscribes to, a company
 * webhook only its company's, a project webhook only its project's. The stores implement the
 * same rule in SQL; the contract tests hold them to this function.
 */
export function webhookHearsEvent(
  webhook: Pick<Webhook, 'tenantId' | 'projectId' | 'events' | 'active'>,
  eventName: string,
  scope: EventScope,
): boolean {
  if (!webhook.active || !webhook.events.includes(eventName)) return false;
  if (webhook.tenantId !== null && webhook.tenantId !== scope.tenantId) return false;
  if (webhook.projectId !== null && webhook.projectId !== scope.projectId) return false;
  return true;
}
