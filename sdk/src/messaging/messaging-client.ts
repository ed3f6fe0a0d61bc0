/**
 * The messaging client: one device of one person, end-to-end encrypted with MLS (ts-mls). The
 * server orders and stores ciphertext; this client encrypts, decrypts, and trusts a member's device
 * only after checking the server's key-transparency evidence (see `TrustManager`).
 *
 * ```ts
 * const client = await MessagingClient.open({ baseUrl, token, keyStore: new MemoryKeyStore() });
 * if (!client.device) await client.register('Laptop', 'cli');
 * const c = await client.createConversation({ kind: 'direct', members: [{ kind: 'user', id: 'u-2' }] });
 * client.on('message', (m) => console.log(m.sender.id, m.body));
 * await client.send(c.id, 'Hello');
 * await client.connect(); // live delivery; client.close() when done
 * ```
 */
import { CIPHER_SUITES, type CipherSuiteName } from '../cipher-suites.js';
import type { KeyStore } from '../keystore/key-store.js';
import type { TrustAnchors } from '../transparency/device-verifier.js';
import { Committer } from './committer.js';
import type { ClientContext } from './context.js';
import { ConversationSync } from './conversation-sync.js';
import { DeviceKeys, type DeviceRecord } from './device-keys.js';
import { EventProcessor } from './event-processor.js';
import { Emitter, type AttachmentRef, type MessagingEvents, type StoredMessage } from './events.js';
import { GroupStore } from './group-store.js';
import { Http, seg } from './http.js';
import { defaultWebSocketFactory, LiveConnection, type WebSocketFactory } from './live.js';
import { MessageSender, type SendOptions } from './message-sender.js';
import { clientConfig } from './mls.js';
import { TrustManager } from './trust.js';
import type { ConversationView, Person } from './wire-types.js';

export interface MessagingClientOptions {
  /** The server, e.g. `https://sealpost.example.org` (a browser page: `location.origin`). */
  baseUrl: string;
  /** Where keys, group states and message copies live (MemoryKeyStore, FileKeyStore, IndexedDbKeyStore). */
  keyStore: KeyStore;
  /** A bearer session token (Node); omit in a browser signed in with the session cookie. */
  token?: string | (() => string | undefined);
  /** fetch to use (default the global one), e.g. one that trusts a private CA. */
  fetch?: typeof globalThis.fetch;
  /** Opens the live WebSocket (default: the browser's, or the `ws` package in Node). */
  webSocket?: WebSocketFactory;
  /** Pinned trust anchors; without them the first key set fetched is pinned (trust on first use). */
  trustAnchors?: TrustAnchors;
  /** Suites to keep key packages of (default both). */
  cipherSuites?: readonly CipherSuiteName[];
  /** Key packages kept available per suite (default 20). */
  keyPackageTarget?: number;
  /** Pull interval while the live connection is down, ms (default 15 000). */
  pollMs?: number;
}

/** What `createConversation` takes (see POST /v1/conversations). */
export interface NewConversation {
  kind: 'direct' | 'group' | 'patient';
  members?: Person[];
  /** For `patient`: the patient record id. */
  patientId?: string;
  cipherSuite?: CipherSuiteName;
  lifespanSeconds?: number;
}

export class MessagingClient {
  private readonly emitter = new Emitter();
  private readonly ctx: ClientContext;
  private readonly keys: DeviceKeys;
  private readonly syncer: ConversationSync;
  private readonly sender: MessageSender;
  private readonly views = new Map<string, ConversationView>();
  private live: LiveConnection | null = null;

