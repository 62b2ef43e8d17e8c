import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HeraldError, invalidField, notFound } from '../../core/errors.js';
import { generateSecret, newId } from '../../core/ids.js';
import { learnEventNames } from '../catalog-sync.js';
import type { ApiContext } from '../context.js';
import {
  ErrorBody,
  IdParams,
  WebhookCreateBody,
  WebhookCreatedView,
  WebhookList,
  WebhookListQuery,
  WebhookPatchBody,
  WebhookView,
} from '../schemas.js';
import { webhookView } from '../views.js';
import { normalisedCA, settingsFromCreate, settingsFromPatch } from '../webhook-input.js';

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

export const webhookRoutes = (context: ApiContext): FastifyPluginAsyncTypebox => async (app) => {
  const { store, catalog, config, clock } = context;
  const rules = { catalog, allowPrivateNetworks: config.allowPrivateNetworks };

  app.post(
    '/webhooks',
    { schema: { body: WebhookCreateBody, response: { 201: WebhookCreatedView, '4xx': ErrorBody } } },
    async (request, reply) => {
      await learnEventNames(context, [...(request.body.events ?? []), request.body.eventName]);
      const settings = settingsFromCreate(request.body, rules);
      const generated = settings.secret === undefined ? generateSecret() : undefined;
      const now = clock();
      const webhook = {
        ...settings,
        id: newId('wh'),
        secret: settings.secret ?? (generated as string),
        base64CA: normalisedCA(settings.base64CA),
        createdAt: now,
        updatedAt: now,
      };
      await store.insertWebhook(webhook);
      const stored = await store.getWebhook(webhook.id);
      reply.code(201);
      // A generated secret is shown this once; a secret the caller chose is never echoed.
      return { ...webhookView(stored!), ...(generated ? { secret: generated } : {}) };
    },
  );

  app.get(
    '/webhooks',
    { schema: { querystring: WebhookListQuery, response: { 200: WebhookList, '4xx': ErrorBody } } },
    async (request) => {
      const { limit: limitText, ...filters } = request.query;
      await learnEventNames(context, [filters.event]);
      const limit = Number(limitText ?? DEFAULT_PAGE_SIZE);
      // Clamping would hand back a page of a size nobody asked for; say what the range is.
      if (limit < 1 || limit > MAX_PAGE_SIZE) throw invalidField('limit', `must be from 1 to ${MAX_PAGE_SIZE}`);
      const eventName = filters.event === undefined ? undefined : catalog.resolve(filters.event);
      if (eventName === null) {
        throw new HeraldError('unknown_event_type', `"${filters.event}" is not in the event catalog`, 'event');
      }
      const page = await store.listWebhooks({ ...filters, event: eventName, limit });
      return {
        data: page.map(webhookView),
        nextCursor: page.length === limit ? page[page.length - 1].id : null,
      };
    },
  );

  app.get(
    '/webhooks/:id',
    { schema: { params: IdParams, response: { 200: WebhookView, '4xx': ErrorBody } } },
    async (request) => {
      const webhook = await store.getWebhook(request.params.id);
      if (!webhook) throw notFound('webhook');
      return webhookView(webhook);
    },
  );

  app.patch(
    '/webhooks/:id',
    { schema: { params: IdParams, body: WebhookPatchBody, response: { 200: WebhookView, '4xx': ErrorBody } } },
    async (request) => {
      const current = await store.getWebhook(request.params.id);
      if (!current) throw notFound('webhook');
      await learnEventNames(context, request.body.events ?? []);
      const settings = settingsFromPatch(current, request.body, rules);
      const { secret, ...rest } = settings;
      const updated = await store.updateWebhook(
        current.id,
        { ...rest, base64CA: normalisedCA(rest.base64CA), ...(secret === undefined ? {} : { secret }) },
        clock(),
      );
      if (!updated) throw notFound('webhook');
      return webhookView(updated);
    },
  );

  app.delete(
    '/webhooks/:id',
    { schema: { params: IdParams, response: { 204: Type.Null(), '4xx': ErrorBody } } },
    async (request, reply) => {
      if (!(await store.deleteWebhook(request.params.id))) throw notFound('webhook');
      return reply.code(204).send(null);
    },
  );
};
