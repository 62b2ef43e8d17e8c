import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HeraldError, invalidField, notFound } from '../../core/errors.js';
import { generateSecret, newId } from '../../core/ids.js';
import { assertReaches, narrowToReach, scopeForNewWebhook } from '../../core/access.js';
import { webhookInReach } from '../access-guard.js';
import { NetworkAllowList } from '../../http/index.js';
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
import { normalisedCA, secretChange, settingsFromCreate, settingsFromPatch } from '../webhook-input.js';
import { assertScopeHasRoom } from '../scope-limit.js';

const DEFAULT_PAGE_SIZE = 100;
const MANAGE = { access: 'manage-webhooks' } as const;
const MAX_PAGE_SIZE = 1000;

export const webhookRoutes = (context: ApiContext): FastifyPluginAsyncTypebox => async (app) => {
  const { store, catalog, config, clock } = context;
  const rules = {
    catalog,
    allowPrivateNetworks: config.allowPrivateNetworks,
    allowedNetworks: new NetworkAllowList(config.allowedNetworks),
  };

  app.post(
    '/webhooks',
    { config: MANAGE, schema: { body: WebhookCreateBody, response: { 201: WebhookCreatedView, '4xx': ErrorBody } } },
    async (request, reply) => {
      await learnEventNames(context, [...(request.body.events ?? []), request.body.eventName]);
      const requested = settingsFromCreate(request.body, rules);
      // Scope left out: the token's own reach (a company admin need not repeat its tenant).
      const settings = {
        ...requested,
        ...scopeForNewWebhook(request.principal, {
          tenantId: requested.tenantId ?? undefined,
          projectId: requested.projectId ?? undefined,
        }),
      };
      await assertScopeHasRoom(store, settings, config.maxWebhooksPerScope);
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
    { config: MANAGE, schema: { querystring: WebhookListQuery, response: { 200: WebhookList, '4xx': ErrorBody } } },
    async (request) => {
      const { limit: limitText, ...asked } = request.query;
      await learnEventNames(context, [asked.event]);
      const limit = Number(limitText ?? DEFAULT_PAGE_SIZE);
      // Clamping would hand back a page of a size nobody asked for; say what the range is.
      if (limit < 1 || limit > MAX_PAGE_SIZE) throw invalidField('limit', `must be from 1 to ${MAX_PAGE_SIZE}`);
      const eventName = asked.event === undefined ? undefined : catalog.resolve(asked.event);
      if (eventName === null) {
        throw new HeraldError('unknown_event_type', `"${asked.event}" is not in the event catalog`, 'event');
      }
      const filters = narrowToReach(request.principal, asked);
      if (filters === null) return { data: [], nextCursor: null };
      const page = await store.listWebhooks({ ...filters, event: eventName, limit });
      return {
        data: page.map(webhookView),
        nextCursor: page.length === limit ? page[page.length - 1].id : null,
      };
    },
  );

  app.get(
    '/webhooks/:id',
    { config: MANAGE, schema: { params: IdParams, response: { 200: WebhookView, '4xx': ErrorBody } } },
    async (request) => webhookView(await webhookInReach(store, request, request.params.id)),
  );

  app.patch(
    '/webhooks/:id',
    { config: MANAGE, schema: { params: IdParams, body: WebhookPatchBody, response: { 200: WebhookView, '4xx': ErrorBody } } },
    async (request) => {
      const current = await webhookInReach(store, request, request.params.id);
      await learnEventNames(context, request.body.events ?? []);
      const settings = settingsFromPatch(current, request.body, rules);
      assertReaches(request.principal, settings);
      await assertScopeHasRoom(store, settings, config.maxWebhooksPerScope, current);
      const { secret: _secret, ...rest } = settings;
      const updated = await store.updateWebhook(
        current.id,
        { ...rest, base64CA: normalisedCA(rest.base64CA), ...secretChange(request.body) },
        clock(),
      );
      if (!updated) throw notFound('webhook');
      return webhookView(updated);
    },
  );

  app.delete(
    '/webhooks/:id',
    { config: MANAGE, schema: { params: IdParams, response: { 204: Type.Null(), '4xx': ErrorBody } } },
    async (request, reply) => {
      await webhookInReach(store, request, request.params.id);
      if (!(await store.deleteWebhook(request.params.id))) throw notFound('webhook');
      return reply.code(204).send(null);
    },
  );
};