  private constructor(private readonly opts: MessagingClientOptions) {
    const http = new Http({ baseUrl: opts.baseUrl, token: opts.token, fetch: opts.fetch });
    this.keys = new DeviceKeys(http, opts.keyStore, opts.cipherSuites ?? CIPHER_SUITES, opts.keyPackageTarget);
    const trust = new TrustManager(http, opts.keyStore, () => this.keys.device.tenantId, opts.trustAnchors);
    const config = clientConfig(trust.authService());
    this.ctx = {
      http,
      keys: this.keys,
      trust,
      groups: new GroupStore(opts.keyStore, () => config),
      emitter: this.emitter,
      config: () => config,
      conversation: (id, fresh) => this.conversation(id, fresh),
    };
    const processor = new EventProcessor(this.ctx);
    this.syncer = new ConversationSync(this.ctx, processor, (c, s) => this.ack(c, s));
    this.syncer.committer = new Committer(this.ctx, (c) => this.syncer.catchUp(c));
    this.sender = new MessageSender(this.ctx, this.syncer);
  }

  /** Opens a client over a key store (loads the registered device, if any). */
  static async open(opts: MessagingClientOptions): Promise<MessagingClient> {
    const c = new MessagingClient(opts);
    await c.keys.load();
    return c;
  }

  /** The registered device, or null before `register`. */
  get device(): Pick<DeviceRecord, 'deviceId' | 'tenantId' | 'person'> | null {
    try {
      const { deviceId, tenantId, person } = this.keys.device;
      return { deviceId, tenantId, person };
    } catch {
      return null;
    }
  }

  /** Registers this client as a messaging device of the signed-in person and uploads key packages. */
  async register(name: string, platform: 'ios' | 'android' | 'web' | 'cli'): Promise<DeviceRecord> {
    const d = await this.keys.register(name, platform);
    await this.keys.replenish();
    return d;
  }

  /** Uploads key packages where the server counts fewer than the target (and last-resort ones). */
  replenishKeyPackages(): Promise<void> {
    return this.keys.replenish();
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof MessagingEvents>(event: K, handler: (payload: MessagingEvents[K]) => void): () => void {
    return this.emitter.on(event, handler);
  }

  private async conversation(id: string, fresh = false): Promise<ConversationView> {
    const hit = this.views.get(id);
    if (hit && !fresh) return hit;
    const v = await this.ctx.http.get<ConversationView>(`/v1/conversations/${seg(id)}`);
    this.views.set(id, v);
    return v;
  }

  /** The conversations of the signed-in person (the server's views). */
  async conversations(): Promise<ConversationView[]> {
    const out: ConversationView[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: ConversationView[]; nextCursor?: string | null } = await this.ctx.http.get(
        `/v1/conversations${cursor ? `?cursor=${seg(cursor)}` : ''}`,
      );
      out.push(...page.items);
      cursor = page.nextCursor ?? null;
    } while (cursor);
    return out;
  }

  /**
   * Opens a conversation and adds the members' devices (each checked by key transparency first;
   * a refused device is reported with `device-refused` and left out).
   */
  async createConversation(spec: NewConversation): Promise<ConversationView> {
    const view = await this.ctx.http.post<ConversationView>('/v1/conversations', {
      ...spec,
      deviceId: this.keys.device.deviceId,
    });
    this.views.set(view.id, view);
    await this.ctx.groups.exclusive(view.id, async () => {
      await this.syncer.committer.createGroup(view);
      await this.syncer.committer.reconcile(view.id, true);
    });
    return this.conversation(view.id, true);
  }

  /** Adds a person to a group conversation and their devices to the MLS group. */
  async addMember(conversationId: string, person: Person): Promise<void> {
    await this.ctx.http.post(`/v1/conversations/${seg(conversationId)}/members`, { person });
    await this.ctx.groups.exclusive(conversationId, async () => {
      await this.syncer.catchUp(conversationId);
      await this.syncer.committer.reconcile(conversationId, true);
    });
  }

  /** Removes a person from the roster; the server proposes the removal and this client commits it. */
  async removeMember(conversationId: string, person: Person): Promise<void> {
    await this.ctx.http.request(
      'DELETE',
      `/v1/conversations/${seg(conversationId)}/members/${seg(person.kind)}/${seg(person.id)}`,
    );
    await this.syncer.sync(conversationId);
  }

