/** Numbers both stores share. */

/**
 * Pruning waits until a webhook holds this many finished deliveries beyond the history limit,
 * then deletes them in one statement. Finding where to cut reads the newest HISTORY_LIMIT rows
 * of the webhook, so the margin sets how many deletions share that read: at 50 pruning cost a
 * quarter of an outcome write; at the limit itself, one row read per deletion. The API lists
 * only the newest HISTORY_LIMIT, so the rows waiting to be pruned are not in any list.
 */
export const HISTORY_PRUNE_MARGIN = 200;
