import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HeraldError, invalidField } from '../../core/errors.js';
import { customEventType, schemaProblem } from '../../core/event-catalog.js';
import { reloadCustomEventTypes } from '../catalog-sync.js';
import type { ApiContext } from '../context.js';
import { ErrorBody, EventTypeBody, EventTypeView, NoQuery } from '../schemas.js';

export const eventTypeRoutes = (context: ApiContext): FastifyPluginAsyncTypebox => async (app) => {
  const { store, catalog, clock } = context;

  app.get('/event-types', { config: { access: 'read-catalog' }, schema: { querystring: NoQuery, response: { 200: Type.Object({ data: Type.Array(EventTypeView) }) } } }, async () => {
    await reloadCustomEventTypes(context);
    return { data: catalog.list() };
  });

  app.post(
    '/event-types',
    { config: { access: 'edit-catalog' }, schema: { body: EventTypeBody, response: { 201: EventTypeView, '4xx': ErrorBody } } },
    async (request, reply) => {
      const definition = customEventType(request.body);
      if (catalog.has(definition.name)) {
        throw new HeraldError('conflict', `event type "${definition.name}" exists already`, 'name');
      }
      const problem = schemaProblem(definition.schema);
      if (problem) throw invalidField('schema', `is not a valid JSON Schema: ${problem}`);
      if (!(await store.insertEventType(definition, clock()))) {
        throw new HeraldError('conflict', `event type "${definition.name}" exists already`, 'name');
      }
      catalog.add(definition);
      reply.code(201);
      return definition;
    },
  );
};
