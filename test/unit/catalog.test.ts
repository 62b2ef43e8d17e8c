import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

import {
  BUILTIN_EVENT_TYPES,
  DEFAULT_PROJECT_POINTER,
  DEFAULT_TENANT_POINTER,
  type EventTypeDefinition,
} from '../../src/core/catalog.js';

// ajv-formats is CommonJS: depending on the loader the default import is either the plugin or
// the module object holding it under `default`, and the plugin itself carries `default` too.
type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats: FormatsPlugin =
  (addFormatsModule as unknown as { default?: FormatsPlugin }).default ??
  (addFormatsModule as unknown as FormatsPlugin);

function strictAjv(withFormats: boolean): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true });
  return withFormats ? addFormats(ajv) : ajv;
}

const ajv = strictAjv(true);
const validators = new Map<string, ValidateFunction>(
  BUILTIN_EVENT_TYPES.map((t) => [t.name, ajv.compile(t.schema)]),
);

function validate(name: string, payload: unknown): ValidateFunction {
  const check = validators.get(name);
  assert.ok(check, `no validator for ${name}`);
  check(payload);
  return check;
}

function assertValid(name: string, payload: unknown): void {
  const check = validate(name, payload);
  assert.equal(check.errors ?? null, null, `${name}: ${JSON.stringify(check.errors)}`);
}

function assertInvalid(name: string, payload: unknown): void {
  const check = validate(name, payload);
  assert.ok(check.errors && check.errors.length > 0, `${name} accepted ${JSON.stringify(payload)}`);
}

function definition(name: string): EventTypeDefinition {
  const found = BUILTIN_EVENT_TYPES.find((t) => t.name === name);
  assert.ok(found, `missing event type ${name}`);
  return found;
}

/** RFC 6901 lookup, enough for the catalog's pointers: undefined when any step is missing. */
function resolvePointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  assert.ok(pointer.startsWith('/'), `not a JSON pointer: ${pointer}`);
  let current: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, token)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[token];
  }
  return current;
}

/** Removes the member a pointer names, so a test can drop a nested required id. */
function withoutPointer<T>(document: T, pointer: string): T {
  const copy = structuredClone(document);
  const tokens = pointer.slice(1).split('/');
  const last = tokens.pop() as string;
  const parent = resolvePointer(copy, tokens.length ? `/${tokens.join('/')}` : '');
  assert.ok(parent && typeof parent === 'object', `no parent for ${pointer}`);
  delete (parent as Record<string, unknown>)[last];
  return copy;
}

const TENANT = 'acme-corp';
const PROJECT = '65f0c1d2e3a4b5c6d7e8f901';

// Modelled on a 13.x project resource, including a field the catalog does not know about.
const projectResource = {
  _id: PROJECT,
  name: 'Payments backend',
  projectId: 'payments-backend',
  tenantId: TENANT,
  defaultBranch: 'main',
  repository: { type: 'gitlab', providerId: 'gitlab-main', url: 'https://git.example.com/p/b' },
  environments: [
    { envId: 'development', label: 'Development', cluster: { hostname: 'k8s-dev' } },
    { envId: 'production', label: 'Production', isProduction: true },
  ],
  configurationManagement: { saveMessageRequired: true },
};

const userResource = { companyId: TENANT, projectId: PROJECT, environmentId: 'production' };

/** One realistic payload per built-in event type. */
const samples: Record<string, Record<string, unknown>> = {
  project_created: {
    tenantId: TENANT,
    projectId: PROJECT,
    sourceTemplateId: '64a1b2c3d4e5f60718293a4b',
    project: projectResource,
  },
  service_created: {
    tenantId: TENANT,
    projectId: PROJECT,
    repositoryURL: 'https://git.example.com/payments/ledger-api',
    serviceName: 'ledger-api',
    templateId: 'node-fastify-template',
  },
  tag_created: {
    tenantId: TENANT,
    projectId: PROJECT,
    tagName: 'v1.4.0',
    ref: 'main',
    message: 'Ledger reconciliation',
    releaseDescription: '',
    project: projectResource,
  },
  tag_deleted: {
    tenantId: TENANT,
    projectId: PROJECT,
    tagName: 'v1.3.9',
    project: projectResource,
  },
  configuration_saved: {
    tenantId: TENANT,
    projectId: PROJECT,
    revisionName: 'feature-refunds',
    savedChangesId: '66aa00bb11cc22dd33ee44ff',
    previousChangesId: '66aa00bb11cc22dd33ee44fe',
    startRef: { name: 'main', type: 'revision' },
    author: { id: 'auth0|5f1e2d3c', name: 'Ada Lovelace' },
  },
  company_user_added: {
    userId: '5f1e2d3c4b5a69788796a5b4',
    email: 'ada@example.com',
    roleId: 'maintainer',
    groupId: 'platform-team',
    resource: userResource,
  },
  company_user_edited: {
    userId: '5f1e2d3c4b5a69788796a5b4',
    email: 'ada@example.com',
    roleId: 'project-administrator',
    resource: userResource,
  },
  company_user_removed: {
    userId: '5f1e2d3c4b5a69788796a5b4',
    email: 'ada@example.com',
    resource: { companyId: TENANT },
  },
};

