/**
 * Types of the events Herald knows out of the box (the platform console's events), mirroring the
 * payload schemas of Herald's catalog, plus a generic form for operator-defined event types.
 */

/** The project resource some payloads embed; the console adds fields over time. */
export interface ProjectResource {
  _id?: string;
  name?: string;
  projectId?: string;
  tenantId?: string;
  defaultBranch?: string;
  repository?: { type?: string; providerId?: string; [extra: string]: unknown };
  environments?: unknown[];
  [extra: string]: unknown;
}

/** The ids every project-scoped payload carries. */
export interface ProjectScoped {
  /** The company id. */
  tenantId: string;
  projectId: string;
}

/** `project_created`: a new project was created in a company. */
export interface ProjectCreatedPayload extends ProjectScoped {
  sourceTemplateId?: string;
  project?: ProjectResource;
}

/** `service_created`: a service was added to a project. */
export interface ServiceCreatedPayload extends ProjectScoped {
  serviceName: string;
  /** Spelled with a capital URL, as the console sends it. */
  repositoryURL?: string;
  templateId?: string;
}

/** `tag_created`: a tag (and possibly a release) was created on a project repository. */
export interface TagCreatedPayload extends ProjectScoped {
  tagName: string;
  ref?: string;
  message?: string;
  releaseDescription?: string;
  project?: ProjectResource;
}

/** `tag_deleted`: a tag was removed from a project repository. */
export interface TagDeletedPayload extends ProjectScoped {
  tagName: string;
  project?: ProjectResource;
}

/** `configuration_saved`: a project configuration was saved; the console may add fields. */
export interface ConfigurationSavedPayload extends ProjectScoped {
  revisionName: string;
  savedChangesId: string;
  /** Absent on the first save of a revision. */
  previousChangesId?: string;
  /** Present when the save created a new revision. */
  startRef?: { name: string; type: string; [extra: string]: unknown };
  author?: { id: string; name?: string; [extra: string]: unknown };
  [extra: string]: unknown;
}

/** Where a company membership applies: the company, or one of its projects or environments. */
export interface MembershipResource {
  companyId: string;
  projectId?: string;
  environmentId?: string;
}

/** `company_user_added` / `company_user_edited`. */
export interface CompanyUserRolePayload {
  userId: string;
  email: string;
  roleId: string;
  groupId?: string;
  resource: MembershipResource;
}

/** `company_user_removed`. */
export interface CompanyUserRemovedPayload {
  userId: string;
  email: string;
  groupId?: string;
  resource: MembershipResource;
}

/** Payload type of each built-in event, by `eventName`. */
export interface HeraldEventPayloads {
  project_created: ProjectCreatedPayload;
  service_created: ServiceCreatedPayload;
  tag_created: TagCreatedPayload;
  tag_deleted: TagDeletedPayload;
  configuration_saved: ConfigurationSavedPayload;
  company_user_added: CompanyUserRolePayload;
  /** Accepted on publish as another name of `company_user_added`. */
  user_added: CompanyUserRolePayload;
  company_user_edited: CompanyUserRolePayload;
  company_user_removed: CompanyUserRemovedPayload;
}

/** Names of the built-in events. */
export type BuiltinEventName = keyof HeraldEventPayloads;

/**
 * An event to publish, discriminated by `eventName`. `eventTimestamp` (milliseconds since the
 * epoch) defaults to the time Herald receives it.
 */
export type HeraldEvent<N extends BuiltinEventName = BuiltinEventName> = {
  [K in N]: { eventName: K; eventTimestamp?: number; payload: HeraldEventPayloads[K] };
}[N];

/** An event of an operator-defined type: any name, any JSON object as payload. */
export interface CustomHeraldEvent<N extends string = string, P extends object = Record<string, unknown>> {
  eventName: N;
  eventTimestamp?: number;
  payload: P;
}

/**
 * What `publish` accepts: a built-in event with its typed payload, or a custom one whose name is
 * not a built-in name (so a typo in a built-in payload is a type error, not a custom event).
 */
export type PublishableEvent<E extends { eventName: string }> = E['eventName'] extends BuiltinEventName
  ? HeraldEvent<E['eventName']>
  : CustomHeraldEvent<E['eventName'], object>;

/** The body of a delivery, as a receiver gets it (`eventTimestamp` always set). */
export type HeraldEnvelope =
  | { [K in BuiltinEventName]: { eventName: K; eventTimestamp: number; payload: HeraldEventPayloads[K] } }[BuiltinEventName]
  | { eventName: string; eventTimestamp: number; payload: Record<string, unknown> };

/**
 * Narrows a received envelope to one built-in event type:
 *
 * ```ts
 * if (isHeraldEvent(envelope, 'tag_created')) console.log(envelope.payload.tagName);
 * ```
 */
export function isHeraldEvent<N extends BuiltinEventName>(
  envelope: HeraldEnvelope,
  eventName: N,
): envelope is Extract<HeraldEnvelope, { eventName: N }> {
  return envelope.eventName === eventName;
}
