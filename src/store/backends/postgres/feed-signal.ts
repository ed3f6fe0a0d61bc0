import type pg from 'pg';
import type { FeedSignal } from '../../store.js';
import type { PgListener } from './pg-listener.js';

const CHANNEL = 'sealpost_feed';
/**
 * The sender of payloads NOTIFYed from inside a transaction (the patient inbox's, through
 * `patientAccounts.notifyEveryNode`): no node has this id, so every node hears them, this one too,
 * and only once the transaction committed.
 */
export const EVERY_NODE = '*';
export const FEED_CHANNEL = CHANNEL;
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; ours are a few ids. */
const MAX_PAYLOAD = 7900;

/**
 * Payload-carrying LISTEN/NOTIFY between nodes (live delivery of messages). The payload is the
 * sending node's id, a space and the caller's text (ids only: a payload is visible to every session
 * of the database and in its logs). Each `publish` is its own NOTIFY from the pool, sent after the
 * caller's commit; this node's own notifications are not handed back (the caller acted locally).
 * A notification missed while the listener was reconnecting is reported as `null` (resync).
 */
export class PgFeedSignal implements FeedSignal {
  private readonly listeners = new Set<(payload: string | null) => void>();
  private stopListening: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly listener: PgListener,
    private readonly nodeId: string,
    private readonly pool: pg.Pool,
  ) {}

  publish(payload: string): void {
    if (this.closed) return;
    const text = `${this.nodeId} ${payload}`;
    if (Buffer.byteLength(text) > MAX_PAYLOAD) throw new Error('feed payload too long');
    this.pool.query('select pg_notify($1, $2)', [CHANNEL, text]).catch(() => {});
  }

  subscribe(fn: (payload: string | null) => void): () => void {
    this.listeners.add(fn);
    this.stopListening ??= this.listener.on(CHANNEL, {
      notify: (text) => {
        const space = text.indexOf(' ');
        if (space < 0 || text.slice(0, space) === this.nodeId) return;
        const payload = text.slice(space + 1);
        for (const f of this.listeners) f(payload);
      },
      resync: () => {
        for (const f of this.listeners) f(null);
      },
    });
    return () => this.listeners.delete(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopListening?.();
    this.listeners.clear();
  }
}
