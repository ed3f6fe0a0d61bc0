import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeExternalSender,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processMessage,
  type CiphersuiteImpl,
  type ClientState,
  type GroupInfo,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
} from 'ts-mls';
import { signGroupInfo } from 'ts-mls/groupInfo.js';
import type { Harness } from './sealpost-harness.js';
import { deviceIdentity, type CipherSuiteName } from '../../src/messaging/messaging-types.js';

/**
 * A messaging device for tests, a real ts-mls client over the real HTTP API: it registers itself
 * (`POST /v1/messaging/devices`), uploads key packages, creates groups with the tenant's external
 * sender, commits (with the ratchet tree extension and the new epoch's GroupInfo), joins from
 * welcomes, processes the server's external proposals, and encrypts and decrypts application
 * messages. What the server stores is what this client sends: ciphertext.
 */
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const enc = (m: MLSMessage) => b64(encodeMlsMessage(m));
const dec = (s: string) => decodeMlsMessage(unb64(s), 0)![0];

export interface ServerEvent {
  seq: number;
  kind: string;
  epoch: number;
  sender: { deviceId: string } | { external: true };
  data: string | null;
}

export class MlsTestDevice {
  state: ClientState | null = null;
  cursor = 0;
  private readonly packages: { pub: KeyPackage; priv: PrivateKeyPackage }[] = [];
  /** The conversation a claim is for when the caller names none: the last one this device touched. */
  private conversationId: string | null = null;

  private constructor(
    readonly h: Harness,
    readonly headers: Record<string, string>,
    readonly deviceId: string,
    readonly tenantId: string,
    private readonly keys: { signKey: Uint8Array; publicKey: Uint8Array },
    readonly cs: CiphersuiteImpl,
    readonly suite: CipherSuiteName,
  ) {}

  /** Registers a device for the person behind `headers` and uploads `count` key packages. */
  static async register(
    h: Harness,
    headers: Record<string, string>,
    o: { tenantId?: string; suite?: CipherSuiteName; count?: number } = {},
  ): Promise<MlsTestDevice> {
    const suite = o.suite ?? 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
    const cs = await getCiphersuiteImpl(getCiphersuiteFromName(suite));
    const keys = await cs.signature.keygen();
    const r = await h.request(
      'POST',
      '/v1/messaging/devices',
      { name: 'Test device', platform: 'cli', signatureKey: b64(keys.publicKey) },
      headers,
    );
    if (r.status !== 201) throw new Error(`device registration answered ${r.status} ${r.text}`);
    const d = new MlsTestDevice(h, headers, r.body.deviceId, o.tenantId ?? 'default', keys, cs, suite);
    await d.uploadKeyPackages(o.count ?? 3);
    return d;
  }

  async uploadKeyPackages(count: number): Promise<void> {
    const kps: string[] = [];
    for (let i = 0; i < count; i++) {
      const p = await this.keyPackage();
      kps.push(enc({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: p.pub }));
    }
    const r = await this.h.request(
      'POST',
      `/v1/messaging/devices/${this.deviceId}/key-packages`,
      { keyPackages: kps },
      this.headers,
    );
    if (r.status !== 201) throw new Error(`key package upload answered ${r.status} ${r.text}`);
  }

