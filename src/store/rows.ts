import type { DeliveryError, DeliveryStatus, Webhook, WebhookMethod } from '../core/types.js';
import type { EventTypeDefinition } from '../core/catalog.js';
import type {
  AttemptRecord,
  AttemptSummary,
  DeliveryDetail,
  DeliverySummary,
  StoredWebhook,
  TokenRecord,
  WebhookPatch,
} from './types.js';

/** Both stores use the same column names; these turn a row of either into domain objects. */
export type Row = Record<string, unknown>;

/**
 * Text from outside (a receiver's answer) as both stores keep it: PostgreSQL's text cannot hold
 * a NUL character, and a batch of outcomes holding one would fail as a whole, again and again.
 * Each NUL becomes U+FFFD, as bytes that are not UTF-8 already do.
 */
export function storableText(text: string | null): string | null {
  return text === null ? null : text.replaceAll('\u0000', '\uFFFD');
}

/** What an attempt's outcome writes on its delivery's row, under the columns' names; the
 * request headers as an object, each store writing them as JSON text its own way. */
export function outcomeColumns(record: AttemptRecord) {
  return {
    id: record.deliveryId,
    status: statusAfter(record),
    next_attempt_at: record.next.kind === 'retry' ? record.next.at : null,
    status_code: record.statusCode,
    error_code: record.error?.code ?? null,
    error_message: storableText(record.error?.message ?? null),
    duration_ms: record.durationMs,
    dispatched_at: record.startedAt,
    request_headers: wellFormedHeaders(record.requestHeaders),
    response_body: storableText(record.responseBodyStart),
  };
}

/** A lone UTF-16 surrogate, which no UTF-8 text holds. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * The headers with any lone surrogate (a webhook's content type may hold one) as U+FFFD, what
 * UTF-8 makes of it on the wire: PostgreSQL's JSON reader refuses its escape, and an outcome it
 * refused would be written again and again.
 */
function wellFormedHeaders(headers: Record<string, string>): Record<string, string> {
  const entries = Object.entries(headers);
  if (!entries.some(([name, value]) => LONE_SURROGATE.test(name) || LONE_SURROGATE.test(value))) return headers;
  const wellFormed = (text: string) => text.replace(/\p{Surrogate}/gu, '\uFFFD');
  return Object.fromEntries(entries.map(([name, value]) => [wellFormed(name), wellFormed(value)]));
}

function statusAfter(record: AttemptRecord): DeliveryStatus {
  if (record.next.kind === 'delivered') return 'success';
  return record.next.kind === 'retry' ? 'pending' : 'error';
}

export function toWebhook(row: Row): StoredWebhook {
  return {
    id: row.id as string,
    name: row.name as string | null,
    url: row.url as string,
    // SQLite aggregates to a JSON string, PostgreSQL to an array.
    events: typeof row.events === 'string' ? (JSON.parse(row.events) as string[]) : (row.events as string[]),
    tenantId: row.tenant_id as string | null,
    projectId: row.project_id as string | null,
    method: row.method as WebhookMethod,
    contentType: row.content_type as string,
    maxAttempts: row.max_attempts as number,
    active: row.active === 1 || row.active === true,
    base64CA: row.base64_ca as string | null,
    proxyUrl: row.proxy_url as string | null,
    createdAt: row.created_at as number,
    updatedAt: row.updated_at as number,
    previousSecretExpiresAt: (row.previous_secret_expires_at as number | null | undefined) ?? null,
    disabledReason: (row.disabled_reason as string | null | undefined) ?? null,
    disabledAt: (row.disabled_at as number | null | undefined) ?? null,
    failingSince: (row.failing_since as number | null | undefined) ?? null,
    consecutiveFailures: (row.consecutive_failures as number | null | undefined) ?? 0,
    lastEvent:
      row.last_dispatched_at === null
        ? null
        : {
            eventName: row.last_event_name as string,
            status: row.last_status as 'success' | 'error',
            statusCode: row.last_status_code as number | null,
            dispatchedAt: row.last_dispatched_at as number,
          },
  };
}

export function toDeliveryError(row: Row): DeliveryError | null {
  if (row.error_code === null || row.error_code === undefined) return null;
  return { code: row.error_code as DeliveryError['code'], message: row.error_message as string };
}

