import pg from 'pg';
import type { Logger } from 'pino';
import type { DueSignal } from '../../store.js';

const CHANNEL = 'sealpost_due';

/**
 * LISTEN/NOTIFY between nodes. `announce()` sends at most one NOTIFY per short window, from the pool,
 * after the caller's commit; a dedicated connection LISTENs and reconnects with backoff when it is lost.
 * A missed notification only delays work until the worker's next poll: this is a wake-up, not the queue.
 */
export class PgDueSignal implements DueSignal {
  private readonly listeners = new Set<() => void>();
  private client: pg.Client | null = null;
  private closed = false;
  private pending = false;
  private retryMs = 250;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly nodeId: string,
    private readonly pool: pg.Pool,
    private readonly log?: Logger,
  ) {}

  announce(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.pool.query('select pg_notify($1, $2)', [CHANNEL, this.nodeId]).catch(() => {});
    }, 2);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    if (!this.client && !this.reconnectTimer) void this.listen();
    return () => this.listeners.delete(fn);
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'sealpost-listen' });
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || n.payload === this.nodeId) return;
      for (const fn of this.listeners) fn();
    });
    try {
      this.client = client;
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.retryMs = 250;
      // Anything that became due while we were not listening is found by the wake-up itself.
      for (const fn of this.listeners) fn();
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