const EXPECTED_NAMES = [
  'project_created',
  'service_created',
  'tag_created',
  'tag_deleted',
  'configuration_saved',
  'company_user_added',
  'company_user_edited',
  'company_user_removed',
];
const USER_EVENTS = ['company_user_added', 'company_user_edited', 'company_user_removed'];

describe('built-in event catalog: shape', () => {
  test('covers every console event, and nothing else', () => {
    assert.deepEqual(BUILTIN_EVENT_TYPES.map((t) => t.name).sort(), [...EXPECTED_NAMES].sort());
  });

  test('names are unique and shaped subject_action', () => {
    const names = BUILTIN_EVENT_TYPES.map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^[a-z]+(_[a-z]+)+$/);
  });

  test('aliases are well formed and clash neither with names nor with each other', () => {
    const names = new Set(BUILTIN_EVENT_TYPES.map((t) => t.name));
    const seen = new Set<string>();
    for (const t of BUILTIN_EVENT_TYPES) {
      for (const alias of t.aliases) {
        assert.match(alias, /^[a-z]+(_[a-z]+)+$/);
        assert.ok(!names.has(alias), `alias ${alias} of ${t.name} is also an event name`);
        assert.ok(!seen.has(alias), `alias ${alias} is declared twice`);
        seen.add(alias);
      }
    }
    assert.deepEqual(definition('company_user_added').aliases, ['user_added']);
  });

  test('every entry is built in, described, and has valid JSON pointers', () => {
    for (const t of BUILTIN_EVENT_TYPES) {
      assert.equal(t.builtin, true);
      assert.ok(t.description.length > 10, `${t.name} needs a description`);
      assert.match(t.tenantIdPointer, /^(\/[^/]+)+$/);
      assert.match(t.projectIdPointer, /^(\/[^/]+)+$/);
    }
  });

  test('project-scoped events use the default pointers, user events point into resource', () => {
    assert.equal(DEFAULT_TENANT_POINTER, '/tenantId');
    assert.equal(DEFAULT_PROJECT_POINTER, '/projectId');
    for (const t of BUILTIN_EVENT_TYPES) {
      if (USER_EVENTS.includes(t.name)) {
        assert.equal(t.tenantIdPointer, '/resource/companyId');
        assert.equal(t.projectIdPointer, '/resource/projectId');
      } else {
        assert.equal(t.tenantIdPointer, DEFAULT_TENANT_POINTER);
        assert.equal(t.projectIdPointer, DEFAULT_PROJECT_POINTER);
      }
    }
  });

  test('built-in definitions cannot be altered by callers', () => {
    const t = definition('company_user_added');
    assert.throws(() => t.aliases.push('member_added'), TypeError);
    assert.throws(() => {
      (t.schema as Record<string, unknown>).additionalProperties = true;
    }, TypeError);
    assert.throws(() => (BUILTIN_EVENT_TYPES as EventTypeDefinition[]).pop(), TypeError);
  });
});

