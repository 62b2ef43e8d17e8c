import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { mayPublish, type Principal } from '../../core/access.js';
import { HeraldError, invalidField } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { EventEnvelope } from '../../core/types.js';
import type { NewEvent } from '../../store/index.js';
import { learnEventNames } from '../catalog-sync.js';
import type { ApiContext } from '../context.js';
import { ErrorBody, PublishBody, PublishReply, type EventInput } from '../schemas.js';

/** Largest serialised envelope accepted for one event. */
export const MAX_EVENT_BYTES = 256 * 1024;
/** Largest publish request (a full batch of large events). */
export const MAX_PUBLISH_BODY_BYTES = 16 * 1024 * 1024;
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export const eventRoutes = (context: ApiContext): FastifyPluginAsyncTypebox => async (app) => {
  const { store, clock, handOff } = context;

  app.post(
    '/events',
    {
      bodyLimit: MAX_PUBLISH_BODY_BYTES,
      config: { access: 'publish' },
      schema: { body: PublishBody, response: { 202: PublishReply, '4xx': ErrorBody } },
    },
    async (request, reply) => {
      const body = request.body;
      const isBatch = body.events !== undefined;
      const inputs = isBatch ? batchEvents(body) : [singleEvent(body)];
      await learnEventNames(context, inputs.map((input) => input.eventName));
      const now = clock();
      const events = inputs.map((input, index) =>
        toNewEvent(input, isBatch ? `events[${index}].` : '', request.principal, context, now),
      );
      const idempotency = idempotencyOf(request.headers['idempotency-key'], request.principal.tokenId, body);
      // Stored durably before the 202: once acknowledged, an event is never lost.
      const outcome = await store.publishEvents({ events, now, idempotency, claimFor: handOff?.claimFor(now) });
      if (outcome.kind === 'published' && outcome.claimed) handOff!.take(outcome.claimed);
      if (outcome.kind === 'key-reused') throw new HeraldError('idempotency_key_reused', undefined, 'Idempotency-Key');
      if (outcome.kind === 'replayed') reply.header('idempotent-replayed', 'true');
      reply.code(202);
      return isBatch ? { events: outcome.events } : outcome.events[0];
    },
  );
};

/** A batch carries everything in `events`: a single-event field beside it would be dropped
 * silently, so it is refused instead. */
function batchEvents(body: PublishBody): EventInput[] {
  for (const field of ['eventName', 'eventTimestamp', 'payload'] as const) {
    if (body[field] !== undefined) throw invalidField(field, 'give either a single event or events, not both');
  }
  return body.events!;
}

function singleEvent(body: PublishBody): EventInput {
  if (body.eventName === undefined) throw invalidField('eventName', 'is required (or send a batch as events)');
  if (body.payload === undefined) throw invalidField('payload', 'is required');
  return { eventName: body.eventName, eventTimestamp: body.eventTimestamp, payload: body.payload };
}

function toNewEvent(input: EventInput, prefix: string, principal: Principal, context: ApiContext, now: number): NewEvent {
  const { catalog, config } = context;
  const eventName = catalog.resolve(input.eventName);
  if (eventName === null) {
    throw new HeraldError('unknown_event_type', `"${input.eventName}" is not in the event catalog`, `${prefix}eventName`);
  }
  const [problem] = catalog.validatePayload(eventName, input.payload);
  if (problem) {
    throw invalidField(`${prefix}payload${problem.path ? `.${problem.path}` : ''}`, problem.message);
  }
  // A producer's timestamp is kept as it was sent; a missing one is filled in.
  const eventTimestamp =
    input.eventTimestamp ?? (config.eventTimestampUnit === 's' ? Math.floor(now / 1000) : now);
  const envelope: EventEnvelope = { eventName, eventTimestamp, payload: input.payload };
  const body = JSON.stringify(envelope);
  if (Buffer.byteLength(body) > MAX_EVENT_BYTES) {
    throw new HeraldError('payload_too_large', `an event may be at most ${MAX_EVENT_BYTES} bytes`, `${prefix}payload`);
  }
  const scope = catalog.scopeOf(eventName, input.payload);
  if (!mayPublish(principal, scope)) {
    throw new HeraldError('forbidden', 'this token publishes only events of its own tenant', `${prefix}payload`);
  }
  return { id: newId('evt'), eventName, body, tenantId: scope.tenantId, projectId: scope.projectId };
}

function idempotencyOf(
  header: string | string[] | undefined,
  tokenId: string,
  body: PublishBody,
): { key: string; fingerprint: string } | undefined {
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header[0] : header;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidField('Idempotency-Key', `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return {
    // Keys are per token, so two producers cannot collide on, or probe, each other's keys.
    key: `${tokenId}:${key}`,
    fingerprint: createHash('sha256').update(JSON.stringify(body)).digest('hex'),
  };
}
