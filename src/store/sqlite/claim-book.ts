import type { Row } from '../rows.js';

interface Claim {
  seq: number;
  workerId: string;
  leaseUntil: number;
}

/**
 * The SQLite store's claims, held in its memory instead of in the delivery rows. One process
 * uses the file (the folder's lock), and its start ends every claim of the run before (see
 * SqliteStore.releaseAllClaims), so a claim written to the file protects nothing a restart
 * would not undo: claiming becomes a read, with no row rewritten, no index entry moved and
 * nothing to commit. A claim still lapses at its lease's end, and another worker may then take
 * the delivery; the first worker's outcome is then dropped, as before.
 *
 * The queries leave claimed rows out by their seq (the due index holds it), from the JSON
 * arrays this book gives them.
 */
export class ClaimBook {
  private readonly claims = new Map<string, Claim>();

  /** Records the claim of rows read as claimable (each with its `seq` and `id`). */
  take(rows: readonly Row[], workerId: string, leaseUntil: number): void {
    for (const row of rows) this.claims.set(row.id as string, { seq: row.seq as number, workerId, leaseUntil });
  }

  /** Whether `workerId` holds the delivery's claim (lapsed or not, as long as nobody took it over). */
  holds(deliveryId: string, workerId: string): boolean {
    return this.claims.get(deliveryId)?.workerId === workerId;
  }

  /** Ends these claims: call once the write that settled them is committed. */
  drop(deliveryIds: Iterable<string>): void {
    for (const id of deliveryIds) this.claims.delete(id);
  }

  /** The seqs of the claims that have not lapsed at `now`, and of `chosen` rows about to be
   * claimed, as a JSON array. */
  liveAt(now: number, chosen: readonly Row[] = []): string {
    const seqs = chosen.map((row) => row.seq as number);
    for (const claim of this.claims.values()) if (claim.leaseUntil > now) seqs.push(claim.seq);
    return JSON.stringify(seqs);
  }

  /** The seqs of every claim, lapsed or not, as a JSON array. */
  all(): string {
    const seqs: number[] = [];
    for (const claim of this.claims.values()) seqs.push(claim.seq);
    return JSON.stringify(seqs);
  }
}
