import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ROLES } from '../core/access.js';
import { WEBHOOK_METHODS } from '../core/types.js';

/**
 * Request and response schemas: the single source of the validation, the TypeScript types and
 * the serialisation. Response schemas list exactly what may leave Herald, so a secret that
 * reached a response object by mistake would still be dropped on the way out.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Id = Type.String({ minLength: 1, maxLength: 128 });
const Timestamp = Type.String({ description: 'ISO 8601 date and time' });

export const ErrorBody = Type.Object({
  error: Type.String(),
  message: Type.String(),
  field: Type.Optional(Type.String()),
});

const WebhookFields = {
  name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  events: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 100 })),
  secret: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })),
  tenantId: Type.Optional(Nullable(Id)),
  projectId: Type.Optional(Nullable(Id)),
  method: Type.Optional(Type.Union(WEBHOOK_METHODS.map((method) => Type.Literal(method)))),
  contentType: Type.Optional(Type.String({ minLength: 3, maxLength: 200 })),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  active: Type.Optional(Type.Boolean()),
  base64CA: Type.Optional(Nullable(Type.String({ maxLength: 65_536 }))),
  proxy: Type.Optional(Nullable(Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false }))),
};

/** Both shapes on one route: the current one, and the older CMS document
 * (`eventName`, `target`, `proxy.url`), which is mapped onto the current one. */
export const WebhookCreateBody = Type.Object(
  {
    ...WebhookFields,
    // The older CMS document sends empty ids for an instance-wide webhook (and an empty
    // `proxy.url` for no proxy); the current shape refuses empty ids in webhook-input.ts, once
    // it knows which shape it was given.
    tenantId: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
    projectId: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
    eventName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    'proxy.url': Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type WebhookCreateBody = Static<typeof WebhookCreateBody>;

export const WebhookPatchBody = Type.Object(
  {
    ...WebhookFields,
    'proxy.url': Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    // Seconds the old secret keeps signing beside a new `secret`; at most 30 days.
    keepPreviousSecretFor: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_592_000 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type WebhookPatchBody = Static<typeof WebhookPatchBody>;

export const LastEventView = Type.Object({
  eventName: Type.String(),
  status: Type.Union([Type.Literal('success'), Type.Literal('error')]),
  statusCode: Nullable(Type.Integer()),
  dispatchedAt: Timestamp,
});

export const WebhookView = Type.Object({
  id: Type.String(),
  name: Nullable(Type.String()),
  url: Type.String(),
  events: Type.Array(Type.String()),
  scope: Type.Union([Type.Literal('instance'), Type.Literal('company'), Type.Literal('project')]),
  tenantId: Nullable(Type.String()),
  projectId: Nullable(Type.String()),
  method: Type.String(),
  contentType: Type.String(),
  maxAttempts: Type.Integer(),
  active: Type.Boolean(),
  base64CA: Nullable(Type.String()),
  proxy: Nullable(Type.Object({ url: Type.String() })),
  hasSecret: Type.Boolean(),
  /** While a rotated-out secret still signs beside the new one, when it stops. */
  previousSecretExpiresAt: Nullable(Timestamp),
  lastEvent: Nullable(LastEventView),
  /** Why Herald set the webhook inactive by itself, and when; null once it is active again. */
  disabledReason: Nullable(Type.String()),
  disabledAt: Nullable(Timestamp),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type WebhookView = Static<typeof WebhookView>;

/** The one response that carries a secret: creation, when Herald generated it. */
export const WebhookCreatedView = Type.Composite([
  WebhookView,
  Type.Object({ secret: Type.Optional(Type.String()) }),
]);

export const WebhookListQuery = Type.Object(
  {
    tenantId: Type.Optional(Id),
    projectId: Type.Optional(Id),
    scope: Type.Optional(Type.Union([Type.Literal('instance'), Type.Literal('company'), Type.Literal('project')])),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
    after: Type.Optional(Id),
  },
  { additionalProperties: false },
);
export type WebhookListQuery = Static<typeof WebhookListQuery>;

export const WebhookList = Type.Object({ data: Type.Array(WebhookView), nextCursor: Nullable(Type.String()) });

/** The query of a list route without filters: a filter it does not know is refused, not ignored. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const IdParams = Type.Object({ id: Id });
export const DeliveryParams = Type.Object({ id: Id, deliveryId: Id });

export const EventInput = Type.Object(
  {
    eventName: Type.String({ minLength: 1, maxLength: 100 }),
    eventTimestamp: Type.Optional(Type.Number({ minimum: 0 })),
    payload: Type.Object({}, { additionalProperties: true }),
  },
  { additionalProperties: false },
);
export type EventInput = Static<typeof EventInput>;

/** Maximum events in one batch publish. */
export const MAX_BATCH_EVENTS = 1000;

export const PublishBody = Type.Object(
  {
    eventName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    eventTimestamp: Type.Optional(Type.Number({ minimum: 0 })),
    payload: Type.Optional(Type.Object({}, { additionalProperties: true })),
    events: Type.Optional(Type.Array(EventInput, { minItems: 1, maxItems: MAX_BATCH_EVENTS })),
  },
  { additionalProperties: false },
);
export type PublishBody = Static<typeof PublishBody>;

const PublishedEventView = Type.Object({ id: Type.String(), deliveries: Type.Integer() });
export const PublishReply = Type.Union([
  PublishedEventView,
  Type.Object({ events: Type.Array(PublishedEventView) }),
]);

export const DeliveryErrorView = Nullable(Type.Object({ code: Type.String(), message: Type.String() }));

export const DeliverySummaryView = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  eventName: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('success'), Type.Literal('error')]),
  statusCode: Nullable(Type.Integer()),
  attempts: Type.Integer(),
  dispatchedAt: Nullable(Timestamp),
  durationMs: Nullable(Type.Integer()),
  error: DeliveryErrorView,
  nextAttemptAt: Nullable(Timestamp),
  createdAt: Timestamp,
  /** The delivery this one was queued again from (a resend); null otherwise. */
  resentFrom: Nullable(Type.String()),
});

export const DeliveryDetailView = Type.Composite([
  DeliverySummaryView,
  Type.Object({
    requestBody: Type.String(),
    requestHeaders: Nullable(Type.Record(Type.String(), Type.String())),
    responseBody: Nullable(Type.String()),
    attemptLog: Type.Array(
      Type.Object({
        attempt: Type.Integer(),
        startedAt: Timestamp,
        durationMs: Type.Integer(),
        statusCode: Nullable(Type.Integer()),
        error: DeliveryErrorView,
      }),
    ),
  }),
]);

export const TestEventBody = Type.Object(
  { eventName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);

export const ResendFailedBody = Type.Object(
  {
    since: Type.String({
      pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$',
      maxLength: 40,
      description: 'ISO 8601 date and time, such as 2026-01-31T12:00:00Z',
    }),
  },
  { additionalProperties: false },
);

export const QueuedDeliveryReply = Type.Object({ deliveryId: Type.String() });
export const QueuedDeliveriesReply = Type.Object({ deliveries: Type.Integer() });

export const DeliveryListQuery = Type.Object(
  {
    sort: Type.Optional(Type.Union([Type.Literal('newest'), Type.Literal('oldest')])),
    eventName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    status: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('error'), Type.Literal('pending')])),
    statusCode: Type.Optional(Type.String({ pattern: '^[1-5][0-9]{2}$' })),
  },
  { additionalProperties: false },
);
export type DeliveryListQuery = Static<typeof DeliveryListQuery>;

