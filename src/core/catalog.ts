/**
 * The event types Herald knows out of the box: the platform console's own events.
 *
 * Each entry carries the JSON Schema of its `payload` and the JSON pointers (RFC 6901) where the
 * company and project ids live, because scope matching depends on the event type: most events
 * carry `tenantId` / `projectId` at the top of the payload, the user events do not.
 *
 * Schemas are plain draft-07 objects that compile under Ajv 8 in strict mode. They avoid the
 * `format` keyword so that they compile whether or not a validator has ajv-formats loaded.
 */

export interface EventTypeDefinition {
  /** `subject_action`, the value producers put in `eventName`. */
  name: string;
  description: string;
  /** JSON Schema for the envelope's `payload` object. */
  schema: Record<string, unknown>;
  /** JSON pointer into the payload where the company id is found. */
  tenantIdPointer: string;
  /** JSON pointer into the payload where the project id is found. */
  projectIdPointer: string;
  /** Other names accepted on publish and mapped to `name`. */
  aliases: string[];
  builtin: boolean;
}

/** Where operator-defined event types find their ids unless they say otherwise. */
export const DEFAULT_TENANT_POINTER = '/tenantId';
export const DEFAULT_PROJECT_POINTER = '/projectId';

// Scope matching compares ids for equality, and an empty string is an id no webhook can be
// scoped to: refusing it at publish time beats delivering an event nobody can subscribe to.
const id = (): Record<string, unknown> => ({ type: 'string', minLength: 1 });
const text = (): Record<string, unknown> => ({ type: 'string' });

/**
 * The project resource embedded in several payloads (from console 13.x on). The console sends
 * "the whole project plus extras", and that shape grows with every release, so only the fields
 * we know are type-checked and anything else is let through.
 */
function projectResourceSchema(): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      _id: id(),
      name: text(),
      projectId: id(),
      tenantId: id(),
      defaultBranch: text(),
      repository: {
        type: 'object',
        properties: {
          type: text(),
          providerId: id(),
        },
        additionalProperties: true,
      },
      // Environment entries are rich objects whose shape differs across console versions;
      // checking that the list is a list is as far as we can safely go.
      environments: { type: 'array' },
    },
    additionalProperties: true,
  };
}

/** Payload of an event that belongs to one project of one company, ids at the top level. */
function projectScopedPayload(
  properties: Record<string, unknown>,
  required: string[],
  allowExtra = false,
): Record<string, unknown> {
  return {
    type: 'object',
    properties: { tenantId: id(), projectId: id(), ...properties },
    required: ['tenantId', 'projectId', ...required],
    additionalProperties: allowExtra,
  };
}

/** Payload shared by the company membership events; `withRole` is false for removals. */
function companyUserPayload(withRole: boolean): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    userId: id(),
    email: { type: 'string', minLength: 1 },
    ...(withRole ? { roleId: id() } : {}),
    groupId: id(),
    resource: {
      type: 'object',
      properties: {
        companyId: id(),
        projectId: id(),
        environmentId: id(),
      },
      required: ['companyId'],
      additionalProperties: false,
    },
  };
  return {
    type: 'object',
    properties,
    required: withRole ? ['userId', 'email', 'roleId', 'resource'] : ['userId', 'email', 'resource'],
    additionalProperties: false,
  };
}

function builtin(
  entry: Omit<EventTypeDefinition, 'builtin' | 'tenantIdPointer' | 'projectIdPointer' | 'aliases'> &
    Partial<Pick<EventTypeDefinition, 'tenantIdPointer' | 'projectIdPointer' | 'aliases'>>,
): EventTypeDefinition {
  return deepFreeze({
    tenantIdPointer: DEFAULT_TENANT_POINTER,
    projectIdPointer: DEFAULT_PROJECT_POINTER,
    aliases: [],
    ...entry,
    builtin: true,
  });
}

