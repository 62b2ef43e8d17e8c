import type { Me, WebhookInput, WebhookQuery, WebhookScope } from './api';

/**
 * Where the console is looking: the webhooks of the whole instance, of one company, or of one
 * project. The list shows that scope's webhooks and new webhooks are created in it. A company
 * or project token is held to its own tenant (and project).
 */
export interface ConsoleScope {
  kind: WebhookScope;
  tenantId: string;
  projectId: string;
}

const SCOPE_KEY = 'herald.scope';

export const SCOPE_LABELS: Record<WebhookScope, string> = {
  instance: 'Whole instance',
  company: 'Company',
  project: 'Project',
};

/** The scopes a token may switch between. */
export function scopeKindsFor(me: Me): WebhookScope[] {
  switch (me.role) {
    case 'admin':
      return ['instance', 'company', 'project'];
    case 'company':
      return ['company', 'project'];
    default:
      return ['project'];
  }
}

/** Brings a scope within the token's reach: its fixed ids win over whatever was stored. */
export function fitScope(me: Me, scope: ConsoleScope): ConsoleScope {
  const kinds = scopeKindsFor(me);
  const kind = kinds.includes(scope.kind) ? scope.kind : kinds[0];
  return {
    kind,
    tenantId: me.tenantId ?? scope.tenantId,
    projectId: me.projectId ?? scope.projectId,
  };
}

export function initialScope(me: Me): ConsoleScope {
  let stored: Partial<ConsoleScope> = {};
  try {
    stored = JSON.parse(sessionStorage.getItem(SCOPE_KEY) ?? '{}') as Partial<ConsoleScope>;
  } catch {
    // A damaged entry is as good as none.
  }
  const fallbackKind = scopeKindsFor(me)[0];
  return fitScope(me, {
    kind: stored.kind ?? fallbackKind,
    tenantId: typeof stored.tenantId === 'string' ? stored.tenantId : '',
    projectId: typeof stored.projectId === 'string' ? stored.projectId : '',
  });
}

export function storeScope(scope: ConsoleScope): void {
  sessionStorage.setItem(SCOPE_KEY, JSON.stringify(scope));
}

/** What is still missing before the scope names something, or null when it is complete. */
export function missingScopeId(scope: ConsoleScope): 'Tenant ID' | 'Project ID' | null {
  if (scope.kind === 'instance') return null;
  if (scope.tenantId.trim() === '') return 'Tenant ID';
  if (scope.kind === 'project' && scope.projectId.trim() === '') return 'Project ID';
  return null;
}

/** The list filters of a complete scope. */
export function scopeQuery(scope: ConsoleScope): WebhookQuery {
  switch (scope.kind) {
    case 'instance':
      return { scope: 'instance' };
    case 'company':
      return { scope: 'company', tenantId: scope.tenantId.trim() };
    case 'project':
      return { scope: 'project', tenantId: scope.tenantId.trim(), projectId: scope.projectId.trim() };
  }
}

/** The scope fields of a webhook created in this scope. */
export function scopeFields(scope: ConsoleScope): Pick<WebhookInput, 'tenantId' | 'projectId'> {
  switch (scope.kind) {
    case 'instance':
      return {};
    case 'company':
      return { tenantId: scope.tenantId.trim() };
    case 'project':
      return { tenantId: scope.tenantId.trim(), projectId: scope.projectId.trim() };
  }
}

export function describeScope(scope: { scope: WebhookScope; tenantId: string | null; projectId: string | null }): string {
  switch (scope.scope) {
    case 'instance':
      return 'Whole instance';
    case 'company':
      return `Company ${scope.tenantId}`;
    case 'project':
      return `Project ${scope.projectId} of company ${scope.tenantId}`;
  }
}
