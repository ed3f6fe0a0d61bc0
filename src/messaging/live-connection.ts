import type { ConversationEvent, ConversationReader } from './messaging-types.js';

/** The slice of a WebSocket (ws) the hub uses; tests pass a plain fake. */
export interface LiveSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued by send() and not yet written to the network. */
  readonly bufferedAmount: number;
}

/** Server → client frames (the contract's live delivery). */
export type LiveFrame =
  | { type: 'event'; event: ConversationEvent }
  | { type: 'key-packages-low'; deviceId: string; cipherSuite: string }
  | { type: 'revoked' };

/** Close codes: RFC 6455 §7.4.1, and 4000-4999 for the application. */
export const CLOSE = {
  goingAway: 1001,
  invalidFrame: 1008,
  tooBig: 1009,
  internal: 1011,
  /** The client reads too slowly: it re-syncs by pull or by connecting again. */
  slowConsumer: 4008,
  /** The device was revoked (after a `{ type: 'revoked' }` frame). */
  revoked: 4003,
  /** The session the connection was opened with was signed out, revoked or expired. */
  sessionEnded: 4001,
} as const;

/**
 * One live connection of a device. It remembers, per conversation, the last seq it sent, and pumps
 * each conversation with new events through the reader in order; a notification for what it already
 * sent is dropped, so duplicate or reordered notifications never send an event twice.
 */
export class LiveConnection {
  /** conversation → last seq sent (starting at the device's cursor). */
  private readonly sent = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private pumping = false;
  private closed = false;
  /** False until the cursors are known: a notification before then must not pump from seq 0. */
  private ready = false;
  /** Set by the route when a pong arrives; the keep-alive tick clears it before each ping. */
  alive = true;

  constructor(
    readonly tenantId: string,
    readonly deviceId: string,
    readonly socket: LiveSocket,
    private readonly o: {
      reader: ConversationReader;
      maxBufferedBytes: number;
      batch: number;
      onError: (e: unknown) => void;
    },
    private readonly onClosed: () => void,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Store and forward: every conversation of the device with something after its cursor is pumped. */
  async catchUp(): Promise<void> {
    try {
      for (const c of await this.o.reader.conversationsOf(this.tenantId, this.deviceId)) {
        const from = Math.max(this.sent.get(c.conversationId) ?? 0, c.cursor);
        this.sent.set(c.conversationId, from);
        if (c.latestSeq > from) this.dirty.add(c.conversationId);
      }
    } catch (e) {
      this.o.onError(e);
      return this.close(CLOSE.internal, 'could not read the backlog');
    }
    this.ready = true;
    await this.pump();
  }

  /** The conversation has events up to `seq`. */
  notify(conversationId: string, seq: number): void {
    // Seqs start at 1; a conversation the device joined after connecting is read from its start
    // (the reader serves a device only what follows the welcome that added it).
    if (this.closed || (this.sent.get(conversationId) ?? 0) >= seq) return;
    this.dirty.add(conversationId);
    void this.pump();
  }

  /** The device stored everything of the conversation up to `seq` (its ack). */
  acknowledge(conversationId: string, seq: number): Promise<void> {
    return this.o.reader.acknowledge(this.tenantId, conversationId, this.deviceId, seq);
  }

  sendFrame(frame: LiveFrame): boolean {
    if (this.closed) return false;
    // Backpressure: a reader that does not keep up is dropped rather than buffered without bound.
    if (this.socket.bufferedAmount > this.o.maxBufferedBytes) {
      this.close(CLOSE.slowConsumer, 'slow consumer');
      return false;
    }
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  revoked(): void {
    this.sendFrame({ type: 'revoked' });
    this.close(CLOSE.revoked, 'revoked');
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
    try {
      this.socket.close(code, reason);
    } catch {
      // Already gone: nothing to tell.
    }
  }

  /** The socket closed on its own (the client left, or the network dropped). */
  ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }

  /** One pump per connection: conversations one after the other, each read until caught up. */
  private async pump(): Promise<void> {
    if (this.pumping || !this.ready) return;
    this.pumping = true;
    try {
      while (!this.closed && this.dirty.size) {
        const conversationId = this.dirty.values().next().value as string;
        this.dirty.delete(conversationId);
        for (;;) {
          const after = this.sent.get(conversationId) ?? 0;
          const events = await this.o.reader.eventsFor(
            this.tenantId,
            conversationId,
            this.deviceId,
            after,
            this.o.batch,
          );
          for (const event of events) {
            if (event.seq <= (this.sent.get(conversationId) ?? 0)) continue;
            if (!this.sendFrame({ type: 'event', event })) return;
            this.sent.set(conversationId, event.seq);
          }
          if (events.length < this.o.batch) break;
        }
      }
    } catch (e) {
      this.o.onError(e);
      this.close(CLOSE.internal, 'could not read events');
    } finally {
      this.pumping = false;
    }
  }
}
