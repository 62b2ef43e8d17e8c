/**
 * What the dispatcher reports about each attempt, for whoever keeps the numbers (the API's
 * Prometheus registry, a test double, or nothing). Only outcomes and numbers: never a URL, a
 * header or a secret.
 */
export interface DeliveryMetrics {
  attemptFinished(attempt: FinishedAttempt): void;
}

export interface FinishedAttempt {
  /** What follows the attempt: done, another try later, or no more tries. */
  outcome: 'delivered' | 'retry' | 'gave_up';
  /** The receiver's status code; null when no answer came (connection error, timeout, refused). */
  statusCode: number | null;
  durationMs: number;
}