  /** Sends a text message; returns this device's copy (with the seq the server gave it). */
  send(conversationId: string, body: string, opts: SendOptions = {}): Promise<StoredMessage> {
    return this.sender.send(conversationId, body, opts);
  }

  /** Sends an end-to-end read receipt: this person read the conversation up to `seq`. */
  markRead(conversationId: string, seq: number): Promise<void> {
    return this.sender.markRead(conversationId, seq);
  }

  /** Recalls one of this person's messages (the server and every honest device delete it). */
  recall(conversationId: string, seq: number): Promise<void> {
    return this.sender.recall(conversationId, seq);
  }

  /** Downloads and decrypts an attachment of a message. */
  downloadAttachment(conversationId: string, ref: AttachmentRef): Promise<Uint8Array> {
    return this.sender.download(conversationId, ref);
  }

  /** This device's local copies of a conversation's messages, in seq order. */
  messages(conversationId: string): Promise<StoredMessage[]> {
    return this.ctx.groups.messages(conversationId);
  }

  /** Which devices stored a message (delivery receipts, from the server). */
  receipts(conversationId: string, seq: number): Promise<{ delivered: { deviceId: string; person: Person }[] }> {
    return this.ctx.http.get(`/v1/conversations/${seg(conversationId)}/receipts?seq=${seq}`);
  }

  /** Why a conversation cannot advance on this device (an untrusted device was added), or null. */
  async blocked(conversationId: string): Promise<string | null> {
    return (await this.ctx.groups.meta(conversationId))?.blocked ?? null;
  }

  /** Fetches and applies what is new: one conversation, or every conversation of this device. */
  sync(conversationId?: string): Promise<void> {
    return conversationId ? this.syncer.sync(conversationId) : this.syncer.syncAll();
  }

  private async ack(conversationId: string, seq: number): Promise<void> {
    if (this.live?.ack(conversationId, seq)) return;
    await this.ctx.http.post(`/v1/conversations/${seg(conversationId)}/cursor`, {
      deviceId: this.keys.device.deviceId,
      seq,
    });
  }

  /** Catches up on everything, then stays connected for live delivery (reconnecting, pulling meanwhile). */
  async connect(): Promise<void> {
    const deviceId = this.keys.device.deviceId;
    await this.keys.replenish().catch((error: Error) => this.emitter.emit('error', { error }));
    const url = `${this.ctx.http.baseUrl.replace(/^http/, 'ws')}/v1/messaging/live?deviceId=${seg(deviceId)}`;
    this.live?.stop();
    this.live = new LiveConnection({
      url,
      headers: (): Record<string, string> => {
        const t = this.ctx.http.token();
        return t ? { authorization: `Bearer ${t}` } : {};
      },
      factory: async () => this.opts.webSocket ?? (await defaultWebSocketFactory()),
      onFrame: (f) => {
        if (f.type === 'event')
          void this.syncer
            .syncSoon(f.event.conversationId)
            .catch((error: Error) => this.bg(error, f.event.conversationId));
        else if (f.type === 'key-packages-low') {
          this.emitter.emit('key-packages-low', { cipherSuite: f.cipherSuite });
          void this.keys.replenish().catch((error: Error) => this.bg(error));
        } else if (f.type === 'revoked') {
          this.bg(new Error('this device was revoked'));
          this.close();
        }
      },
      onState: (state) => {
        this.emitter.emit('connection', { state });
        if (state === 'open') void this.sync().catch((error: Error) => this.bg(error));
      },
      poll: () => this.sync(),
      pollMs: this.opts.pollMs ?? 15_000,
    });
    await this.sync().catch((error: Error) => this.bg(error));
    await this.live.start();
  }

  private bg(error: Error, conversationId?: string): void {
    this.emitter.emit('error', { error, ...(conversationId ? { conversationId } : {}) });
  }

  /** Closes the live connection (the key store stays as it is). */
  close(): void {
    this.live?.stop();
    this.live = null;
  }
}
