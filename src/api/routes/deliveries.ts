import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { notFound } from '../../core/errors.js';
import { webhookInReach } from '../access-guard.js';
import type { ApiContext } from '../context.js';
import { DeliveryDetailView, DeliveryListQuery, DeliveryParams, DeliverySummaryView, ErrorBody, IdParams } from '../schemas.js';
import { deliveryDetailView, deliverySummaryView } from '../views.js';

export const deliveryRoutes = (context: ApiContext): FastifyPluginAsyncTypebox => async (app) => {
  const { store, catalog } = context;

  app.get(
    '/webhooks/:id/deliveries',
    {
      config: { access: 'manage-webhooks' },
      schema: {
        params: IdParams,
        querystring: DeliveryListQuery,
        response: { 200: Type.Object({ data: Type.Array(DeliverySummaryView) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      await webhookInReach(store, request, request.params.id);
      const { sort, eventName, status, statusCode } = request.query;
      const deliveries = await store.listDeliveries(request.params.id, {
        sort: sort ?? 'newest',
        eventName: eventName === undefined ? undefined : (catalog.resolve(eventName) ?? eventName),
        status,
        statusCode: statusCode === undefined ? undefined : Number(statusCode),
      });
      return { data: deliveries.map(deliverySummaryView) };
    },
  );

  app.get(
    '/webhooks/:id/deliveries/:deliveryId',
    {
      config: { access: 'manage-webhooks' },
      schema: { params: DeliveryParams, response: { 200: DeliveryDetailView, '4xx': ErrorBody } },
    },
    async (request) => {
      await webhookInReach(store, request, request.params.id);
      const delivery = await store.getDelivery(request.params.id, request.params.deliveryId);
      if (!delivery) throw notFound('delivery');
      return deliveryDetailView(delivery);
    },
  );
};
