import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { checkTokenReach, mayIssueToken, reaches, type Principal } from '../../core/access.js';
import { HeraldError, invalidField, notFound } from '../../core/errors.js';
import type { TokenRecord } from '../../store/index.js';
import type { TokenAuthority } from '../auth.js';
import type { ApiContext } from '../context.js';
import { ErrorBody, IdParams, NoQuery, TokenBody, TokenCreatedView, TokenView } from '../schemas.js';

const MANAGE_TOKENS = { access: 'manage-tokens' } as const;

export const tokenRoutes = (context: ApiContext, tokens: TokenAuthority): FastifyPluginAsyncTypebox => async (app) => {
  const { store, clock } = context;

  app.post(
    '/tokens',
    { config: MANAGE_TOKENS, schema: { body: TokenBody, response: { 201: TokenCreatedView, '4xx': ErrorBody } } },
    async (request, reply) => {
      const body = request.body;
      const spec = {
        role: body.role,
        tenantId: body.tenantId ?? null,
        projectId: body.projectId ?? null,
        name: body.name ?? null,
        expiresAt: body.expiresAt === undefined ? null : futureTime(body.expiresAt, clock()),
      };
      checkTokenReach(spec);
      if (!mayIssueToken(request.principal, spec)) {
        throw new HeraldError('forbidden', 'your token may not issue this token', spec.role === 'admin' ? 'role' : 'tenantId');
      }
      const { token, record } = await tokens.issue(spec);
      reply.code(201);
      // The token's only appearance: it is stored as a hash.
      return { ...tokenView(record, clock()), token };
    },
  );

  app.get(
    '/tokens',
    { config: MANAGE_TOKENS, schema: { querystring: NoQuery, response: { 200: Type.Object({ data: Type.Array(TokenView) }), '4xx': ErrorBody } } },
    async (request) => {
      const { principal } = request;
      const records = await store.listTokens(principal.role === 'admin' ? {} : { tenantId: principal.tenantId as string });
      return { data: records.map((record) => tokenView(record, clock())) };
    },
  );

  app.delete(
    '/tokens/:id',
    { config: MANAGE_TOKENS, schema: { params: IdParams, response: { 204: Type.Null(), '4xx': ErrorBody } } },
    async (request, reply) => {
      const record = await store.getToken(request.params.id);
      if (!record || !tokenInReach(request.principal, record)) throw notFound('token');
      await store.revokeToken(record.id, clock());
      return reply.code(204).send(null);
    },
  );
};

/** A company admin sees and revokes the tokens of its company, never an admin token. */
function tokenInReach(principal: Principal, record: TokenRecord): boolean {
  if (principal.role === 'admin') return true;
  return record.role !== 'admin' && record.tenantId !== null && reaches(principal, { tenantId: record.tenantId, projectId: null });
}

function futureTime(text: string, now: number): number {
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw invalidField('expiresAt', 'must be an ISO 8601 date and time');
  if (time <= now) throw invalidField('expiresAt', 'must be in the future');
  return time;
}

function tokenView(record: TokenRecord, now: number) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    tenantId: record.tenantId,
    projectId: record.projectId,
    createdAt: new Date(record.createdAt).toISOString(),
    expiresAt: iso(record.expiresAt),
    revokedAt: iso(record.revokedAt),
    active: record.revokedAt === null && (record.expiresAt === null || record.expiresAt > now),
  };
}