  private async keyPackage() {
    const credential = {
      credentialType: 'basic' as const,
      identity: new TextEncoder().encode(deviceIdentity(this.tenantId, this.deviceId)),
    };
    const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
      credential,
      defaultCapabilities(),
      defaultLifetime,
      [],
      this.keys,
      this.cs,
    );
    const p = { pub: publicPackage, priv: privatePackage };
    this.packages.push(p);
    return p;
  }

  get epoch(): number {
    return Number(this.state!.groupContext.epoch);
  }

  /** Creates the MLS group of a conversation the server just created (group id = its id). */
  async createGroup(view: { id: string; externalSender: { signatureKey: string; identity: string } }): Promise<void> {
    this.conversationId = view.id;
    const own = await this.keyPackage();
    const external = encodeExternalSender({
      credential: { credentialType: 'basic', identity: unb64(view.externalSender.identity) },
      signaturePublicKey: unb64(view.externalSender.signatureKey),
    });
    this.state = await createGroup(
      new TextEncoder().encode(view.id),
      own.pub,
      own.priv,
      [{ extensionType: 'external_senders', extensionData: external }],
      this.cs,
    );
  }

  /** A key package of this device made here, not through the server (to build commits the server must refuse). */
  async freshKeyPackage(): Promise<KeyPackage> {
    return (await this.keyPackage()).pub;
  }

  /** Signs a (tampered) GroupInfo with this device's key, as a dishonest member could. */
  async signGroupInfo(gi: GroupInfo): Promise<GroupInfo> {
    return signGroupInfo(gi, this.keys.signKey, this.cs.signature);
  }

  /** Claims key packages of `deviceIds` through the server, for adding them to `conversationId`. */
  async claim(deviceIds: string[], conversationId = this.conversationId): Promise<KeyPackage[]> {
    const r = await this.h.request(
      'POST',
      '/v1/messaging/key-packages/claim',
      { conversationId, deviceIds, cipherSuite: this.suite },
      this.headers,
    );
    if (r.status !== 200) throw new Error(`claim answered ${r.status} ${r.text}`);
    return (r.body.items as { keyPackage: string }[]).map((i) => {
      const m = dec(i.keyPackage);
      if (m.wireformat !== 'mls_key_package') throw new Error('not a key package');
      return m.keyPackage;
    });
  }

  /**
   * Builds a commit of the current epoch (pending proposals plus `extra`), without applying it:
   * `body` is what `POST …/commits` takes; `apply()` moves this client to the new epoch.
   */
  async prepareCommit(extra: Proposal[] = [], o: { publicMessage?: boolean } = {}) {
    const r = await createCommit(
      { state: this.state!, cipherSuite: this.cs },
      // The server verifies commits (signature, transcript hash): they travel as public messages.
      { extraProposals: extra, ratchetTreeExtension: true, wireAsPublicMessage: o.publicMessage ?? true },
    );
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(r.newState, [], this.cs);
    const body = {
      deviceId: this.deviceId,
      epoch: this.epoch,
      commit: enc(r.commit),
      ...(r.welcome ? { welcome: enc({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome }) } : {}),
      groupInfo: enc({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi }),
    };
    return { body, apply: () => void (this.state = r.newState) };
  }

  /** Commits (adding `add` key packages) and applies it when the server accepts; returns the answer. */
  async commit(conversationId: string, add: KeyPackage[] = []) {
    this.conversationId = conversationId;
    const c = await this.prepareCommit(
      add.map((keyPackage) => ({ proposalType: 'add' as const, add: { keyPackage } })),
    );
    const r = await this.h.request('POST', `/v1/conversations/${conversationId}/commits`, c.body, this.headers);
    if (r.status === 201) c.apply();
    return r;
  }

  /** Encrypts `text` for the group; `body` is what `POST …/messages` takes. */
  async prepareMessage(text: string, clientMessageId: string) {
    const r = await createApplicationMessage(this.state!, new TextEncoder().encode(text), this.cs);
    this.state = r.newState;
    return {
      deviceId: this.deviceId,
      epoch: this.epoch,
      message: enc({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }),
      clientMessageId,
    };
  }

  async send(conversationId: string, text: string, clientMessageId = `m-${Math.random().toString(36).slice(2)}`) {
    return this.h.request(
      'POST',
      `/v1/conversations/${conversationId}/messages`,
      await this.prepareMessage(text, clientMessageId),
      this.headers,
    );
  }

  async events(conversationId: string, after = this.cursor): Promise<{ status: number; items: ServerEvent[] }> {
    const r = await this.h.request(
      'GET',
      `/v1/conversations/${conversationId}/events?deviceId=${this.deviceId}&after=${after}`,
      undefined,
      this.headers,
    );
    return { status: r.status, items: r.status === 200 ? r.body.items : [] };
  }

  /**
   * Reads and processes every new event: joins from a welcome, applies others' commits and the
   * external sender's proposals, decrypts application messages. Returns the texts read.
   */
  async sync(conversationId: string): Promise<string[]> {
    this.conversationId = conversationId;
    const { status, items } = await this.events(conversationId);
    if (status !== 200) throw new Error(`events answered ${status}`);
    const texts: string[] = [];
    for (const e of items) {
      this.cursor = e.seq;
      const mine = 'deviceId' in e.sender && e.sender.deviceId === this.deviceId;
      if (!e.data || mine) continue;
      const m = dec(e.data);
      if (m.wireformat === 'mls_welcome') {
        if (this.state) continue;
        this.state = await this.join(m.welcome);
      } else if (this.state && (m.wireformat === 'mls_private_message' || m.wireformat === 'mls_public_message')) {
        if (e.epoch !== this.epoch) continue;
        const r = await processMessage(m, this.state, emptyPskIndex, acceptAll, this.cs);
        this.state = r.newState;
        if (r.kind === 'applicationMessage') texts.push(new TextDecoder().decode(r.message));
      }
    }
    return texts;
  }

  /** Tries to decrypt an application message with the current state (false when it cannot). */
  async canRead(data: string): Promise<boolean> {
    if (!this.state) return false;
    try {
      const m = dec(data);
      if (m.wireformat !== 'mls_private_message') return false;
      const r = await processMessage(m, this.state, emptyPskIndex, acceptAll, this.cs);
      return r.kind === 'applicationMessage';
    } catch {
      return false;
    }
  }

  private async join(welcome: Parameters<typeof joinGroup>[0]): Promise<ClientState> {
    for (const p of this.packages) {
      try {
        return await joinGroup(welcome, p.pub, p.priv, emptyPskIndex, this.cs);
      } catch {
        // Not the package the welcome was made for: try the next one.
      }
    }
    throw new Error('no key package of this device opens the welcome');
  }
}
