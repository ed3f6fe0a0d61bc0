/**
 * Per-conversation local state: the MLS group state (ts-mls encodeGroupState, under
 * `group/<conversation>`), what this device has processed (`conv/<conversation>`), its local message
 * copies (`msg/<conversation>/<seq>`), and a lock so events, commits and sends of one conversation
 * run one at a time (MLS state advances strictly in order).
 */
import type { ClientConfig, ClientState } from 'ts-mls';
import type { CipherSuiteName } from '../cipher-suites.js';
import { getJson, putJson, type KeyStore } from '../keystore/key-store.js';
import { loadState, saveState } from './mls.js';
import type { StoredMessage } from './events.js';

/** What this device knows of a conversation besides the MLS state. */
export interface ConversationMeta {
  cipherSuite: CipherSuiteName;
  /** The last event seq processed (the delivery cursor this device reports). */
  processedSeq: number;
  /** Why this conversation cannot advance (e.g. a commit adding an untrusted device); null when fine. */
  blocked: string | null;
  /** This device was removed from the group. */
  removed: boolean;
}

const pad = (n: number) => String(n).padStart(12, '0');

export class GroupStore {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: KeyStore,
    private readonly config: () => ClientConfig,
  ) {}

  /** Runs `fn` after every earlier task of this conversation finished. */
  exclusive<T>(conversationId: string, fn: () => Promise<T>): Promise<T> {
    // Across tabs of one browser too (Web Locks), so two pages over one IndexedDB take turns.
    const locks = (globalThis as { navigator?: { locks?: { request<R>(n: string, f: () => Promise<R>): Promise<R> } } })
      .navigator?.locks;
    const run = locks ? () => locks.request(`sealpost-conversation-${conversationId}`, fn) : fn;
    const prev = this.locks.get(conversationId) ?? Promise.resolve();
    const next = prev.then(run, run);
    this.locks.set(
      conversationId,
      next.catch(() => undefined),
    );
    return next;
  }

  /**
   * The group state, read from the key store each time (no cache): another client instance over the
   * same store (a reopened client, a second tab) must never make this one reuse a ratchet key it
   * already used. Two instances working AT THE SAME TIME over one store are still unsupported.
   */
  async state(conversationId: string): Promise<ClientState | undefined> {
    const bytes = await this.store.get(`group/${conversationId}`);
    return bytes ? loadState(bytes, this.config()) : undefined;
  }

  /** Persists the new state before anything that depends on it is sent (keys are never reused). */
  async setState(conversationId: string, state: ClientState): Promise<void> {
    await this.store.put(`group/${conversationId}`, saveState(state));
  }

  async dropState(conversationId: string): Promise<void> {
    await this.store.delete(`group/${conversationId}`);
  }

  meta(conversationId: string): Promise<ConversationMeta | undefined> {
    return getJson<ConversationMeta>(this.store, `conv/${conversationId}`);
  }

  async updateMeta(
    conversationId: string,
    patch: Partial<ConversationMeta>,
    suite?: CipherSuiteName,
  ): Promise<ConversationMeta> {
    const cur = (await this.meta(conversationId)) ?? {
      cipherSuite: suite ?? 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
      processedSeq: 0,
      blocked: null,
      removed: false,
    };
    const next = { ...cur, ...patch };
    await putJson(this.store, `conv/${conversationId}`, next);
    return next;
  }

  async conversations(): Promise<string[]> {
    return (await this.store.list('conv/')).map((k) => k.slice('conv/'.length));
  }

  putMessage(m: StoredMessage): Promise<void> {
    return putJson(this.store, `msg/${m.conversationId}/${pad(m.seq)}`, m);
  }

  deleteMessage(conversationId: string, seq: number): Promise<void> {
    return this.store.delete(`msg/${conversationId}/${pad(seq)}`);
  }

  async messages(conversationId: string): Promise<StoredMessage[]> {
    const names = await this.store.list(`msg/${conversationId}/`);
    const out: StoredMessage[] = [];
    for (const n of names) {
      const m = await getJson<StoredMessage>(this.store, n);
      if (m) out.push(m);
    }
    return out;
  }
}
