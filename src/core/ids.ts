import { randomBytes, randomFillSync } from 'node:crypto';

/**
 * Identifiers are `prefix_` + 10 base-36 digits of milliseconds + 4 of a sequence within that
 * millisecond + 12 hex random digits: readable in logs, unguessable, and within one process
 * sorting them as strings sorts them by creation (lists page by id).
 */
let lastMs = 0;
let sequence = 0;

type IdKind = 'wh' | 'evt' | 'dlv' | 'tok' | 'att';

export function newId(prefix: IdKind): string {
  return `${newIdStem(prefix)}${randomHex(6)}`;
}

/**
 * The first part of an id (`prefix_` and the time and sequence digits), unique in this
 * process: for ids made elsewhere (a database statement making as many as it needs) that
 * complete it with 12 characters of their own.
 */
export function newIdStem(prefix: IdKind): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else {
    sequence++;
  }
  const time = lastMs.toString(36).padStart(10, '0') + sequence.toString(36).padStart(4, '0');
  return `${prefix}_${time}`;
}

/** Random bytes drawn from a pool refilled 4 KiB at a time: one system call per ~680 ids
 * instead of one per id, which shows when a batch publish creates thousands. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

/** A webhook secret Herald generates when the caller gives none: 32 random bytes. */
export function generateSecret(): string {
  return `hsec_${randomBytes(32).toString('base64url')}`;
}

/** An API token: 32 random bytes, prefixed so secret scanners and people recognise it. */
export function generateToken(): string {
  return `hrld_${randomBytes(32).toString('base64url')}`;
}
