/**
 * A typed client for Herald's API. Every request carries the bearer token; every error answer
 * (`{ error, message, field? }`) becomes an ApiError the screens can show on the right field.
 */

export type Role = 'admin' | 'company' | 'project' | 'publisher';
export type WebhookScope = 'instance' | 'company' | 'project';
export type DeliveryStatus = 'pending' | 'success' | 'error';

export interface Me {
  role: Role;
  tenantId: string | null;
  projectId: string | null;
  tokenId: string;
}

export interface EventType {
  name: string;
  description: string;
  aliases: string[];
  builtin: boolean;
}

export interface LastEvent {
  eventName: string;
  status: 'success' | 'error';
  statusCode: number | null;
  dispatchedAt: string;
}

export interface Webhook {
  id: string;
  name: string | null;
  url: string;
  events: string[];
  scope: WebhookScope;
  tenantId: string | null;
  projectId: string | null;
  method: string;
  contentType: string;
  maxAttempts: number;
  active: boolean;
  base64CA: string | null;
  /** A password in the proxy URL comes back masked. */
  proxy: { url: string } | null;
  hasSecret: boolean;
  previousSecretExpiresAt: string | null;
  lastEvent: LastEvent | null;
  /** Why Herald set the webhook inactive by itself; null when it did not. */
  disabledReason: string | null;
  /** When Herald set it inactive by itself. */
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Only a webhook whose secret Herald generated carries it, in the create answer only. */
export interface CreatedWebhook extends Webhook {
  secret?: string;
}

export interface WebhookInput {
  url?: string;
  events?: string[];
  secret?: string;
  name?: string | null;
  tenantId?: string | null;
  projectId?: string | null;
  method?: string;
  contentType?: string;
  maxAttempts?: number;
  active?: boolean;
  base64CA?: string | null;
  proxy?: { url: string } | null;
}

export interface WebhookQuery {
  scope?: WebhookScope;
  tenantId?: string;
  projectId?: string;
  event?: string;
}

export interface DeliveryError {
  code: string;
  message: string;
}

export interface DeliverySummary {
  id: string;
  eventId: string;
  eventName: string;
  status: DeliveryStatus;
  statusCode: number | null;
  attempts: number;
  dispatchedAt: string | null;
  durationMs: number | null;
  error: DeliveryError | null;
  nextAttemptAt: string | null;
  createdAt: string;
  /** The delivery this one was queued again from (a resend); null otherwise. */
  resentFrom: string | null;
}

export interface DeliveryAttempt {
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  error: DeliveryError | null;
}

export interface DeliveryDetail extends DeliverySummary {
  requestBody: string;
  requestHeaders: Record<string, string> | null;
  responseBody: string | null;
  attemptLog: DeliveryAttempt[];
}

export interface DeliveryQuery {
  sort?: 'newest' | 'oldest';
  eventName?: string;
  status?: DeliveryStatus;
  statusCode?: string;
}

/** A delivery the API queued (a test event or a resend). */
export interface QueuedDelivery {
  deliveryId: string;
}

export interface QueuedDeliveries {
  /** How many deliveries were queued. */
  deliveries: number;
}

/** An error answer of the API, or a request that got no answer (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field at fault, as the API names it (`url`, `events[0]`, `proxy.url`). */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Largest page the list route serves; enough for any one scope (500 webhooks at most). */
const PAGE_SIZE = 1000;
/** Stops paging through a runaway list. */
const MAX_PAGES = 20;

export interface ApiClientOptions {
  token: string;
  /** Called when the API refuses the token (revoked, expired): the console signs out. */
  onUnauthorized?: (error: ApiError) => void;
}

export function createApiClient({ token, onUnauthorized }: ApiClientOptions) {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'network', 'Herald could not be reached. Check the connection and try again.');
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const data = parseJson(text);
    if (!response.ok) {
      const error = toApiError(response.status, data);
      if (response.status === 401) onUnauthorized?.(error);
      throw error;
    }
    return data as T;
  }

  return {
    me: () => request<Me>('GET', '/api/me'),
    eventTypes: async () => (await request<{ data: EventType[] }>('GET', '/api/event-types')).data,

    async listWebhooks(query: WebhookQuery): Promise<Webhook[]> {
      const webhooks: Webhook[] = [];
      let after: string | null = null;
      for (let page = 0; page < MAX_PAGES; page++) {
        const search = queryString({ ...query, limit: String(PAGE_SIZE), after: after ?? undefined });
        const answer: { data: Webhook[]; nextCursor: string | null } = await request('GET', `/api/webhooks${search}`);
        webhooks.push(...answer.data);
        after = answer.nextCursor;
        if (after === null) break;
      }
      return webhooks;
    },
    getWebhook: (id: string) => request<Webhook>('GET', `/api/webhooks/${encodeURIComponent(id)}`),
    createWebhook: (input: WebhookInput) => request<CreatedWebhook>('POST', '/api/webhooks', input),
    updateWebhook: (id: string, changes: WebhookInput) =>
      request<Webhook>('PATCH', `/api/webhooks/${encodeURIComponent(id)}`, changes),
    deleteWebhook: (id: string) => request<void>('DELETE', `/api/webhooks/${encodeURIComponent(id)}`),

    listDeliveries: async (webhookId: string, query: DeliveryQuery) =>
      (
        await request<{ data: DeliverySummary[] }>(
          'GET',
          `/api/webhooks/${encodeURIComponent(webhookId)}/deliveries${queryString({ ...query })}`,
        )
      ).data,
    getDelivery: (webhookId: string, deliveryId: string) =>
      request<DeliveryDetail>(
        'GET',
        `/api/webhooks/${encodeURIComponent(webhookId)}/deliveries/${encodeURIComponent(deliveryId)}`,
      ),

    /** Queues a test event to the webhook: `eventName` or, left out, the first of its events. */
    sendTestEvent: (webhookId: string, eventName?: string) =>
      request<QueuedDelivery>(
        'POST',
        `/api/webhooks/${encodeURIComponent(webhookId)}/test`,
        eventName === undefined ? {} : { eventName },
      ),
    /** Queues the delivery's event again, as a new delivery. */
    resendDelivery: (webhookId: string, deliveryId: string) =>
      request<QueuedDelivery>(
        'POST',
        `/api/webhooks/${encodeURIComponent(webhookId)}/deliveries/${encodeURIComponent(deliveryId)}/resend`,
      ),
    /** Queues again every delivery given up on that was created at or after `since`. */
    resendFailed: (webhookId: string, since: Date) =>
      request<QueuedDeliveries>('POST', `/api/webhooks/${encodeURIComponent(webhookId)}/resend-failed`, {
        since: since.toISOString(),
      }),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function toApiError(status: number, data: unknown): ApiError {
  if (data !== null && typeof data === 'object' && 'error' in data) {
    const { error, message, field } = data as { error: unknown; message?: unknown; field?: unknown };
    return new ApiError(
      status,
      String(error),
      typeof message === 'string' ? message : `Herald answered ${status}`,
      typeof field === 'string' ? field : undefined,
    );
  }
  return new ApiError(status, 'unexpected', `Herald answered ${status} without an explanation`);
}

function queryString(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
