import { randomBytes, createHmac, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyProvider } from './key-provider.js';
import { open, seal } from './aead.js';
import { AppError } from '../core/errors.js';

interface KeyringFile {
  format: 'sealpost-keyring-v1';
  /** Master key-encryption key; tenant KEKs are derived from it by HMAC so new tenants need no file write. */
  kek: { id: string; key: string };
  blindIndexKey: string;
  macKey: string;
}

/**
 * Key provider backed by a JSON file in the data directory (mode 0600), generated on first start.
 * Refuses to load a file that is readable by group or others: a leaked key makes the vault moot.
 */
export class LocalKeyring implements KeyProvider {
  private readonly file: KeyringFile;
  private readonly kek: Buffer;
  private readonly tenantKeks = new Map<string, Buffer>();

  private constructor(file: KeyringFile) {
    this.file = file;
    this.kek = Buffer.from(file.kek.key, 'base64');
    if (this.kek.length !== 32) throw new AppError('SP_CRYPTO_KEYRING_INVALID', 'key must be 32 bytes');
  }

  /** Loads the keyring at `path`, creating it (0600) when it does not exist. */
  static openOrCreate(path: string): { keyring: LocalKeyring; created: boolean } {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const file: KeyringFile = {
        format: 'sealpost-keyring-v1',
        kek: { id: `local-${randomBytes(6).toString('hex')}`, key: randomBytes(32).toString('base64') },
        blindIndexKey: randomBytes(32).toString('base64'),
        macKey: randomBytes(32).toString('base64'),
      };
      // 'wx' fails if another process created it meanwhile, instead of overwriting its keys.
      writeFileSync(path, JSON.stringify(file, null, 2), { mode: 0o600, flag: 'wx' });
      return { keyring: new LocalKeyring(file), created: true };
    }
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) {
      throw new AppError('SP_CRYPTO_KEYRING_INVALID', 'keyring file is readable by group or others (chmod 600 it)');
    }
    let parsed: KeyringFile;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new AppError('SP_CRYPTO_KEYRING_INVALID', 'keyring file is not valid JSON', { cause: e });
    }
    if (parsed?.format !== 'sealpost-keyring-v1' || !parsed.kek?.key || !parsed.blindIndexKey || !parsed.macKey) {
      throw new AppError('SP_CRYPTO_KEYRING_INVALID', 'keyring file has an unknown format');
    }
    return { keyring: new LocalKeyring(parsed), created: false };
  }

  currentKeyId(tenantId: string): string {
    return `${this.file.kek.id}/${tenantId}`;
  }

  private tenantKek(tenantId: string): Buffer {
    let k = this.tenantKeks.get(tenantId);
    if (!k) {
      k = createHmac('sha256', this.kek).update(`sealpost/tenant-kek/${tenantId}`).digest();
      this.tenantKeks.set(tenantId, k);
    }
    return k;
  }

  async wrapDataKey(tenantId: string, dataKey: Buffer, aad: string) {
    return { keyId: this.currentKeyId(tenantId), wrapped: seal(this.tenantKek(tenantId), dataKey, aad) };
  }

  async unwrapDataKey(tenantId: string, keyId: string, wrapped: Buffer, aad: string): Promise<Buffer> {
    if (keyId !== this.currentKeyId(tenantId)) throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'unknown key id');
    return open(this.tenantKek(tenantId), wrapped, aad);
  }

  private readonly blindKeys = new Map<string, Buffer>();

  blindIndexKey(tenantId: string): Buffer {
    let k = this.blindKeys.get(tenantId);
    if (!k) {
      k = createHmac('sha256', Buffer.from(this.file.blindIndexKey, 'base64')).update(tenantId).digest();
      this.blindKeys.set(tenantId, k);
    }
    return k;
  }

  private logKey: { privateKey: KeyObject; publicKey: KeyObject } | null = null;

  /**
   * Ed25519 checkpoint-signing key. Its 32-byte seed is derived from the keyring's MAC secret (so
   * existing keyring files need no rewrite) and wrapped in the fixed PKCS#8 prefix for Ed25519
   * (RFC 8410 §7) so node:crypto can load it.
   */
  auditLogKey(): { privateKey: KeyObject; publicKey: KeyObject } {
    if (!this.logKey) {
      const seed = this.macKey('sealpost/audit-log-ed25519-seed');
      const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
      const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      this.logKey = { privateKey, publicKey: createPublicKey(privateKey) };
    }
    return this.logKey;
  }

  macKey(purpose: string): Buffer {
    return createHmac('sha256', Buffer.from(this.file.macKey, 'base64')).update(purpose).digest();
  }
}
