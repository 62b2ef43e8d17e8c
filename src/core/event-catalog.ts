import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import {
  BUILTIN_EVENT_TYPES,
  DEFAULT_PROJECT_POINTER,
  DEFAULT_TENANT_POINTER,
  type EventTypeDefinition,
} from './catalog.js';
import type { EventScope } from './types.js';

// ajv-formats is CommonJS; under NodeNext its default export sits on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/** An event type's schema when none is given: any JSON object. */
export const ANY_OBJECT_SCHEMA = { type: 'object' } as const;

export interface PayloadProblem {
  /** Dotted path inside the payload, e.g. `resource.companyId`; '' for the payload itself. */
  path: string;
  message: string;
}

interface CompiledType {
  definition: EventTypeDefinition;
  validate: ValidateFunction;
  /** The tenant and project pointers, split and unescaped once: every publish reads them. */
  tenantPath: string[];
  projectPath: string[];
}

/**
 * The event types Herald knows: the console's built-in ones plus those operators add. It
 * answers the three questions publishing asks: is this name known (aliases included), is this
 * payload valid, and which company and project does it belong to.
 */
export class EventCatalog {
  private readonly ajv = createAjv();
  private readonly types = new Map<string, CompiledType>();
  private readonly aliases = new Map<string, string>();

  constructor(custom: readonly EventTypeDefinition[] = []) {
    for (const definition of [...BUILTIN_EVENT_TYPES, ...custom]) this.add(definition);
  }

  /** Throws an Error with the schema problem when the schema does not compile. */
  add(definition: EventTypeDefinition): void {
    const validate = this.ajv.compile(definition.schema);
    this.types.set(definition.name, {
      definition,
      validate,
      tenantPath: pointerTokens(definition.tenantIdPointer),
      projectPath: pointerTokens(definition.projectIdPointer),
    });
    for (const alias of definition.aliases) this.aliases.set(alias, definition.name);
  }

  /** The canonical name for a name or alias, or null when unknown. */
  resolve(name: string): string | null {
    if (this.types.has(name)) return name;
    return this.aliases.get(name) ?? null;
  }

  has(name: string): boolean {
    return this.resolve(name) !== null;
  }

  list(): EventTypeDefinition[] {
    return [...this.types.values()].map((entry) => entry.definition);
  }

  /** `canonicalName` must come from `resolve`. Returns the first problems found, or []. */
  validatePayload(canonicalName: string, payload: unknown): PayloadProblem[] {
    const entry = this.mustGet(canonicalName);
    if (entry.validate(payload)) return [];
    return (entry.validate.errors ?? []).slice(0, 5).map(describeAjvError);
  }

  scopeOf(canonicalName: string, payload: Record<string, unknown>): EventScope {
    const { tenantPath, projectPath } = this.mustGet(canonicalName);
    return { tenantId: idAtPath(payload, tenantPath), projectId: idAtPath(payload, projectPath) };
  }

  private mustGet(name: string): CompiledType {
    const entry = this.types.get(name);
    if (!entry) throw new Error(`event type ${name} is not in the catalog`);
    return entry;
  }
}

/** Checks a schema an operator submits before it is stored. Returns the problem or null. */
export function schemaProblem(schema: unknown): string | null {
  // A payload is always an object: a schema whose `type` leaves objects out would refuse every
  // event of its type, which is a mistake better reported now than at each publish.
  const type = (schema as { type?: unknown } | null)?.type;
  if (type !== undefined && type !== 'object' && !(Array.isArray(type) && type.includes('object'))) {
    return 'its type must allow "object", since every payload is a JSON object';
  }
  try {
    createAjv().compile(schema as object);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export function customEventType(input: {
  name: string;
  description?: string | null;
  schema?: Record<string, unknown> | null;
  tenantIdPointer?: string | null;
  projectIdPointer?: string | null;
}): EventTypeDefinition {
  return {
    name: input.name,
    description: input.description ?? '',
    schema: input.schema ?? { ...ANY_OBJECT_SCHEMA },
    tenantIdPointer: input.tenantIdPointer ?? DEFAULT_TENANT_POINTER,
    projectIdPointer: input.projectIdPointer ?? DEFAULT_PROJECT_POINTER,
    aliases: [],
    builtin: false,
  };
}

function createAjv() {
  // allErrors stays off: the first problems are enough to answer, and it bounds the work an
  // adversarial payload can cause.
  // addUsedSchema stays off: otherwise every schema's `$id` is registered in the shared
  // instance, and a second event type reusing an `$id` would fail to compile, after it was
  // stored, and again on every start.
  // logger off: Ajv would print a warning to the console for every unknown `format` it ignores.
  const ajv = new Ajv({ strict: false, allErrors: false, validateSchema: true, addUsedSchema: false, logger: false });
  addFormats(ajv);
  return ajv;
}

/** An RFC 6901 pointer's reference tokens, unescaped. */
function pointerTokens(pointer: string): string[] {
  return pointer.split('/').slice(1).map(unescapePointer);
}

/** The value at a pointer's tokens; only a non-empty string counts as an id. */
function idAtPath(payload: Record<string, unknown>, path: readonly string[]): string | null {
  let node: unknown = payload;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return null;
    if (!Object.prototype.hasOwnProperty.call(node, key)) return null;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === 'string' && node !== '' ? node : null;
}

function describeAjvError(error: ErrorObject): PayloadProblem {
  const base = error.instancePath.split('/').slice(1).map(unescapePointer);
  if (error.keyword === 'required') base.push(String(error.params.missingProperty));
  if (error.keyword === 'additionalProperties') base.push(String(error.params.additionalProperty));
  const path = base.join('.');
  const message =
    error.keyword === 'required'
      ? 'is required'
      : error.keyword === 'additionalProperties'
        ? 'is not an allowed property'
        : (error.message ?? 'is not valid');
  return { path, message };
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}