// Built-in definitions are shared by every caller in the process; freezing them turns an
// accidental edit (say, pushing an alias for one request) into an immediate error instead of
// a change that silently leaks into every later lookup.
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// The company membership events describe a person joining a company (and possibly one of its
// projects or environments), so the console files the ids under `resource` and names the
// company `companyId`; there is no `tenantId` in these payloads at all.
const USER_EVENT_TENANT_POINTER = '/resource/companyId';
const USER_EVENT_PROJECT_POINTER = '/resource/projectId';

export const BUILTIN_EVENT_TYPES: readonly EventTypeDefinition[] = Object.freeze([
  builtin({
    name: 'project_created',
    description: 'A new project was created in a company, optionally from a project template.',
    // `sourceTemplateId` and `project` only arrived with console 13.x, so older producers
    // that send just the two ids must still pass.
    schema: projectScopedPayload(
      {
        sourceTemplateId: id(),
        project: projectResourceSchema(),
      },
      [],
    ),
  }),
  builtin({
    name: 'service_created',
    description: 'A service was added to a project, usually generated from a template.',
    schema: projectScopedPayload(
      {
        // Spelled with a capital URL on the wire; kept as the console sends it.
        repositoryURL: text(),
        serviceName: { type: 'string', minLength: 1 },
        templateId: id(),
      },
      ['serviceName'],
    ),
  }),
  builtin({
    name: 'tag_created',
    description: 'A tag (and possibly a release) was created on a project repository.',
    schema: projectScopedPayload(
      {
        tagName: { type: 'string', minLength: 1 },
        ref: text(),
        // Free text typed by a person: empty is a legitimate value.
        message: text(),
        releaseDescription: text(),
        project: projectResourceSchema(),
      },
      ['tagName'],
    ),
  }),
  builtin({
    name: 'tag_deleted',
    description: 'A tag was removed from a project repository.',
    schema: projectScopedPayload(
      {
        tagName: { type: 'string', minLength: 1 },
        project: projectResourceSchema(),
      },
      ['tagName'],
    ),
  }),
  builtin({
    name: 'configuration_saved',
    description: 'A project configuration was saved on a revision, recording who saved it.',
    schema: projectScopedPayload(
      {
        revisionName: { type: 'string', minLength: 1 },
        savedChangesId: id(),
        // Absent on the very first save of a revision, when there is nothing before it.
        previousChangesId: id(),
        // Present only when the save created a new revision, pointing at where it branched off.
        startRef: {
          type: 'object',
          properties: { name: text(), type: text() },
          required: ['name', 'type'],
          additionalProperties: true,
        },
        author: {
          type: 'object',
          properties: { id: id(), name: text() },
          required: ['id'],
          additionalProperties: true,
        },
      },
      ['revisionName', 'savedChangesId'],
      // The console documents this payload as open: it may add fields without notice, at the
      // top level and inside its nested objects alike.
      true,
    ),
  }),
  builtin({
    name: 'company_user_added',
    description: 'A user was given a role in a company, or in one of its projects or environments.',
    schema: companyUserPayload(true),
    tenantIdPointer: USER_EVENT_TENANT_POINTER,
    projectIdPointer: USER_EVENT_PROJECT_POINTER,
    // The console's own example names this event `user_added` while its schema says
    // `company_user_added`; accepting both keeps producers written from either working.
    aliases: ['user_added'],
  }),
  builtin({
    name: 'company_user_edited',
    description: "A user's role in a company, or in one of its projects or environments, was changed.",
    schema: companyUserPayload(true),
    tenantIdPointer: USER_EVENT_TENANT_POINTER,
    projectIdPointer: USER_EVENT_PROJECT_POINTER,
  }),
  builtin({
    name: 'company_user_removed',
    description: 'A user lost access to a company, or to one of its projects or environments.',
    schema: companyUserPayload(false),
    tenantIdPointer: USER_EVENT_TENANT_POINTER,
    projectIdPointer: USER_EVENT_PROJECT_POINTER,
  }),
]);