export function toDeliverySummary(row: Row): DeliverySummary {
  const status = row.status as DeliveryStatus;
  return {
    id: row.id as string,
    eventId: row.event_id as string,
    eventName: row.event_name as string,
    status,
    statusCode: row.status_code as number | null,
    attempts: row.attempts as number,
    dispatchedAt: row.dispatched_at as number | null,
    durationMs: row.duration_ms as number | null,
    error: toDeliveryError(row),
    nextAttemptAt: status === 'pending' ? (row.next_attempt_at as number | null) : null,
    createdAt: row.created_at as number,
    resentFrom: (row.resent_from as string | null | undefined) ?? null,
  };
}

/** The settings alone: no delivery history, no state of a secret rotation. */
export function withoutLastEvent(webhook: StoredWebhook): Webhook {
  const {
    lastEvent: _history,
    previousSecretExpiresAt: _rotation,
    disabledReason: _reason,
    disabledAt: _disabledAt,
    failingSince: _failingSince,
    consecutiveFailures: _failures,
    ...settings
  } = webhook;
  return settings;
}

export function toToken(row: Row): TokenRecord {
  return {
    id: row.id as string,
    name: row.name as string | null,
    role: row.role as TokenRecord['role'],
    tenantId: row.tenant_id as string | null,
    projectId: row.project_id as string | null,
    createdAt: row.created_at as number,
    expiresAt: row.expires_at as number | null,
    revokedAt: row.revoked_at as number | null,
  };
}

export function toTokenExport(row: Row): TokenRecord & { tokenHash: string } {
  return { ...toToken(row), tokenHash: row.token_hash as string };
}

/** Webhook fields a PATCH may change, with their column (the secret has its own path). */
export const PATCHABLE_COLUMNS: ReadonlyArray<[keyof WebhookPatch, string]> = [
  ['name', 'name'],
  ['url', 'url'],
  ['tenantId', 'tenant_id'],
  ['projectId', 'project_id'],
  ['method', 'method'],
  ['contentType', 'content_type'],
  ['maxAttempts', 'max_attempts'],
  ['active', 'active'],
  ['base64CA', 'base64_ca'],
  ['proxyUrl', 'proxy_url'],
];

export function toEventType(row: Row): EventTypeDefinition {
  return {
    name: row.name as string,
    description: row.description as string,
    schema: JSON.parse(row.schema as string) as Record<string, unknown>,
    tenantIdPointer: row.tenant_pointer as string,
    projectIdPointer: row.project_pointer as string,
    aliases: [],
    builtin: false,
  };
}

/**
 * A delivery row joined with its event's body, and its rows of the attempts table, oldest
 * first. That table keeps only the attempts a retry followed; the last attempt of a finished
 * delivery is its own row's columns, written once (most deliveries succeed at once and never
 * get an attempts row).
 */
export function toDeliveryDetail(row: Row, attempts: Row[]): DeliveryDetail {
  const attemptLog: AttemptSummary[] = attempts.map((attempt) => ({
    attempt: attempt.attempt_number as number,
    startedAt: attempt.started_at as number,
    durationMs: attempt.duration_ms as number,
    statusCode: attempt.status_code as number | null,
    error: toDeliveryError(attempt),
  }));
  const made = row.attempts as number;
  if (made > attemptLog.length && row.dispatched_at !== null) {
    attemptLog.push({
      attempt: made,
      startedAt: row.dispatched_at as number,
      durationMs: row.duration_ms as number,
      statusCode: row.status_code as number | null,
      error: toDeliveryError(row),
    });
  }
  return {
    ...toDeliverySummary(row),
    requestBody: row.body as string,
    requestHeaders: row.request_headers ? (JSON.parse(row.request_headers as string) as Record<string, string>) : null,
    responseBody: row.response_body as string | null,
    attemptLog,
  };
}

/** The attempt that started last: the one a webhook's last event shows. */
export function latestRecord(records: readonly AttemptRecord[]): AttemptRecord {
  return records.reduce((latest, record) => (record.startedAt >= latest.startedAt ? record : latest));
}

export function groupByWebhook(records: readonly AttemptRecord[]): Map<string, AttemptRecord[]> {
  const groups = new Map<string, AttemptRecord[]>();
  for (const record of records) {
    const group = groups.get(record.webhookId);
    if (group) group.push(record);
    else groups.set(record.webhookId, [record]);
  }
  return groups;
}
