import type { Client, Notification } from 'pg';
import type { Logger } from '../../../log';

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * The dedicated `LISTEN` connection of a PostgreSQL store: opened by the
 * first subscription, re-opened (with backoff, unref'd timers) whenever it
 * drops while someone is subscribed, and LISTENing again each time. Messages
 * published while it is down are not replayed — the same contract as Redis
 * pub/sub: subscribers must tolerate gaps (state lives in keys, not messages).
 */
export class PgListener {
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelayMs = RECONNECT_MIN_MS;
  private closed = false;
  /** Times the connection was (re-)established, for tests and logs. */
  connects = 0;

  constructor(
    private readonly createClient: () => Client,
    private readonly channel: string,
    private readonly onPayload: (payload: string) => void,
    private readonly wanted: () => boolean,
    private readonly logger: Logger | undefined,
  ) {}

  /** Resolves once the connection is up and listening; rejects if it cannot be opened now. */
  ensure(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('listener closed'));
    if (this.client !== undefined) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = this.createClient();
    client.on('error', error => {
      this.logger?.debug(`store LISTEN connection failed: ${error.message}`);
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (message: Notification) => {
      if (message.channel === this.channel && message.payload !== undefined) {
        this.onPayload(message.payload);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('listener closed');
    }
    // A subscription must not keep the process alive (the pool's idle clients do not either).
    (client as Client & { unref?: () => void }).unref?.();
    this.client = client;
    this.connects++;
    this.reconnectDelayMs = RECONNECT_MIN_MS;
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined || !this.wanted()) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(RECONNECT_MAX_MS, this.reconnectDelayMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || this.client !== undefined || !this.wanted()) return;
      this.ensure().then(
        () => this.logger?.info('store LISTEN connection re-established'),
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}
