import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError, invalidField, notFound } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { EventEnvelope } from '../../core/types.js';
import { webhookInReach } from '../access-guard.js';
import { learnEventNames } from '../catalog-sync.js';
import type { ApiContext } from '../context.js';
import {
  DeliveryParams,
  ErrorBody,
  IdParams,
  QueuedDeliveriesReply,
  QueuedDeliveryReply,
  ResendFailedBody,
  TestEventBody,
} from '../schemas.js';

const MANAGE = { access: 'manage-webhooks' } as const;

/**
 * What an operator does to one webhook's deliveries: send it a test event, queue a delivery
 * again, or queue again everything it gave up on since a time. Each queues new deliveries of
 * that webhook alone, recorded in its history like any other; none reaches another webhook.
 * A webhook that is inactive keeps what is queued for it until it is active again.
 */
export const operationRoutes = (context: ApiContext): FastifyPluginAsyncTypebox => async (app) => {
  const { store, catalog, config, clock } = context;

  app.post(
    '/webhooks/:id/test',
    {
      config: MANAGE,
      schema: { params: IdParams, body: TestEventBody, response: { 202: QueuedDeliveryReply, '4xx': ErrorBody } },
    },
    async (request, reply) => {
      const webhook = await webhookInReach(store, request, request.params.id);
      const asked = request.body?.eventName;
      await learnEventNames(context, [asked]);
      let eventName = webhook.events[0];
      if (asked !== undefined) {
        const resolved = catalog.resolve(asked);
        if (resolved === null) throw new HeraldError('unknown_event_type', `"${asked}" is not in the event catalog`, 'eventName');
        if (!webhook.events.includes(resolved)) throw invalidField('eventName', `the webhook is not subscribed to ${resolved}`);
        eventName = resolved;
      }
      const now = clock();
      // A test event is marked as one, and carries the webhook's own scope ids; the payload is
      // not checked against the event type's schema, since it is not a real event.
      const payload: Record<string, unknown> = { test: true };
      if (webhook.tenantId !== null) payload.tenantId = webhook.tenantId;
      if (webhook.projectId !== null) payload.projectId = webhook.projectId;
      const envelope: EventEnvelope = {
        eventName,
        eventTimestamp: config.eventTimestampUnit === 's' ? Math.floor(now / 1000) : now,
        payload,
      };
      const deliveryId = await store.enqueueDirectDelivery({
        webhookId: webhook.id,
        now,
        event: {
          id: newId('evt'),
          eventName,
          body: JSON.stringify(envelope),
          tenantId: webhook.tenantId,
          projectId: webhook.projectId,
        },
      });
      if (deliveryId === null) throw notFound('webhook');
      reply.code(202);
      return { deliveryId };
    },
  );

  app.post(
    '/webhooks/:id/deliveries/:deliveryId/resend',
    {
      config: MANAGE,
      schema: { params: DeliveryParams, response: { 202: QueuedDeliveryReply, '4xx': ErrorBody } },
    },
    async (request, reply) => {
      await webhookInReach(store, request, request.params.id);
      const [deliveryId] = await store.resendDeliveries({
        webhookId: request.params.id,
        deliveryId: request.params.deliveryId,
        now: clock(),
      });
      if (deliveryId === undefined) throw notFound('delivery');
      reply.code(202);
      return { deliveryId };
    },
  );

  app.post(
    '/webhooks/:id/resend-failed',
    {
      config: MANAGE,
      schema: { params: IdParams, body: ResendFailedBody, response: { 202: QueuedDeliveriesReply, '4xx': ErrorBody } },
    },
    async (request, reply) => {
      await webhookInReach(store, request, request.params.id);
      const since = Date.parse(request.body.since);
      if (Number.isNaN(since)) throw invalidField('since', 'must be an ISO 8601 date and time');
      const queued = await store.resendDeliveries({ webhookId: request.params.id, failedSince: since, now: clock() });
      reply.code(202);
      return { deliveries: queued.length };
    },
  );
};
