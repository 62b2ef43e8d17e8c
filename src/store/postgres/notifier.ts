import pg from 'pg';

/** How long to wait before listening again after the listening connection broke. */
const RECONNECT_DELAY_MS = 1_000;

/**
 * Wakes dispatchers in every Herald process when deliveries are queued, and carries the
 * hand-off messages between them (offers and batches, as JSON payloads; a wake-up is empty).
 * One dedicated connection per process LISTENs, and also sends the NOTIFY once the queuing
 * transaction has committed: PostgreSQL serialises the commits of transactions that NOTIFY, so
 * notifying from inside each publish would cost every publish a disk flush of its own instead
 * of sharing one. Announcements made while a NOTIFY is on its way share the next one. While that
 * connection is down, other processes fall back to their idle poll; this one wakes at once.
 */
export class WorkNotifier {
  private client: pg.Client | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly messageListeners = new Set<(payload: string) => void>();
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private sending = false;
  private announcedMeanwhile = false;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    let ownPid: number | null = null;
    // Its own NOTIFY comes back to this connection too: the announcement woke everyone here already.
    client.on('notification', (message) => {
      if (message.payload) this.hear(message.payload);
      else if (message.processId !== ownPid) this.wakeAll();
    });
    client.on('error', () => this.scheduleReconnect());
    client.on('end', () => this.scheduleReconnect());
    await client.connect();
    ownPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await client.query(`LISTEN "${this.channel}"`);
    this.client = client;
  }

  /** Called after a commit that queued deliveries. */
  announce(): void {
    this.wakeAll();
    if (this.sending) {
      this.announcedMeanwhile = true;
      return;
    }
    const client = this.client;
    if (!client) return;
    this.sending = true;
    client
      .query('SELECT pg_notify($1, $2)', [this.channel, ''])
      .catch(() => undefined) // the connection's own error handler reconnects
      .finally(() => {
        this.sending = false;
        if (!this.announcedMeanwhile) return;
        this.announcedMeanwhile = false;
        this.announce();
      });
  }

  /**
   * Sends a message to every listening process, this one included: not coalesced like
   * announcements, and lost while the connection is down (a hand-off's claims then lapse).
   */
  send(payload: string): void {
    this.client?.query('SELECT pg_notify($1, $2)', [this.channel, payload]).catch(() => undefined);
  }

  subscribeMessages(listener: (payload: string) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private hear(payload: string): void {
    for (const listener of this.messageListeners) listener(payload);
  }

  private wakeAll(): void {
    for (const listener of this.listeners) listener();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.client = null;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.start().then(
        // Work may have been queued while nobody listened.
        () => this.wakeAll(),
        () => this.scheduleReconnect(),
      );
    }, RECONNECT_DELAY_MS);
    this.reconnectTimer.unref();
  }
}
