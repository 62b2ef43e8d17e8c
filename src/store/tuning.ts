/** Numbers both stores share. */

/**
 * Pruning waits until a webhook holds this many finished deliveries beyond the history limit,
 * then deletes them in one statement: the oldest finished ones, as many as its history count
 * passes the limit. That count is kept with every outcome and deletion (by the one writer on
 * SQLite, under the webhook's row lock on PostgreSQL), so the statement reads the webhook's
 * deliveries from the old end only. Looking for the cut from the new end instead read past the
 * whole pending backlog first: with 20,000 deliveries due per webhook, an outcome write cost
 * 57 µs instead of 21. The margin sets how many deletions share one statement. The API lists
 * only the newest HISTORY_LIMIT, so the rows waiting to be pruned are not in any list.
 */
export const HISTORY_PRUNE_MARGIN = 200;
