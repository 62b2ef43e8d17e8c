/** Numbers both stores share. */

/** Pruning waits until a webhook holds this many deliveries beyond the history limit: it runs
 * once per that many new deliveries instead of on every insert. */
export const HISTORY_PRUNE_MARGIN = 50;
