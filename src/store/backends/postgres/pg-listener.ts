import pg from 'pg';
import type { Logger } from 'pino';

/**
 * One dedicated connection per node that LISTENs on Sealpost's notification channels (a node holds
 * one listener whatever the number of channels: max_connections counts it once). Reconnects with
 * backoff when the connection is lost; after every (re)connect each channel's `resync` runs, since
 * notifications sent while nobody listened are gone (PostgreSQL does not queue them for later).
 */
export class PgListener {
  private readonly channels = new Map<string, Set<ChannelHandler>>();
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = 250;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly log?: Logger,
  ) {}

  /** Listens on `channel` (a fixed identifier, never input); returns the unsubscribe function. */
  on(channel: string, handler: ChannelHandler): () => void {
    if (!/^[a-z_]+$/.test(channel)) throw new Error(`bad channel name ${channel}`);
    let set = this.channels.get(channel);
    if (!set) this.channels.set(channel, (set = new Set()));
    set.add(handler);
    // Added while connected: listened to now, then told to catch up as on a connect; otherwise the
    // (re)connect does both.
    this.client
      ?.query(`LISTEN ${channel}`)
      .then(() => set.has(handler) && handler.resync())
      .catch(() => {});
    if (!this.client && !this.reconnectTimer) void this.listen();
    return () => set.delete(handler);
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'sealpost-listen' });
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      client.end().catch(() => {});
      this.log?.warn('the database notification listener was lost; reconnecting');
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      for (const h of this.channels.get(n.channel) ?? []) h.notify(n.payload ?? '');
    });
    try {
      this.client = client;
      await client.connect();
      for (const channel of this.channels.keys()) await client.query(`LISTEN ${channel}`);
      this.retryMs = 250;
      for (const set of this.channels.values()) for (const h of set) h.resync();
    } catch {
      lost();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen();
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}

export interface ChannelHandler {
  /** A notification on the channel, with its payload ('' when none). */
  notify(payload: string): void;
  /** The listener (re)connected: whatever was sent while it was away was missed. */
  resync(): void;
}
