import type { ApiContext } from './context.js';

/**
 * With several Herald processes on one database, an event type added through one process must
 * be known to the others: when a request names a type this process does not know, the custom
 * types are read again from the store before the name is judged unknown.
 */
export async function learnEventNames(context: ApiContext, names: Iterable<string | undefined>): Promise<void> {
  const { catalog } = context;
  const unknown = [...names].some((name) => name !== undefined && !catalog.has(name));
  if (unknown) await reloadCustomEventTypes(context);
}

export async function reloadCustomEventTypes({ catalog, store, logger }: ApiContext): Promise<void> {
  for (const definition of await store.listCustomEventTypes()) {
    if (catalog.has(definition.name)) continue;
    try {
      catalog.add(definition);
    } catch (error) {
      logger.error({ err: error, eventType: definition.name }, 'a stored event type does not compile');
    }
  }
}
