import { decideRetry, parseRetryAfter } from '../core/retry.js';
import { signatureHeaders } from '../core/signing.js';
import type { DeliveryError } from '../core/types.js';
import { USER_AGENT, type OutboundRequest, type SendOutcome } from '../http/index.js';
import type { AttemptNext, AttemptRecord, ClaimedDelivery } from '../store/index.js';

/**
 * A delivery is a chain of small steps, each testable alone:
 * prepareRequest -> (send) -> judgeOutcome -> attemptRecord.
 */

/** Builds the request: the stored envelope bytes as they are, and the headers signed over them. */
export function prepareRequest(delivery: ClaimedDelivery, nowMs: number): OutboundRequest {
  const body = Buffer.from(delivery.body, 'utf8');
  return {
    url: delivery.webhook.url,
    method: delivery.webhook.method,
    body,
    headers: {
      'content-type': delivery.webhook.contentType,
      'user-agent': USER_AGENT,
      ...signatureHeaders({
        body,
        secret: delivery.webhook.secret,
        previousSecret: delivery.webhook.previousSecret,
        // The event id: stable across retries, so receivers can drop duplicates by it.
        messageId: delivery.eventId,
        timestampSeconds: Math.floor(nowMs / 1000),
      }),
    },
  };
}

export type Judgement =
  | { kind: 'delivered'; statusCode: number }
  | { kind: 'failed'; statusCode: number | null; error: DeliveryError; retryAfterMs: number | null };

/** Success is a 2xx answer; anything else is a failure with its cause. */
export function judgeOutcome(outcome: SendOutcome, nowMs: number): Judgement {
  if (outcome.kind === 'failure') {
    return { kind: 'failed', statusCode: null, error: outcome.error, retryAfterMs: null };
  }
  const { statusCode } = outcome;
  if (statusCode >= 200 && statusCode < 300) return { kind: 'delivered', statusCode };
  const error: DeliveryError =
    statusCode >= 300 && statusCode < 400
      ? { code: 'redirect', message: `HTTP ${statusCode}: redirects are not followed` }
      : { code: 'http_status', message: `HTTP ${statusCode}` };
  const retryAfterMs =
    statusCode === 429 || statusCode === 503 ? parseRetryAfter(outcome.retryAfter, nowMs) : null;
  return { kind: 'failed', statusCode, error, retryAfterMs };
}

export function nextStep(
  judgement: Judgement,
  delivery: ClaimedDelivery,
  policy: { scheduleMs: readonly number[]; nowMs: number; random?: () => number },
): AttemptNext {
  if (judgement.kind === 'delivered') return { kind: 'delivered' };
  const decision = decideRetry({
    attemptsMade: delivery.attemptsMade + 1,
    maxAttempts: delivery.webhook.maxAttempts,
    scheduleMs: policy.scheduleMs,
    retryAfterMs: judgement.retryAfterMs,
    random: policy.random,
  });
  return decision.kind === 'retry' ? { kind: 'retry', at: policy.nowMs + decision.delayMs } : { kind: 'gave-up' };
}

export function attemptRecord(params: {
  delivery: ClaimedDelivery;
  request: OutboundRequest;
  outcome: SendOutcome;
  judgement: Judgement;
  next: AttemptNext;
  startedAt: number;
}): AttemptRecord {
  const { delivery, request, outcome, judgement } = params;
  return {
    deliveryId: delivery.id,
    webhookId: delivery.webhook.id,
    eventName: delivery.eventName,
    startedAt: params.startedAt,
    durationMs: outcome.durationMs,
    statusCode: judgement.statusCode,
    error: judgement.kind === 'failed' ? judgement.error : null,
    requestHeaders: request.headers,
    responseBodyStart: outcome.kind === 'response' ? outcome.bodyStart : null,
    next: params.next,
  };
}
