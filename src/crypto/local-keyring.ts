import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { SIGNING_RETIREMENT_GRACE_MS, type KeyProvider, type KeyPurpose, type KeyVersionInfo } from './key-provider.js';
import type { PublishedSigningKey, Signer } from './signer.js';
import { parseCiphertext, openParsed, sealWrapped, FORMAT_WRAPPED } from './aead.js';
import {
  newSealKey,
  readKeyring,
  writeKeyring,
  type KeyEntry,
  type KeyringPayload,
  type ScryptParams,
  type SealKey,
} from './keyring-file.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/domain.js';

export interface LocalKeyringOptions {
  /** Seals a new file, and opens a sealed one (SEALPOST_KEYRING_PASSPHRASE[_FILE]). */
  passphrase?: string;
  /** scrypt cost for a newly sealed file (tests use a small N; the default is in keyring-file.ts). */
  scrypt?: ScryptParams;
}

/** The fixed PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7), so node:crypto loads a raw seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
export const ed25519FromSeed = (seed: Buffer): KeyObject =>
  createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const b64 = (s: string) => Buffer.from(s, 'base64');

interface Kek {
  id: string;
  version: number;
  status: 'current' | 'retired';
  createdAt: string;
  key: () => Buffer;
}

/**
 * Key provider backed by a JSON file (mode 0600), optionally sealed with a passphrase (scrypt +
 * AES-256-GCM). Holds versioned tenant KEKs, signing keys and blind-index keys. Another process (the
 * `sealpost keys` CLI) may rewrite the file; `refresh()` notices and reloads it.
 */
export class LocalKeyring implements KeyProvider {
  readonly kind = 'local';
  private payload!: KeyringPayload;
  private stamp = '';
  private readonly cache = new Map<string, Buffer>();
  private signingKeys = new Map<string, { privateKey: KeyObject | null; publicKey: KeyObject }>();
  private logKey: { privateKey: KeyObject; publicKey: KeyObject } | null = null;

  private constructor(
    private readonly path: string,
    payload: KeyringPayload,
    private sealKey: SealKey | null,
    private readonly passphrase: string | undefined,
  ) {
    this.load(payload);
  }

