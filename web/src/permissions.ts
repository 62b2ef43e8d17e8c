import type { Me, Role } from './api';
import { useSignedIn } from './session';

/**
 * What the signed-in token may do, as the console learns it from `/api/me`. It mirrors the
 * roles Herald enforces (a route a role may not use answers 403): the console hides what would
 * be refused instead of offering a button that can only fail. Reach is not repeated here: the
 * API only lists and opens webhooks within the token's reach.
 */
export interface Permissions {
  /** Add, edit, delete, enable webhooks. */
  manageWebhooks: boolean;
  /** Send test events, resend one delivery or every failed one since a time. */
  operateDeliveries: boolean;
}

/** The roles whose tokens manage webhooks, and with them operate their deliveries. */
const MANAGING_ROLES: readonly Role[] = ['admin', 'company', 'project'];

export function permissionsOf(me: Me): Permissions {
  const manages = MANAGING_ROLES.includes(me.role);
  return { manageWebhooks: manages, operateDeliveries: manages };
}

export function usePermissions(): Permissions {
  return permissionsOf(useSignedIn().me);
}
