import { randomBytes } from 'node:crypto';

/**
 * Identifiers are `prefix_` + 10 base-36 digits of milliseconds + 16 hex random digits:
 * readable in logs, unguessable, and sorting them as strings sorts them by creation time.
 */
export function newId(prefix: 'wh' | 'evt' | 'dlv' | 'tok' | 'att'): string {
  const time = Date.now().toString(36).padStart(10, '0');
  return `${prefix}_${time}${randomBytes(8).toString('hex')}`;
}

/** A webhook secret Herald generates when the caller gives none: 32 random bytes. */
export function generateSecret(): string {
  return `hsec_${randomBytes(32).toString('base64url')}`;
}

/** An API token: 32 random bytes, prefixed so secret scanners and people recognise it. */
export function generateToken(): string {
  return `hrld_${randomBytes(32).toString('base64url')}`;
}
