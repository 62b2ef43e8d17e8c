import pg from 'pg';

/** How long to wait before listening again after the listening connection broke. */
const RECONNECT_DELAY_MS = 1_000;

/**
 * Wakes dispatchers in every Herald process when deliveries are queued: publishers NOTIFY
 * inside their transaction (so the signal goes out on commit), and one dedicated connection per
 * process LISTENs. While that connection is down, dispatchers fall back to their idle poll.
 */
export class WorkNotifier {
  private client: pg.Client | null = null;
  private readonly listeners = new Set<() => void>();
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('notification', () => this.wakeAll());
    client.on('error', () => this.scheduleReconnect());
    client.on('end', () => this.scheduleReconnect());
    await client.connect();
    await client.query(`LISTEN "${this.channel}"`);
    this.client = client;
  }

  async notify(connection: Pick<pg.ClientBase, 'query'>): Promise<void> {
    await connection.query('SELECT pg_notify($1, $2)', [this.channel, '']);
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