describe('built-in event catalog: schemas', () => {
  test('every schema compiles in Ajv strict mode, with and without ajv-formats', () => {
    for (const withFormats of [false, true]) {
      const fresh = strictAjv(withFormats);
      for (const t of BUILTIN_EVENT_TYPES) {
        assert.doesNotThrow(() => fresh.compile(t.schema), `${t.name} (formats: ${withFormats})`);
      }
    }
  });

  test('a realistic payload of each event type is accepted', () => {
    for (const name of EXPECTED_NAMES) {
      assert.ok(samples[name], `no sample for ${name}`);
      assertValid(name, samples[name]);
    }
  });

  test('pre-13.x project_created with only the two ids is accepted', () => {
    assertValid('project_created', { tenantId: TENANT, projectId: PROJECT });
  });

  test('unknown top-level properties are refused, except on configuration_saved', () => {
    for (const name of EXPECTED_NAMES) {
      const payload = { ...samples[name], unexpectedField: 'surprise' };
      if (name === 'configuration_saved') {
        assertValid(name, payload);
      } else {
        assert.equal(definition(name).schema.additionalProperties, false, name);
        assertInvalid(name, payload);
      }
    }
  });

  test('a missing tenant or company id is refused', () => {
    for (const t of BUILTIN_EVENT_TYPES) {
      assertInvalid(t.name, withoutPointer(samples[t.name], t.tenantIdPointer));
    }
  });

  test('a missing project id is refused where the project is part of the event', () => {
    for (const t of BUILTIN_EVENT_TYPES.filter((e) => !USER_EVENTS.includes(e.name))) {
      assertInvalid(t.name, withoutPointer(samples[t.name], t.projectIdPointer));
    }
  });

  test('empty ids are refused', () => {
    assertInvalid('service_created', { ...samples.service_created, tenantId: '' });
    assertInvalid('tag_deleted', { ...samples.tag_deleted, projectId: '' });
    assertInvalid('company_user_added', {
      ...samples.company_user_added,
      resource: { companyId: '' },
    });
  });

  test('ids must be strings', () => {
    assertInvalid('project_created', { tenantId: TENANT, projectId: 42 });
  });

  test('the project object accepts unknown fields but checks the known ones', () => {
    const project = (extra: Record<string, unknown>) => ({
      ...samples.tag_created,
      project: { ...projectResource, ...extra },
    });
    assertValid('tag_created', project({ featureToggles: { enabled: ['x'] } }));
    assertInvalid('tag_created', project({ defaultBranch: 7 }));
    assertInvalid('tag_created', project({ environments: { envId: 'development' } }));
    assertInvalid('tag_created', project({ repository: { type: 'github', providerId: 3 } }));
    assertInvalid('project_created', { ...samples.project_created, project: 'payments' });
  });

  test('configuration_saved: startRef is optional, author is an {id, name} object', () => {
    const { startRef: _startRef, ...onExistingRevision } = samples.configuration_saved;
    assertValid('configuration_saved', onExistingRevision);
    assertInvalid('configuration_saved', { ...onExistingRevision, startRef: 'main' });
    assertInvalid('configuration_saved', { ...onExistingRevision, startRef: { name: 'main' } });
    assertInvalid('configuration_saved', { ...onExistingRevision, author: 'Ada Lovelace' });
    assertInvalid('configuration_saved', { ...onExistingRevision, author: { id: 12, name: 'Ada' } });
  });

  test('user events: groupId and the narrower resource ids are optional', () => {
    assertValid('company_user_added', {
      userId: 'u1',
      email: 'grace@example.com',
      roleId: 'guest',
      resource: { companyId: TENANT },
    });
    const { roleId: _roleId, ...withoutRole } = samples.company_user_edited;
    assertInvalid('company_user_edited', withoutRole);
    assertInvalid('company_user_added', { ...samples.company_user_added, tenantId: TENANT });
    assertInvalid('company_user_removed', {
      ...samples.company_user_removed,
      resource: { companyId: TENANT, teamId: 'x' },
    });
  });
});

describe('built-in event catalog: id pointers', () => {
  test("user events' pointers reach the ids inside resource", () => {
    for (const name of USER_EVENTS) {
      const t = definition(name);
      const payload = {
        userId: 'u1',
        email: 'grace@example.com',
        roleId: 'developer',
        resource: { companyId: 'globex', projectId: 'inventory', environmentId: 'staging' },
      };
      assert.equal(resolvePointer(payload, t.tenantIdPointer), 'globex');
      assert.equal(resolvePointer(payload, t.projectIdPointer), 'inventory');
      // Company-wide membership: no project to resolve, which means "company scope".
      assert.equal(resolvePointer({ ...payload, resource: { companyId: 'globex' } }, t.projectIdPointer), undefined);
    }
  });

  test('every sample payload yields its tenant and project through its pointers', () => {
    for (const t of BUILTIN_EVENT_TYPES) {
      assert.equal(resolvePointer(samples[t.name], t.tenantIdPointer), TENANT, t.name);
      if (t.name !== 'company_user_removed') {
        assert.equal(resolvePointer(samples[t.name], t.projectIdPointer), PROJECT, t.name);
      }
    }
  });
});
