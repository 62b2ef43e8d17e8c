import type { EventTypeDefinition } from '../core/catalog.js';
import type { WebhookWithSecret } from '../core/types.js';
import type { Store, TokenRecord } from './types.js';

/**
 * What `herald export` writes and `herald import` reads: the configuration of an installation
 * (webhooks with their secrets, custom event types, token hashes), not its delivery history.
 * It is how an installation moves from the embedded store to PostgreSQL.
 */
export interface Snapshot {
  format: 'herald-export';
  version: 1;
  exportedAt: string;
  webhooks: WebhookWithSecret[];
  eventTypes: EventTypeDefinition[];
  tokens: Array<TokenRecord & { tokenHash: string }>;
}

export interface ImportCounts {
  webhooks: number;
  eventTypes: number;
  tokens: number;
}

export function newSnapshot(parts: Pick<Snapshot, 'webhooks' | 'eventTypes' | 'tokens'>): Snapshot {
  return { format: 'herald-export', version: 1, exportedAt: new Date().toISOString(), ...parts };
}

/** Checks the envelope of a parsed export file; throws with the reason when it is not one. */
export function parseSnapshot(value: unknown): Snapshot {
  const snapshot = value as Partial<Snapshot> | null;
  if (snapshot?.format !== 'herald-export') throw new Error('"format" is not "herald-export"');
  if (snapshot.version !== 1) throw new Error(`version ${String(snapshot.version)} is not supported`);
  for (const list of ['webhooks', 'eventTypes', 'tokens'] as const) {
    if (!Array.isArray(snapshot[list])) throw new Error(`"${list}" is not a list`);
  }
  return snapshot as Snapshot;
}

/** Adds what the snapshot holds; a webhook, event type or token that exists already is kept. */
export async function importSnapshot(store: Store, snapshot: Snapshot, now: number): Promise<ImportCounts> {
  const added: ImportCounts = { webhooks: 0, eventTypes: 0, tokens: 0 };
  for (const definition of snapshot.eventTypes) {
    if (await store.insertEventType(definition, now)) added.eventTypes++;
  }
  for (const webhook of snapshot.webhooks) {
    if (await store.getWebhook(webhook.id)) continue;
    await store.insertWebhook(webhook);
    added.webhooks++;
  }
  for (const token of snapshot.tokens) {
    if (await store.findTokenByHash(token.tokenHash)) continue;
    await store.insertToken(token);
    added.tokens++;
  }
  return added;
}