  /** Loads the keyring at `path`, creating it (0600, sealed when a passphrase is given) when it does not exist. */
  static openOrCreate(path: string, opts: LocalKeyringOptions = {}): { keyring: LocalKeyring; created: boolean } {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const now = new Date().toISOString();
      const payload: KeyringPayload = { createdAt: now, master: null, macKey: rnd(), referenceKey: rnd(), keys: [] };
      payload.keys.push(newEntry('kek', DEFAULT_TENANT, 1, now));
      const sealKey = opts.passphrase !== undefined ? newSealKey(opts.passphrase, opts.scrypt) : null;
      writeKeyring(path, withDerived(payload), sealKey, 'create');
      return { keyring: new LocalKeyring(path, withDerived(payload), sealKey, opts.passphrase), created: true };
    }
    const { payload, sealKey } = readKeyring(path, { passphrase: opts.passphrase });
    return { keyring: new LocalKeyring(path, payload, sealKey, opts.passphrase), created: false };
  }

  private load(payload: KeyringPayload): void {
    for (const b of this.cache.values()) b.fill(0);
    this.cache.clear();
    this.signingKeys.clear();
    this.payload = withDerived(payload);
    try {
      const st = statSync(this.path);
      this.stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      this.stamp = '';
    }
  }

  async refresh(): Promise<boolean> {
    return this.reloadIfChanged();
  }

  /** Synchronous: a stat, and a re-read only when the file changed (the seal key is kept, no scrypt). */
  private reloadIfChanged(): boolean {
    const st = statSync(this.path);
    if (`${st.ino}:${st.size}:${st.mtimeMs}` === this.stamp) return false;
    const r = readKeyring(this.path, { passphrase: this.passphrase, sealKey: this.sealKey ?? undefined });
    this.sealKey = r.sealKey;
    this.load(r.payload);
    return true;
  }

  /** Re-reads the file, applies `fn`, writes it atomically (sealed again when it was sealed). */
  private async mutate<T>(fn: (p: KeyringPayload) => T): Promise<T> {
    await this.refresh();
    const next = structuredClone(this.payload);
    const out = fn(next);
    writeKeyring(this.path, next, this.sealKey, 'replace');
    this.load(next);
    return out;
  }

  /** Writes the file sealed under `passphrase` (`sealpost keys seal`), or plain when `passphrase` is null. */
  async reseal(passphrase: string | null, scrypt?: ScryptParams): Promise<void> {
    await this.refresh();
    this.sealKey = passphrase === null ? null : newSealKey(passphrase, scrypt);
    await this.mutate(() => undefined);
  }

  // --- KEKs -------------------------------------------------------------------------------------
  private keks(tenantId: string): Kek[] {
    const out: Kek[] = this.payload.keys
      .filter((k) => k.purpose === 'kek' && k.tenantId === tenantId)
      .map((k) => ({
        id: k.id,
        version: k.version,
        status: k.status,
        createdAt: k.createdAt,
        key: () => b64(k.material!),
      }));
    const m = this.payload.master;
    if (m && m.tenants.includes(tenantId)) {
      // Format-1 derivation: tenant KEKs need no file write, and old wrapped keys name `<master>/<tenant>`.
      out.push({
        id: `${m.id}/${tenantId}`,
        version: 1,
        status: out.length ? 'retired' : 'current',
        createdAt: this.payload.createdAt,
        key: () => hmac(b64(m.key), `sealpost/tenant-kek/${tenantId}`),
      });
    }
    return out.sort((a, b) => b.version - a.version);
  }

  private kekById(tenantId: string, keyId: string): Kek | undefined {
    return this.keks(tenantId).find((k) => k.id === keyId);
  }

  currentKeyId(tenantId: string): string {
    const k = this.keks(tenantId)[0];
    if (!k) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'this tenant has no key-encryption key yet');
    return k.id;
  }

  private kekBytes(k: Kek): Buffer {
    let b = this.cache.get(k.id);
    if (!b) this.cache.set(k.id, (b = k.key()));
    return b;
  }

  async wrapDataKey(tenantId: string, dataKey: Buffer, aad: string) {
    let k = this.keks(tenantId)[0];
    if (!k) {
      await this.createKeyVersion('kek', tenantId);
      k = this.keks(tenantId)[0]!;
    }
    return { keyId: k.id, wrapped: sealWrapped(this.kekBytes(k), k.id, k.version, dataKey, aad) };
  }

  async unwrapDataKey(tenantId: string, keyId: string, wrapped: Buffer, aad: string): Promise<Buffer> {
    const p = parseCiphertext(wrapped);
    if (p.format === FORMAT_WRAPPED && p.keyId !== keyId)
      throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'the wrapped key names another key');
    let k = this.kekById(tenantId, keyId);
    if (!k && (await this.refresh())) k = this.kekById(tenantId, keyId);
    if (!k)
      throw new AppError(
        'SP_CRYPTO_KEY_UNKNOWN',
        'no such key-encryption key (retired and destroyed, or another keyring)',
      );
    if (p.format === FORMAT_WRAPPED && p.keyVersion !== k.version)
      throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'the wrapped key names another key version');
    return openParsed(this.kekBytes(k), p, aad);
  }

  // --- blind indexes and MAC keys ---------------------------------------------------------------
  blindIndex(tenantId: string, field: string, normalisedValue: string, version?: number | 'reference'): string {
    let root: Buffer;
    let cacheId: string;
    if (version === 'reference') {
      root = b64(this.payload.referenceKey);
      cacheId = 'ref';
    } else {
      const entries = this.payload.keys.filter((k) => k.purpose === 'blind-index');
      const e =
        version === undefined
          ? entries.find((k) => k.status === 'current')
          : entries.find((k) => k.version === version);
      if (!e) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no such blind-index key version');
      // Version 1 shares the reference key, so indexes written before versions existed stay valid.
      root = e.derived ? b64(this.payload.referenceKey) : b64(e.material!);
      cacheId = e.derived ? 'ref' : e.id;
    }
    const id = `bidx:${cacheId}:${tenantId}`;
    let k = this.cache.get(id);
    if (!k) this.cache.set(id, (k = createHmac('sha256', root).update(tenantId).digest()));
    return createHmac('sha256', k).update(`${field}\u0000${normalisedValue}`).digest('hex');
  }

  blindIndexVersions(): number[] {
    const e = this.payload.keys.filter((k) => k.purpose === 'blind-index');
    return [
      ...e.filter((k) => k.status === 'current'),
      ...e.filter((k) => k.status !== 'current').sort((a, b) => b.version - a.version),
    ].map((k) => k.version);
  }

  macKey(purpose: string): Buffer {
    return hmac(b64(this.payload.macKey), purpose);
  }

  /** Seed derived from the MAC secret as in format 1, so the checkpoint verifier key never changes. */
  auditLogKey(): { privateKey: KeyObject; publicKey: KeyObject } {
    if (!this.logKey) {
      const privateKey = ed25519FromSeed(this.macKey('sealpost/audit-log-ed25519-seed'));
      this.logKey = { privateKey, publicKey: createPublicKey(privateKey) };
    }
    return this.logKey;
  }

  // --- signing keys -----------------------------------------------------------------------------
  private signingKey(e: KeyEntry) {
    let k = this.signingKeys.get(e.id);
    if (!k) {
      if (e.destroyed)
        k = {
          privateKey: null,
          publicKey: createPublicKey({
            key: { kty: 'OKP', crv: 'Ed25519', x: b64(e.publicKey!).toString('base64url') },
            format: 'jwk',
          }),
        };
      else {
        const privateKey = ed25519FromSeed(e.derived ? this.macKey('sealpost/signing-ed25519-v1') : b64(e.material!));
        k = { privateKey, publicKey: createPublicKey(privateKey) };
      }
      this.signingKeys.set(e.id, k);
    }
    return k;
  }

  signer(): Signer {
    // A rotation by another process (`sealpost keys rotate`) is followed before this signature, not
    // only at the next refresh: the retired key's validity ends with its retiredAt.
    try {
      this.reloadIfChanged();
    } catch {
      /* an unreadable file is reported by the periodic refresh; sign with the keys loaded */
    }
    const e = this.payload.keys.find((k) => k.purpose === 'signing' && k.status === 'current')!;
    const { privateKey, publicKey } = this.signingKey(e);
    return { keyId: e.id, alg: 'EdDSA', publicKey, sign: async (data) => sign(null, data, privateKey!) };
  }

  publishedSigningKeys(): PublishedSigningKey[] {
    return this.payload.keys
      .filter((k) => k.purpose === 'signing')
      .sort((a, b) => b.version - a.version)
      .map((e) => ({
        keyId: e.id,
        alg: 'EdDSA' as const,
        publicKey: this.signingKey(e).publicKey,
        status: e.status,
        createdAt: e.createdAt,
        notBefore: e.createdAt,
        ...(e.status === 'retired' ? { retiredAt: this.retiredAt(e) } : {}),
      }));
  }

  /** A retired version's end, from its own record; files older than that field: its successor's creation plus the grace. */
  private retiredAt(e: KeyEntry): string {
    if (e.retiredAt) return e.retiredAt;
    const next = this.payload.keys
      .filter((k) => k.purpose === e.purpose && k.tenantId === e.tenantId && k.version > e.version)
      .sort((a, b) => a.version - b.version)[0];
    const grace = e.purpose === 'signing' ? SIGNING_RETIREMENT_GRACE_MS : 0;
    return new Date(Date.parse(next?.createdAt ?? e.createdAt) + grace).toISOString();
  }

  // --- versions ---------------------------------------------------------------------------------
  listKeys(): KeyVersionInfo[] {
    const tenants = new Set<string>([
      ...(this.payload.master?.tenants ?? []),
      ...this.payload.keys.filter((k) => k.tenantId).map((k) => k.tenantId!),
    ]);
    const keks = [...tenants].flatMap((t) =>
      this.keks(t).map((k) => ({
        keyId: k.id,
        purpose: 'kek' as const,
        tenantId: t,
        version: k.version,
        status: k.status,
        createdAt: k.createdAt,
      })),
    );
    const others = this.payload.keys
      .filter((k) => k.purpose !== 'kek')
      .map((k) => ({
        keyId: k.id,
        purpose: k.purpose,
        tenantId: null,
        version: k.version,
        status: k.status,
        createdAt: k.createdAt,
        ...(k.status === 'retired' ? { retiredAt: this.retiredAt(k) } : {}),
      }));
    return [...keks, ...others];
  }

  async createKeyVersion(purpose: KeyPurpose, tenantId: string | null): Promise<KeyVersionInfo> {
    const t = purpose === 'kek' ? (tenantId ?? DEFAULT_TENANT) : null;
    const entry = await this.mutate((p) => {
      const view = new LocalKeyringView(p);
      const version = Math.max(0, ...view.versions(purpose, t)) + 1;
      const now = Date.now();
      // The retired version's record says when: signing keys stay valid for the grace (key-provider.ts).
      const retiredAt = new Date(now + (purpose === 'signing' ? SIGNING_RETIREMENT_GRACE_MS : 0)).toISOString();
      for (const k of p.keys)
        if (k.purpose === purpose && k.tenantId === t && k.status === 'current') {
          k.status = 'retired';
          k.retiredAt ??= retiredAt;
        }
      const e = newEntry(purpose, t, version, new Date(now).toISOString());
      p.keys.push(e);
      return e;
    });
    return {
      keyId: entry.id,
      purpose,
      tenantId: t,
      version: entry.version,
      status: 'current',
      createdAt: entry.createdAt,
    };
  }

  async destroyKeyVersion(keyId: string): Promise<void> {
    await this.refresh();
    const info = this.listKeys().find((k) => k.keyId === keyId);
    if (!info) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no such key id');
    if (info.status === 'current')
      throw new AppError('SP_CRYPTO_KEY_IN_USE', 'the current version cannot be destroyed; rotate first');
    await this.mutate((p) => {
      const m = p.master;
      if (m && info.purpose === 'kek' && keyId === `${m.id}/${info.tenantId}`) {
        m.tenants = m.tenants.filter((t) => t !== info.tenantId);
        // The master derives nothing else now: drop it, so an old backup's wrapped keys stay sealed.
        if (!m.tenants.length) p.master = null;
        return;
      }
      const e = p.keys.find((k) => k.id === keyId)!;
      if (e.purpose === 'signing') {
        // Retired signatures must still verify: keep the public key, drop the private part.
        e.publicKey = Buffer.from(this.signingKey(e).publicKey.export({ format: 'jwk' }).x!, 'base64url').toString(
          'base64',
        );
        delete e.material;
        e.destroyed = true;
      } else p.keys = p.keys.filter((k) => k.id !== keyId);
    });
  }

  async close(): Promise<void> {
    for (const b of this.cache.values()) b.fill(0);
    this.cache.clear();
  }
}

