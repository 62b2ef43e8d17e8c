import { ConfigError } from '../config.js';
import type { SecretBox } from '../core/secret-box.js';
import type { WebhookMethod } from '../core/types.js';
import type { ClaimedDelivery, WebhookPatch } from './types.js';
import type { Row } from './rows.js';

/**
 * What both stores do with `webhooks.secret` and `webhooks.previous_secret`: they hold
 * SecretBox text, and only claims and exports see the plain secret.
 */

/** The settings row whose value proves which key encrypted this database's secrets. */
export const KEY_CHECK_SETTING = 'secrets_key_check';
const KEY_CHECK_PLAIN = 'herald-secrets-key-check';

export function newKeyCheck(secrets: SecretBox): string {
  return secrets.encrypt(KEY_CHECK_PLAIN);
}

/**
 * Checked at every start, so a wrong key stops Herald at once with this message instead of
 * every delivery failing later (or, worse, new secrets being written under a second key).
 */
export function assertKeyMatches(secrets: SecretBox, keyCheck: string): void {
  try {
    if (secrets.decrypt(keyCheck) === KEY_CHECK_PLAIN) return;
  } catch {
    // Reported below, without the details of why.
  }
  throw new ConfigError(
    `the webhook secrets in this database were encrypted with another key than ${secrets.source}; ` +
      'start Herald with the key it used before (HERALD_ENCRYPTION_KEY, or the encryption.key file of its data folder)',
  );
}

export interface SecretColumns {
  id: string;
  secret: string;
  previousSecret: string | null;
}

/** Rows written before secrets were encrypted, with their secrets encrypted; the rest are left out. */
export function encryptPlainRows(rows: Row[], secrets: SecretBox): SecretColumns[] {
  return rows
    .filter((row) => !secrets.isEncrypted(row.secret as string) || isPlain(secrets, row.previous_secret))
    .map((row) => ({
      id: row.id as string,
      secret: secrets.encryptIfPlain(row.secret as string),
      previousSecret: row.previous_secret === null ? null : secrets.encryptIfPlain(row.previous_secret as string),
    }));
}

function isPlain(secrets: SecretBox, value: unknown): boolean {
  return typeof value === 'string' && !secrets.isEncrypted(value);
}

/**
 * The claimed rows as the dispatcher takes them, each with its event's body and its webhook's
 * target, both read once per claim batch. A row whose webhook was deleted since the claim, or
 * whose secrets cannot be decrypted (see claimSecrets), is left out.
 */
export function hydrateClaims(secrets: SecretBox, claimed: Row[], targets: Row[], bodies: Row[]): ClaimedDelivery[] {
  const targetById = new Map(targets.map((row) => [row.id as string, toClaimTarget(secrets, row)]));
  const bodyById = new Map(bodies.map((row) => [row.id as string, row.body as string]));
  const deliveries: ClaimedDelivery[] = [];
  for (const row of claimed) {
    const webhook = targetById.get(row.webhook_id as string);
    const body = bodyById.get(row.event_id as string);
    if (!webhook || body === undefined) continue;
    deliveries.push({
      id: row.id as string,
      eventId: row.event_id as string,
      eventName: row.event_name as string,
      attemptsMade: row.attempts as number,
      body,
      webhook,
    });
  }
  return deliveries;
}

/**
 * Written out field by field: the secrets' object spread into a literal that then adds seven
 * more properties took V8 about 8 µs per target on Node 20 (against 0.1 µs written out), more
 * than decrypting the secrets; a fan-out makes one target per delivery.
 */
function toClaimTarget(secrets: SecretBox, row: Row): ClaimedDelivery['webhook'] | null {
  const plain = claimSecrets(secrets, row);
  if (!plain) return null;
  return {
    secret: plain.secret,
    previousSecret: plain.previousSecret,
    id: row.id as string,
    url: row.url as string,
    method: row.method as WebhookMethod,
    contentType: row.content_type as string,
    maxAttempts: row.max_attempts as number,
    base64CA: row.base64_ca as string | null,
    proxyUrl: row.proxy_url as string | null,
  };
}

/**
 * The secrets of a claim's webhook row (`previous_secret` already null once its grace ended).
 * Null when they cannot be decrypted (a damaged row): the delivery is not sent, and its claim
 * lapses so it is tried again later rather than signed with garbage.
 */
function claimSecrets(
  secrets: SecretBox,
  row: Row,
): Pick<ClaimedDelivery['webhook'], 'secret' | 'previousSecret'> | null {
  try {
    return {
      secret: secrets.decrypt(row.secret as string),
      previousSecret: row.previous_secret === null ? null : secrets.decrypt(row.previous_secret as string),
    };
  } catch {
    return null;
  }
}

/**
 * The SQL assignments of a patch's new secret (none without one). With a grace period the
 * current secret becomes the previous one until `now` + grace (a column on the right of SET is
 * the old value, in SQLite and PostgreSQL alike); without, any previous secret stops at once.
 */
export function secretAssignments(
  secrets: SecretBox,
  patch: WebhookPatch,
  now: number,
  bind: (value: unknown) => string,
): string[] {
  if (patch.secret === undefined) return [];
  const secret = `secret = ${bind(secrets.encrypt(patch.secret))}`;
  if (patch.keepPreviousSecretForMs === undefined) {
    return [secret, 'previous_secret = NULL', 'previous_secret_expires_at = NULL'];
  }
  return ['previous_secret = secret', `previous_secret_expires_at = ${bind(now + patch.keepPreviousSecretForMs)}`, secret];
}
