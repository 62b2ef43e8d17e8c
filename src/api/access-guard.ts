import type { FastifyRequest } from 'fastify';
import { reaches, roleMayCall, type RouteAccess } from '../core/access.js';
import { HeraldError, notFound } from '../core/errors.js';
import type { Store, StoredWebhook } from '../store/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route does; every /api route declares it (a test holds them to it). */
    access?: RouteAccess;
  }
}

/** Refuses a role the route is not for at all (403: the route's existence is no secret). */
export function assertRouteAccess(request: FastifyRequest): void {
  const access = request.routeOptions.config?.access;
  if (access === undefined) return; // no route matched: the 404 handler answers
  if (!roleMayCall(request.principal.role, access)) {
    throw new HeraldError('forbidden', `a ${request.principal.role} token may not do this`);
  }
}

/** A webhook outside the caller's reach answers exactly like one that does not exist. */
export async function webhookInReach(store: Store, request: FastifyRequest, id: string): Promise<StoredWebhook> {
  const webhook = await store.getWebhook(id);
  if (!webhook || !reaches(request.principal, webhook)) throw notFound('webhook');
  return webhook;
}
