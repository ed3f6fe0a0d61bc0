import { createHmac, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { SIGNING_RETIREMENT_GRACE_MS, type KeyProvider, type KeyPurpose, type KeyVersionInfo } from './key-provider.js';
import type { PublishedSigningKey, Signer } from './signer.js';
import { parseCiphertext, gcmAad, wrappedKeyHeader, FORMAT_WRAPPED, IV_LEN } from './aead.js';
import { Pkcs11Session, type Pkcs11Target, type TokenObject } from './pkcs11-session.js';
import { ed25519FromSeed } from './local-keyring.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/domain.js';

const CKO_PUBLIC_KEY = 2;
const CKO_PRIVATE_KEY = 3;
const CKO_SECRET_KEY = 4;

/** A versioned object on the token; its label is the key id: `sealpost:kek:<tenant>:v<n>`, `sealpost:bidx:v<n>`, `sealpost:sig:v<n>`. */
interface Versioned {
  keyId: string;
  purpose: KeyPurpose;
  tenantId: string | null;
  version: number;
  createdAt: string;
  /** Set by the rotation that retired it, in the objects' own CKA_ID. */
  retiredAt?: string;
  handle: Buffer;
  /** Signing keys: the public object (stays after the private one is destroyed). */
  publicHandle?: Buffer;
}

const LABEL = /^sealpost:(?:kek:(.+):v(\d+)|(bidx|sig):v(\d+))$/;
const RETIRED = ';retired=';
/** An object's CKA_ID: `<createdAt>` or `<createdAt>;retired=<retiredAt>`. */
const parseId = (id: string) => {
  const [createdAt, retiredAt] = id.split(RETIRED);
  return { createdAt: createdAt!, retiredAt };
};

/**
 * Key provider on a PKCS#11 token (an HSM; tested against SoftHSM2). Tenant KEKs are non-extractable
 * AES-256 token objects and data keys are wrapped/unwrapped inside the token with AES-GCM (the same
 * format-2 header as the local keyring). Notification signatures are made in the token (CKM_EDDSA).
 * The MAC and blind-index roots are non-extractable HMAC keys; the keys the synchronous request paths
 * need are derived from them inside the token at start (HMAC), so only derived keys are in memory.
 */
export class Pkcs11KeyProvider implements KeyProvider {
  readonly kind = 'pkcs11';
  private versions: Versioned[] = [];
  private singles = new Map<string, Buffer>();
  private derived = new Map<string, Buffer>();
  private publicKeys = new Map<string, KeyObject>();
  private fingerprint = '';
  private logKey: { privateKey: KeyObject; publicKey: KeyObject } | null = null;

  private constructor(private readonly s: Pkcs11Session) {
    this.scan();
  }

  /** Logs in and, on a token without Sealpost keys, creates the first version of each. */
  static async open(t: Pkcs11Target): Promise<{ provider: Pkcs11KeyProvider; created: boolean }> {
    const s = Pkcs11Session.open(t);
    let created = false;
    if (!s.objects().some((o) => o.label === 'sealpost:mac')) {
      s.createHmacKey('sealpost:reference');
      s.createAesKey('sealpost:kek:default:v1');
      s.createHmacKey('sealpost:bidx:v1');
      s.createEd25519('sealpost:sig:v1');
      // Last: its presence marks a complete set, so a crash above is redone on the next start.
      s.createHmacKey('sealpost:mac');
      created = true;
    }
    return { provider: new Pkcs11KeyProvider(s), created };
  }

  /** Reads the token's object list into memory; returns whether it differs from the last scan. */
  private scan(): boolean {
    const objs: TokenObject[] = this.s.objects();
    const fp = objs
      .map((o) => `${o.label}/${o.cls}/${o.id}`)
      .sort()
      .join('|');
    if (fp === this.fingerprint) return false;
    this.fingerprint = fp;
    const byId = new Map<string, Versioned>();
    this.singles.clear();
    for (const o of objs) {
      if (o.cls === CKO_SECRET_KEY && (o.label === 'sealpost:mac' || o.label === 'sealpost:reference'))
        this.singles.set(o.label, o.handle);
      const m = LABEL.exec(o.label);
      if (!m) continue;
      const purpose: KeyPurpose = m[1] !== undefined ? 'kek' : m[3] === 'bidx' ? 'blind-index' : 'signing';
      const id = parseId(o.id);
      const v = byId.get(o.label) ?? {
        keyId: o.label,
        purpose,
        tenantId: m[1] ?? null,
        version: Number(m[2] ?? m[4]),
        createdAt: id.createdAt,
        handle: Buffer.alloc(0),
      };
      v.retiredAt ??= id.retiredAt;
      if (o.cls === CKO_PUBLIC_KEY) v.publicHandle = o.handle;
      else if (o.cls === CKO_SECRET_KEY || o.cls === CKO_PRIVATE_KEY) v.handle = o.handle;
      byId.set(o.label, v);
    }
    this.versions = [...byId.values()].sort((a, b) => b.version - a.version);
    for (const b of this.derived.values()) b.fill(0);
    this.derived.clear();
    if (!this.singles.has('sealpost:mac') || !this.singles.has('sealpost:reference'))
      throw new AppError('SP_CRYPTO_HSM_UNAVAILABLE', 'the token lacks the Sealpost MAC or reference key');
    return true;
  }

  async refresh(): Promise<boolean> {
    return this.scan();
  }

  private live(purpose: KeyPurpose, tenantId: string | null): Versioned[] {
    // Destroyed signing keys keep their public object (handle empty): published, never current.
    return this.versions.filter((v) => v.purpose === purpose && (purpose !== 'kek' || v.tenantId === tenantId));
  }

  private currentOf(purpose: KeyPurpose, tenantId: string | null): Versioned | undefined {
    return this.live(purpose, tenantId).find((v) => v.handle.length > 0);
  }

  currentKeyId(tenantId: string): string {
    const k = this.currentOf('kek', tenantId);
    if (!k) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'this tenant has no key-encryption key yet');
    return k.keyId;
  }

  async wrapDataKey(tenantId: string, dataKey: Buffer, aad: string) {
    let k = this.currentOf('kek', tenantId);
    if (!k) {
      await this.createKeyVersion('kek', tenantId);
      k = this.currentOf('kek', tenantId)!;
    }
    const header = wrappedKeyHeader(k.keyId, k.version);
    const iv = randomBytes(IV_LEN);
    const ct = this.s.encrypt(k.handle, iv, gcmAad(header, aad), dataKey);
    return { keyId: k.keyId, wrapped: Buffer.concat([header, iv, ct]) };
  }

  async unwrapDataKey(tenantId: string, keyId: string, wrapped: Buffer, aad: string): Promise<Buffer> {
    const p = parseCiphertext(wrapped);
    if (p.format !== FORMAT_WRAPPED)
      throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'this data key was wrapped by another key provider');
    if (p.keyId !== keyId) throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'the wrapped key names another key');
    const find = () => this.live('kek', tenantId).find((v) => v.keyId === keyId && v.handle.length > 0);
    let k = find();
    if (!k && this.scan()) k = find();
    if (!k) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no such key-encryption key on the token');
    if (p.keyVersion !== k.version)
      throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'the wrapped key names another key version');
    try {
      return this.s.decrypt(k.handle, p.iv, gcmAad(p.header, aad), Buffer.concat([p.ct, p.tag]));
    } catch (e) {
      throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'authentication failed', { cause: e });
    }
  }

  /** An HMAC computed inside the token once, then kept (the token key itself never leaves). */
  private derive(handle: Buffer, label: string): Buffer {
    let d = this.derived.get(label);
    if (!d) this.derived.set(label, (d = this.s.hmac(handle, Buffer.from(label))));
    return d;
  }

  blindIndex(tenantId: string, field: string, normalisedValue: string, version?: number | 'reference'): string {
    let root: Buffer;
    if (version === 'reference') root = this.derive(this.singles.get('sealpost:reference')!, 'sealpost/reference-root');
    else {
      const all = this.live('blind-index', null);
      const v = version === undefined ? all[0] : all.find((x) => x.version === version);
      if (!v) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no such blind-index key version');
      root = this.derive(v.handle, `sealpost/blind-index-root/${v.keyId}`);
    }
    const tk = createHmac('sha256', root).update(tenantId).digest();
    return createHmac('sha256', tk).update(`${field}\u0000${normalisedValue}`).digest('hex');
  }

  blindIndexVersions(): number[] {
    return this.live('blind-index', null).map((v) => v.version);
  }

  macKey(purpose: string): Buffer {
    return createHmac('sha256', this.derive(this.singles.get('sealpost:mac')!, 'sealpost/mac-root'))
      .update(purpose)
      .digest();
  }

  auditLogKey(): { privateKey: KeyObject; publicKey: KeyObject } {
    if (!this.logKey) {
      const privateKey = ed25519FromSeed(this.macKey('sealpost/audit-log-ed25519-seed'));
      this.logKey = { privateKey, publicKey: createPublicKey(privateKey) };
    }
    return this.logKey;
  }

  private publicKey(v: Versioned): KeyObject {
    let k = this.publicKeys.get(v.keyId);
    if (!k) {
      const x = this.s.ed25519Public(v.publicHandle!).toString('base64url');
      this.publicKeys.set(v.keyId, (k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })));
    }
    return k;
  }

  signer(): Signer {
    let v = this.currentOf('signing', null);
    // A rotation by another process marks this key's own record: follow it before signing, not only
    // at the next refresh (one attribute read), so no signature is dated after the key's retiredAt.
    if (v?.handle.length && parseId(this.s.idOf(v.handle)).retiredAt !== undefined) {
      this.scan();
      v = this.currentOf('signing', null);
    }
    if (!v?.publicHandle) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no current signing key on the token');
    const handle = v.handle;
    return {
      keyId: v.keyId,
      alg: 'EdDSA',
      publicKey: this.publicKey(v),
      sign: async (data) => this.s.signEd25519(handle, data),
    };
  }

  publishedSigningKeys(): PublishedSigningKey[] {
    const cur = this.currentOf('signing', null)?.keyId;
    return this.live('signing', null)
      .filter((v) => v.publicHandle)
      .map((v) => ({
        keyId: v.keyId,
        alg: 'EdDSA' as const,
        publicKey: this.publicKey(v),
        status: v.keyId === cur ? ('current' as const) : ('retired' as const),
        createdAt: v.createdAt,
        notBefore: v.createdAt,
        ...(v.keyId === cur ? {} : { retiredAt: this.retiredAt(v) }),
      }));
  }

  /**
   * A retired version's end, from its own record; a token written before that mark (or a rotation
   * interrupted between creating the successor and marking this one): the successor's creation plus the grace.
   */
  private retiredAt(v: Versioned): string {
    if (v.retiredAt) return v.retiredAt;
    const next = this.live(v.purpose, v.tenantId)
      .filter((x) => x.version > v.version)
      .sort((a, b) => a.version - b.version)[0];
    const grace = v.purpose === 'signing' ? SIGNING_RETIREMENT_GRACE_MS : 0;
    return new Date(Date.parse(next?.createdAt ?? v.createdAt) + grace).toISOString();
  }

  listKeys(): KeyVersionInfo[] {
    const current = new Set(
      this.versions.filter((v) => v.handle.length).map((v) => this.currentOf(v.purpose, v.tenantId)?.keyId),
    );
    return this.versions.map((v) => ({
      keyId: v.keyId,
      purpose: v.purpose,
      tenantId: v.tenantId,
      version: v.version,
      status: current.has(v.keyId) ? 'current' : 'retired',
      createdAt: v.createdAt,
      ...(current.has(v.keyId) ? {} : { retiredAt: this.retiredAt(v) }),
    }));
  }

  async createKeyVersion(purpose: KeyPurpose, tenantId: string | null): Promise<KeyVersionInfo> {
    this.scan();
    const t = purpose === 'kek' ? (tenantId ?? DEFAULT_TENANT) : null;
    const version = Math.max(0, ...this.live(purpose, t).map((v) => v.version)) + 1;
    const label =
      purpose === 'kek'
        ? `sealpost:kek:${t}:v${version}`
        : `sealpost:${purpose === 'signing' ? 'sig' : 'bidx'}:v${version}`;
    const previous = this.currentOf(purpose, t);
    if (purpose === 'kek') this.s.createAesKey(label);
    else if (purpose === 'signing') this.s.createEd25519(label);
    else this.s.createHmacKey(label);
    // The successor exists first: then the previous version's own record says when it was retired
    // (a crash between the two leaves the fallback in `retiredAt`).
    if (previous) {
      const grace = purpose === 'signing' ? SIGNING_RETIREMENT_GRACE_MS : 0;
      const at = new Date(Date.now() + grace).toISOString();
      for (const o of this.s.objects().filter((x) => x.label === previous.keyId && !x.id.includes(RETIRED)))
        this.s.setId(o.handle, `${parseId(o.id).createdAt}${RETIRED}${at}`);
    }
    this.scan();
    return this.listKeys().find((k) => k.keyId === label)!;
  }

  async destroyKeyVersion(keyId: string): Promise<void> {
    this.scan();
    const info = this.listKeys().find((k) => k.keyId === keyId);
    const v = this.versions.find((x) => x.keyId === keyId);
    if (!info || !v || !v.handle.length)
      throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no such key id (or already destroyed)');
    if (info.status === 'current')
      throw new AppError('SP_CRYPTO_KEY_IN_USE', 'the current version cannot be destroyed; rotate first');
    // Signing: only the private half goes; the public object keeps old proofs verifiable.
    this.s.destroy(v.handle);
    this.scan();
  }

  async close(): Promise<void> {
    for (const b of this.derived.values()) b.fill(0);
    this.derived.clear();
    this.s.close();
  }
}
