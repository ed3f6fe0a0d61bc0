import type { FeedSignal } from '../store/store.js';
import type { CipherSuiteName, ConversationEvent, ConversationReader, MessageFeed } from './messaging-types.js';
import { LiveConnection, type LiveSocket } from './live-connection.js';

export interface LiveHubOptions {
  reader: ConversationReader;
  /** Cross-node payloads (PostgreSQL LISTEN/NOTIFY); absent on one node (SQLite): in-process only. */
  signal?: FeedSignal;
  /** A connection whose unsent bytes exceed this is closed (the client re-syncs by pull or reconnect). */
  maxBufferedBytes: number;
  /** Events read per query while a connection catches up. */
  batch: number;
  /** Told after each local `published` (offline nudges); never awaited. */
  onPublished?: (tenantId: string, conversationId: string, seq: number) => void;
  /** Failures of background work: codes only (no content ever reaches here). */
  onError: (e: unknown) => void;
}

/**
 * This node's registry of live connections and the fan-out of new events (the `MessageFeed` the
 * conversations part calls after each commit). Every node hears every publication: locally at
 * once, from the others through the feed signal, whose payload holds ids only
 * (`m <tenant> <conversation> <seq>`, `k <tenant> <device> <suite>`, `r <tenant> <device>`). A
 * notification only says "look": each connection reads the events itself through the
 * ConversationReader after the last seq it sent, one conversation at a time, so it gets them in
 * order, without duplicates or gaps, however notifications are lost, repeated or reordered.
 */
export class LiveHub implements MessageFeed {
  /** tenant → device → its connections on this node (a device may hold several, e.g. two tabs). */
  private readonly byDevice = new Map<string, Map<string, Set<LiveConnection>>>();
  private unsubscribe: () => void = () => {};

  constructor(private readonly o: LiveHubOptions) {}

  /** Starts hearing the other nodes. */
  start(): void {
    if (!this.o.signal) return;
    this.unsubscribe = this.o.signal.subscribe((payload) => {
      if (payload === null) this.resyncAll();
      else this.onPayload(payload);
    });
  }

  /** Stops hearing the other nodes and closes every local connection (going away). */
  stop(): void {
    this.unsubscribe();
    this.unsubscribe = () => {};
    for (const devices of this.byDevice.values())
      for (const set of devices.values()) for (const c of set) c.close(1001, 'server shutting down');
    this.byDevice.clear();
  }

  /**
   * Registers a connection of an active device (the route checked it) and sends it every event after
   * the device's cursors (store and forward). Resolves once the backlog was queued for sending.
   */
  async attach(tenantId: string, deviceId: string, socket: LiveSocket): Promise<LiveConnection> {
    const conn = new LiveConnection(tenantId, deviceId, socket, this.o, () => this.detach(conn));
    let devices = this.byDevice.get(tenantId);
    if (!devices) this.byDevice.set(tenantId, (devices = new Map()));
    let set = devices.get(deviceId);
    if (!set) devices.set(deviceId, (set = new Set()));
    set.add(conn);
    // Registered before reading the cursors: an event committed meanwhile is then seen either by the
    // catch-up read or by its notification (the connection's own bookkeeping drops the second copy).
    await conn.catchUp();
    return conn;
  }

  /** Whether a device has a live connection on this node. */
  isLocal(tenantId: string, deviceId: string): boolean {
    return (this.byDevice.get(tenantId)?.get(deviceId)?.size ?? 0) > 0;
  }

  /** How many connections this node holds (metrics, tests). */
  get size(): number {
    let n = 0;
    for (const devices of this.byDevice.values()) for (const set of devices.values()) n += set.size;
    return n;
  }

  published(tenantId: string, conversationId: string, seq: number): void {
    try {
      this.o.signal?.publish(`m ${tenantId} ${conversationId} ${seq}`);
      this.o.onPublished?.(tenantId, conversationId, seq);
    } catch (e) {
      this.o.onError(e);
    }
    void this.fanOut(tenantId, conversationId, seq);
  }

  keyPackagesLow(tenantId: string, deviceId: string, suite: CipherSuiteName): void {
    try {
      this.o.signal?.publish(`k ${tenantId} ${deviceId} ${suite}`);
    } catch (e) {
      this.o.onError(e);
    }
    this.tellKeyPackagesLow(tenantId, deviceId, suite);
  }

  /** A device was revoked: its connections on every node are told `{ type: 'revoked' }` and closed. */
  deviceRevoked(tenantId: string, deviceId: string): void {
    try {
      this.o.signal?.publish(`r ${tenantId} ${deviceId}`);
    } catch (e) {
      this.o.onError(e);
    }
    this.closeRevoked(tenantId, deviceId);
  }

  /** Runs `fn` on every local connection (the route's keep-alive and revocation checks). */
  forEach(fn: (c: LiveConnection) => void): void {
    for (const devices of this.byDevice.values()) for (const set of devices.values()) for (const c of set) fn(c);
  }

  private detach(conn: LiveConnection): void {
    const devices = this.byDevice.get(conn.tenantId);
    const set = devices?.get(conn.deviceId);
    if (!devices || !set) return;
    set.delete(conn);
    if (set.size === 0) devices.delete(conn.deviceId);
    if (devices.size === 0) this.byDevice.delete(conn.tenantId);
  }

  private onPayload(payload: string): void {
    const [kind, tenantId, id, arg] = payload.split(' ');
    if (!tenantId || !id) return;
    if (kind === 'm') void this.fanOut(tenantId, id, Number(arg));
    else if (kind === 'k' && arg) this.tellKeyPackagesLow(tenantId, id, arg as CipherSuiteName);
    else if (kind === 'r') this.closeRevoked(tenantId, id);
  }

  private async fanOut(tenantId: string, conversationId: string, seq: number): Promise<void> {
    // Nothing to read when this node holds no connection of the tenant (most nodes, most of the time).
    const devices = this.byDevice.get(tenantId);
    if (!devices) return;
    try {
      for (const deviceId of await this.o.reader.memberDevices(tenantId, conversationId))
        for (const c of devices.get(deviceId) ?? []) c.notify(conversationId, seq);
    } catch (e) {
      this.o.onError(e);
    }
  }

  private tellKeyPackagesLow(tenantId: string, deviceId: string, cipherSuite: string): void {
    for (const c of this.byDevice.get(tenantId)?.get(deviceId) ?? [])
      c.sendFrame({ type: 'key-packages-low', deviceId, cipherSuite });
  }

  private closeRevoked(tenantId: string, deviceId: string): void {
    for (const c of [...(this.byDevice.get(tenantId)?.get(deviceId) ?? [])]) c.revoked();
  }

  /** The listener reconnected: any notification may have been missed, so every connection looks again. */
  private resyncAll(): void {
    this.forEach((c) => void c.catchUp());
  }
}

export type { ConversationEvent, LiveSocket };
