import type { DomainEvent, DomainEvents } from './events.js';
import type { FeedSignal, StoreTx } from '../store/store.js';

/**
 * What core tells open patient inboxes: "the notifications of these patients changed, look again".
 * Ids only, never content: an inbox that hears it reads what changed through the patient's own API.
 */
export interface InboxSignal {
  /** After the commit of a change (a notification created). */
  changed(tenantId: string, patientIds: readonly string[]): void;
  /**
   * Inside `tx`, the transaction making the change (read, acknowledged, a delivery's status): heard
   * once `tx` commits, never when it rolls back.
   */
  changedInTx(tx: StoreTx, tenantId: string, patientIds: readonly string[]): Promise<void>;
}

export interface PatientInboxFeedOptions {
  /** The keyed, pseudonymous patient reference (context.ts `patientRef`): what crosses nodes. */
  ref: (tenantId: string, patientId: string) => string;
  /** Cross-node payloads (PostgreSQL LISTEN/NOTIFY); absent on one node (SQLite): in-process only. */
  signal?: FeedSignal;
  onError?: (e: unknown) => void;
}

/** References per NOTIFY payload (33 bytes each: far below PostgreSQL's 8000-byte payload limit). */
const REFS_PER_PAYLOAD = 150;

/**
 * This node's open patient inboxes (the SSE streams of /v1/me/inbox/events) and the signal that wakes
 * them, on every node. A signal only says "look": each watcher reads the patient's state itself, so
 * a lost, repeated or reordered signal costs a read, never a wrong view.
 *
 * How a change reaches the watchers:
 * - PostgreSQL, inside the changing transaction (delivery status events, read, acknowledge): a NOTIFY
 *   from that transaction (`patientAccounts.notifyEveryNode`), which PostgreSQL hands to every node's
 *   listener, this one's too, only after COMMIT. A watcher therefore never reads before the change is
 *   visible.
 * - PostgreSQL, after a commit (notifications created, whose rows a batched commit writes): this node's
 *   watchers at once, the other nodes by `FeedSignal.publish` (coalesced per turn of the event loop).
 * - SQLite (one node, one connection): the watchers are told at once; their reads queue behind the
 *   transaction on the single connection, so they too see the committed change (or, after a
 *   rollback, the unchanged state: a harmless extra read).
 * Payloads are `i <tenant> <ref> [<ref>…]`, with patient references (keyed hashes), never patient ids.
 */
export class PatientInboxFeed implements DomainEvents, InboxSignal {
  /** `<tenant> <ref>` → the watchers of that patient on this node. */
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly outgoing = new Map<string, Set<string>>();
  private flushScheduled = false;
  private unsubscribe: () => void = () => {};

  constructor(private readonly o: PatientInboxFeedOptions) {}

  /** Starts hearing the other nodes (PostgreSQL). */
  start(): void {
    if (!this.o.signal) return;
    this.unsubscribe = this.o.signal.subscribe((payload) => {
      // The listener reconnected: whatever was said meanwhile is lost, so every watcher looks again.
      if (payload === null) for (const set of this.watchers.values()) this.tellAll(set);
      else this.onPayload(payload);
    });
  }

  stop(): void {
    this.unsubscribe();
    this.unsubscribe = () => {};
  }

  /** Calls `fn` whenever the patient's notifications may have changed; returns the unwatch function. */
  watch(tenantId: string, patientId: string, fn: () => void): () => void {
    const k = `${tenantId} ${this.o.ref(tenantId, patientId)}`;
    let set = this.watchers.get(k);
    if (!set) this.watchers.set(k, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (!set.size && this.watchers.get(k) === set) this.watchers.delete(k);
    };
  }

  /** How many inboxes are open on this node (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.watchers.values()) n += set.size;
    return n;
  }

  /**
   * DomainEvents: every event names its patient; a delivery's status or a reminder's cancellation may
   * change the inbox. `delivered` (a provider's receipt of a delivery already sent) never does: left out,
   * it costs no NOTIFY.
   */
  async record(tx: StoreTx, events: readonly DomainEvent[]): Promise<void> {
    const byTenant = new Map<string, Set<string>>();
    for (const e of events) {
      if (e.kind === 'delivery.status' && e.status === 'delivered') continue;
      let set = byTenant.get(e.tenantId);
      if (!set) byTenant.set(e.tenantId, (set = new Set()));
      set.add(e.patientId);
    }
    for (const [tenantId, ids] of byTenant) await this.changedInTx(tx, tenantId, [...ids]);
  }

  async changedInTx(tx: StoreTx, tenantId: string, patientIds: readonly string[]): Promise<void> {
    if (!patientIds.length) return;
    const refs = [...new Set(patientIds.map((id) => this.o.ref(tenantId, id)))];
    if (!this.o.signal) return this.tell(tenantId, refs);
    for (let i = 0; i < refs.length; i += REFS_PER_PAYLOAD)
      await tx.patientAccounts.notifyEveryNode(`i ${tenantId} ${refs.slice(i, i + REFS_PER_PAYLOAD).join(' ')}`);
  }

  changed(tenantId: string, patientIds: readonly string[]): void {
    if (!patientIds.length) return;
    try {
      const refs = [...new Set(patientIds.map((id) => this.o.ref(tenantId, id)))];
      this.tell(tenantId, refs);
      if (!this.o.signal) return;
      let set = this.outgoing.get(tenantId);
      if (!set) this.outgoing.set(tenantId, (set = new Set()));
      for (const r of refs) set.add(r);
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [tenantId, set] of this.outgoing) {
      const refs = [...set];
      for (let i = 0; i < refs.length; i += REFS_PER_PAYLOAD) {
        try {
          this.o.signal!.publish(`i ${tenantId} ${refs.slice(i, i + REFS_PER_PAYLOAD).join(' ')}`);
        } catch (e) {
          this.o.onError?.(e);
        }
      }
    }
    this.outgoing.clear();
  }

  private onPayload(payload: string): void {
    const [kind, tenantId, ...refs] = payload.split(' ');
    if (kind !== 'i' || !tenantId || !refs.length) return;
    this.tell(tenantId, refs);
  }

  private tell(tenantId: string, refs: readonly string[]): void {
    for (const r of refs) {
      const set = this.watchers.get(`${tenantId} ${r}`);
      if (set) this.tellAll(set);
    }
  }

  private tellAll(set: Set<() => void>): void {
    for (const fn of [...set]) {
      try {
        fn();
      } catch (e) {
        this.o.onError?.(e);
      }
    }
  }
}
