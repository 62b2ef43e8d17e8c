import { HeraldError } from '../core/errors.js';
import type { EventScope } from '../core/types.js';
import type { Store, WebhookCountFilter } from '../store/index.js';

/**
 * Refuses a webhook in a scope (the instance, a company, a project) that already holds `max`:
 * every event fans out to every webhook of its scope, so an unbounded scope would let one
 * caller multiply the delivery work of every publish. `current` is the webhook being moved by
 * an edit; staying in its own scope never counts against it.
 *
 * Two creates racing at the limit may both pass, which overshoots by at most the number of
 * concurrent requests.
 */
export async function assertScopeHasRoom(
  store: Store,
  scope: EventScope,
  max: number,
  current?: EventScope,
): Promise<void> {
  if (current && current.tenantId === scope.tenantId && current.projectId === scope.projectId) return;
  if ((await store.countWebhooks(exactScope(scope))) < max) return;
  const field = scope.projectId !== null ? 'projectId' : 'tenantId';
  throw new HeraldError(
    'limit_reached',
    `this ${scopeName(scope)} already has ${max} webhooks, the most allowed (HERALD_MAX_WEBHOOKS_PER_SCOPE)`,
    field,
  );
}

/** The filter for exactly this scope: a company's own webhooks, not its projects'. */
function exactScope(scope: EventScope): WebhookCountFilter {
  if (scope.tenantId === null) return { scope: 'instance' };
  if (scope.projectId === null) return { scope: 'company', tenantId: scope.tenantId };
  return { scope: 'project', tenantId: scope.tenantId, projectId: scope.projectId };
}

function scopeName(scope: EventScope): string {
  if (scope.tenantId === null) return 'instance';
  return scope.projectId === null ? `company (${scope.tenantId})` : `project (${scope.projectId})`;
}
