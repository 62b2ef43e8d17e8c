import { Input, Select } from 'antd';
import { useEffect, useState } from 'react';
import type { Me, WebhookScope } from './api';
import { useDebounced } from './hooks';
import { SCOPE_LABELS, scopeKindsFor, type ConsoleScope } from './scope';

/** Typing an id filters the list once the typing pauses, not on every key. */
const ID_SETTLE_MS = 400;

interface ScopeSwitcherProps {
  me: Me;
  scope: ConsoleScope;
  onChange(scope: ConsoleScope): void;
}

/**
 * Chooses whose webhooks the console shows: the whole instance, one company or one project.
 * A company token sees its own company (the tenant is fixed), a project token its project.
 */
export function ScopeSwitcher({ me, scope, onChange }: ScopeSwitcherProps) {
  const kinds = scopeKindsFor(me);
  const [tenantId, setTenantId] = useState(scope.tenantId);
  const [projectId, setProjectId] = useState(scope.projectId);
  const settledTenant = useDebounced(tenantId, ID_SETTLE_MS);
  const settledProject = useDebounced(projectId, ID_SETTLE_MS);

  // The ids typed here reach the page once they settle (or at once on Enter).
  useEffect(() => {
    if (settledTenant !== scope.tenantId || settledProject !== scope.projectId) {
      onChange({ ...scope, tenantId: settledTenant, projectId: settledProject });
    }
    // Only a settled edit triggers this, not a change of the scope itself (that came from here).
  }, [settledTenant, settledProject]);

  const applyNow = () => onChange({ ...scope, tenantId, projectId });

  return (
    <div className="scope-switcher">
      <div className="scope-field">
        <label htmlFor="scope-kind">Scope</label>
        <Select<WebhookScope>
          id="scope-kind"
          value={scope.kind}
          onChange={(kind) => onChange({ ...scope, kind, tenantId, projectId })}
          options={kinds.map((kind) => ({ value: kind, label: SCOPE_LABELS[kind] }))}
          style={{ width: 160 }}
          popupMatchSelectWidth={false}
        />
      </div>
      {scope.kind !== 'instance' && (
        <div className="scope-field">
          <label htmlFor="scope-tenant">Tenant ID</label>
          <Input
            id="scope-tenant"
            value={tenantId}
            readOnly={me.tenantId !== null}
            placeholder="e.g. acme"
            onChange={(event) => setTenantId(event.target.value)}
            onPressEnter={applyNow}
            style={{ width: 150 }}
            autoComplete="off"
            spellCheck={false}
          />
        </div>
      )}
      {scope.kind === 'project' && (
        <div className="scope-field">
          <label htmlFor="scope-project">Project ID</label>
          <Input
            id="scope-project"
            value={projectId}
            readOnly={me.projectId !== null}
            placeholder="e.g. shop"
            onChange={(event) => setProjectId(event.target.value)}
            onPressEnter={applyNow}
            style={{ width: 150 }}
            autoComplete="off"
            spellCheck={false}
          />
        </div>
      )}
    </div>
  );
}