/** Version numbers present for a purpose (including format-1 derived ones). */
class LocalKeyringView {
  constructor(private readonly p: KeyringPayload) {}
  versions(purpose: KeyPurpose, tenantId: string | null): number[] {
    const v = this.p.keys.filter((k) => k.purpose === purpose && k.tenantId === tenantId).map((k) => k.version);
    if (purpose === 'kek' && this.p.master && tenantId && this.p.master.tenants.includes(tenantId)) v.push(1);
    return v;
  }
}

const rnd = () => randomBytes(32).toString('base64');

function newEntry(purpose: KeyPurpose, tenantId: string | null, version: number, createdAt: string): KeyEntry {
  const tag = purpose === 'kek' ? `kek:${tenantId}` : purpose === 'signing' ? 'sig' : 'bidx';
  return {
    id: `local:${tag}:v${version}:${randomBytes(4).toString('hex')}`,
    purpose,
    tenantId,
    version,
    status: 'current',
    createdAt,
    material: rnd(),
  };
}

/**
 * Signing and blind-index version 1 are derived (from the MAC secret and the reference key), so files
 * written before key versions existed get them without a write, with ids stable across loads.
 */
function withDerived(p: KeyringPayload): KeyringPayload {
  const fp = (label: string) => createHash('sha256').update(b64(p.macKey)).update(label).digest('hex').slice(0, 8);
  const keys = [...p.keys];
  if (!keys.some((k) => k.purpose === 'signing'))
    keys.push({
      id: `local:sig:v1:${fp('sig')}`,
      purpose: 'signing',
      tenantId: null,
      version: 1,
      status: 'current',
      createdAt: p.createdAt,
      derived: true,
    });
  if (!keys.some((k) => k.purpose === 'blind-index')) {
    keys.push({
      id: `local:bidx:v1:${fp('bidx')}`,
      purpose: 'blind-index',
      tenantId: null,
      version: 1,
      status: 'current',
      createdAt: p.createdAt,
      derived: true,
    });
  }
  return { ...p, keys };
}
