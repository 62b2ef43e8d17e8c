import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { MeView, NoQuery } from '../schemas.js';

/**
 * Who the caller's token is: the web console asks once after sign-in to learn the token's reach
 * (and so which scopes it may offer). Every role may ask; the answer holds nothing secret.
 */
export const meRoutes = (): FastifyPluginAsyncTypebox => async (app) => {
  app.get(
    '/me',
    { config: { access: 'read-catalog' }, schema: { querystring: NoQuery, response: { 200: MeView } } },
    async (request) => {
      const { role, tenantId, projectId, tokenId } = request.principal;
      return { role, tenantId, projectId, tokenId };
    },
  );
};