export const EventTypeBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9]*([_.-][a-z0-9]+)*$', minLength: 1, maxLength: 100 }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    schema: Type.Optional(Type.Object({}, { additionalProperties: true })),
    tenantIdPointer: Type.Optional(Type.String({ pattern: '^(/[^/]+)+$', maxLength: 200 })),
    projectIdPointer: Type.Optional(Type.String({ pattern: '^(/[^/]+)+$', maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type EventTypeBody = Static<typeof EventTypeBody>;

export const EventTypeView = Type.Object({
  name: Type.String(),
  description: Type.String(),
  schema: Type.Object({}, { additionalProperties: true }),
  tenantIdPointer: Type.String(),
  projectIdPointer: Type.String(),
  aliases: Type.Array(Type.String()),
  builtin: Type.Boolean(),
});

export const TokenBody = Type.Object(
  {
    role: Type.Union(ROLES.map((role) => Type.Literal(role))),
    tenantId: Type.Optional(Id),
    projectId: Type.Optional(Id),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    expiresAt: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601 date and time' })),
  },
  { additionalProperties: false },
);

export const TokenView = Type.Object({
  id: Type.String(),
  name: Nullable(Type.String()),
  role: Type.String(),
  tenantId: Nullable(Type.String()),
  projectId: Nullable(Type.String()),
  createdAt: Timestamp,
  expiresAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
  active: Type.Boolean(),
});

/** The caller's own token: its role and reach. */
export const MeView = Type.Object({
  role: Type.Union(ROLES.map((role) => Type.Literal(role))),
  tenantId: Nullable(Type.String()),
  projectId: Nullable(Type.String()),
  tokenId: Type.String(),
});

/** The one response that carries a token: its creation. */
export const TokenCreatedView = Type.Composite([TokenView, Type.Object({ token: Type.String() })]);
