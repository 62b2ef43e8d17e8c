/**
 * Herald's SDK: verify deliveries in receivers (node:http, Express, Fastify), guard against
 * replays, and publish events from producers. Nothing beyond Node's standard library at run time.
 *
 * @packageDocumentation
 */
export {
  WebhookVerificationError,
  constantTimeEqual,
  readHeader,
  verifyHmacSignature,
  verifyMiaSignature,
  verifyStandardWebhook,
} from './verify.js';
export type {
  HeaderValue,
  HeadersLike,
  SecretOrSecrets,
  StandardWebhookOptions,
  StandardWebhookResult,
  VerificationFailureReason,
} from './verify.js';
export { createReplayGuard } from './replay.js';
export type { ReplayCheck, ReplayGuard, ReplayGuardOptions } from './replay.js';
export { heraldExpress, heraldFastify, heraldNodeHandler, readRawBody, refusal, verifyDelivery } from './middleware.js';
export type {
  ExpressLikeRequest,
  ExpressLikeResponse,
  FastifyLikeInstance,
  FastifyLikeReply,
  FastifyLikeRequest,
  HeraldNodeEventHandler,
  HeraldReceiverOptions,
  SignatureScheme,
  VerifiedDelivery,
} from './middleware.js';
export { Herald, HeraldApiError } from './client.js';
export type { HeraldClientOptions, PublishBatchResult, PublishOptions, PublishResult } from './client.js';
export { isHeraldEvent } from './events.js';
export type {
  BuiltinEventName,
  CompanyUserRemovedPayload,
  CompanyUserRolePayload,
  ConfigurationSavedPayload,
  CustomHeraldEvent,
  HeraldEnvelope,
  HeraldEvent,
  HeraldEventPayloads,
  MembershipResource,
  ProjectCreatedPayload,
  ProjectResource,
  ProjectScoped,
  PublishableEvent,
  ServiceCreatedPayload,
  TagCreatedPayload,
  TagDeletedPayload,
} from './events.js';
