import type pg from 'pg';
import type { DueSignal } from '../../store.js';
import type { PgListener } from './pg-listener.js';

const CHANNEL = 'sealpost_due';

/**
 * LISTEN/NOTIFY between nodes. `announce()` sends at most one NOTIFY per short window, from the pool,
 * after the caller's commit; the node's shared listener (pg-listener.ts) hears the others and
 * reconnects with backoff when its connection is lost. A missed notification only delays work until
 * the worker's next poll: this is a wake-up, not the queue.
 */
export class PgDueSignal implements DueSignal {
  private readonly listeners = new Set<() => void>();
  private closed = false;
  private pending = false;
  private stopListening: (() => void) | null = null;

  constructor(
    private readonly listener: PgListener,
    private readonly nodeId: string,
    private readonly pool: pg.Pool,
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
    this.stopListening ??= this.listener.on(CHANNEL, {
      notify: (payload) => {
        if (payload === this.nodeId) return;
        for (const f of this.listeners) f();
      },
      // Anything that became due while we were not listening is found by the wake-up itself.
      resync: () => {
        for (const f of this.listeners) f();
      },
    });
    return () => this.listeners.delete(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
