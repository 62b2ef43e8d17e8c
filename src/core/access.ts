import { HeraldError, invalidField } from './errors.js';
import type { EventScope } from './types.js';

/**
 * Who may do what. A token has a role and a reach:
 * - admin: the whole instance;
 * - company: one tenant, its company and project webhooks, and tokens within it;
 * - project: one tenant's one project, its webhooks;
 * - publisher: may only publish events, optionally only its tenant's.
 */
export const ROLES = ['admin', 'company', 'project', 'publisher'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  tokenId: string;
  role: Role;
  tenantId: string | null;
  projectId: string | null;
}

/** What a route does, which decides the roles that may call it at all. */
export type RouteAccess = 'manage-webhooks' | 'publish' | 'read-catalog' | 'edit-catalog' | 'manage-tokens';

const ROUTE_ACCESS_BY_ROLE: Record<Role, readonly RouteAccess[]> = {
  admin: ['manage-webhooks', 'publish', 'read-catalog', 'edit-catalog', 'manage-tokens'],
  company: ['manage-webhooks', 'read-catalog', 'manage-tokens'],
  project: ['manage-webhooks', 'read-catalog'],
  publisher: ['publish', 'read-catalog'],
};

export function roleMayCall(role: Role, access: RouteAccess): boolean {
  return ROUTE_ACCESS_BY_ROLE[role].includes(access);
}

/** Whether the principal manages things (webhooks, tokens) of this scope. */
export function reaches(principal: Principal, scope: EventScope): boolean {
  switch (principal.role) {
    case 'admin':
      return true;
    case 'company':
      return scope.tenantId === principal.tenantId;
    case 'project':
      return scope.tenantId === principal.tenantId && scope.projectId === principal.projectId;
    case 'publisher':
      return false;
  }
}

/** Whether the principal may publish an event that belongs to this scope. */
export function mayPublish(principal: Principal, scope: EventScope): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role !== 'publisher') return false;
  return principal.tenantId === null || principal.tenantId === scope.tenantId;
}

/**
 * The scope a new webhook gets: what the request says, or else the principal's own reach, so
 * a company admin need not repeat its tenant. Refused when outside the principal's reach.
 */
export function scopeForNewWebhook(principal: Principal, requested: Partial<EventScope>): EventScope {
  const tenantId = requested.tenantId === undefined ? principal.tenantId : requested.tenantId;
  const projectId =
    requested.projectId === undefined && principal.role === 'project' ? principal.projectId : (requested.projectId ?? null);
  assertReaches(principal, { tenantId, projectId });
  return { tenantId, projectId };
}

export function assertReaches(principal: Principal, scope: EventScope): void {
  if (reaches(principal, scope)) return;
  const field = principal.tenantId !== scope.tenantId ? 'tenantId' : 'projectId';
  throw new HeraldError('forbidden', 'this scope is outside the reach of your token', field);
}

export interface TokenRequest {
  role: Role;
  tenantId: string | null;
  projectId: string | null;
}

/** A token's reach must fit its role: a company token names a tenant, a project token both. */
export function checkTokenReach(request: TokenRequest): void {
  const { role, tenantId, projectId } = request;
  if (role === 'admin' && (tenantId !== null || projectId !== null)) {
    throw invalidField(tenantId !== null ? 'tenantId' : 'projectId', 'an admin token reaches the whole instance: leave it out');
  }
  if ((role === 'company' || role === 'project') && tenantId === null) {
    throw invalidField('tenantId', `a ${role} token needs the tenantId it is limited to`);
  }
  if (role === 'project' && projectId === null) throw invalidField('projectId', 'a project token needs its projectId');
  if ((role === 'company' || role === 'publisher') && projectId !== null) {
    throw invalidField('projectId', `a ${role} token is limited to a tenant, not to a project`);
  }
}

/** Company admins hand out tokens within their company; only admins make admin tokens. */
export function mayIssueToken(principal: Principal, request: TokenRequest): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role !== 'company') return false;
  return request.role !== 'admin' && request.tenantId === principal.tenantId;
}

/** The list filters a principal's reach imposes, or null when the asked-for scope is out of reach. */
export function narrowToReach<T extends { tenantId?: string; projectId?: string }>(principal: Principal, filters: T): T | null {
  if (principal.role === 'admin') return filters;
  const tenantId = principal.tenantId as string;
  if (filters.tenantId !== undefined && filters.tenantId !== tenantId) return null;
  if (principal.role !== 'project') return { ...filters, tenantId };
  const projectId = principal.projectId as string;
  if (filters.projectId !== undefined && filters.projectId !== projectId) return null;
  return { ...filters, tenantId, projectId };
}
