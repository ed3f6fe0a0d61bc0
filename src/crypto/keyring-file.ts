import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../core/errors.js';
import type { KeyPurpose, KeyStatus } from './key-provider.js';
import { DEFAULT_TENANT } from '../core/domain.js';

/** One key version in the file. `material` is absent for versions derived from another secret. */
export interface KeyEntry {
  id: string;
  purpose: KeyPurpose;
  tenantId: string | null;
  version: number;
  status: KeyStatus;
  createdAt: string;
  /**
   * When this version was retired (set by the rotation that made its successor current; signing keys:
   * plus SIGNING_RETIREMENT_GRACE_MS). Files written before it existed fall back to the successor's
   * `createdAt` plus that grace.
   */
  retiredAt?: string;
  /** base64: AES key (kek), Ed25519 seed (signing), HMAC root (blind-index). */
  material?: string;
  /** Derived from `macKey` (signing v1) or `referenceKey` (blind-index v1): kept by files written before versions existed. */
  derived?: true;
  /** Signing keys only: base64 raw public key, kept after the private part is destroyed. */
  publicKey?: string;
  /** Signing keys only: the private part was destroyed; the key stays published as retired. */
  destroyed?: true;
}

/** The secret content of a keyring, whether stored plain or sealed. */
export interface KeyringPayload {
  createdAt: string;
  /**
   * Format-1 master KEK. Version 1 of the KEK of each tenant in `tenants` is HMAC(master, tenant), as
   * format 1 did; destroying such a version removes the tenant, and the master goes with the last one.
   */
  master: { id: string; key: string; tenants: string[] } | null;
  macKey: string;
  /** Key of pseudonymous references and request fingerprints (format 1's blind-index key); never rotates. */
  referenceKey: string;
  keys: KeyEntry[];
}

/** scrypt cost recorded in the file (RFC 7914); N = 2^17 is ~128 MiB and a fraction of a second. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

interface SealedBlock extends ScryptParams {
  kdf: 'scrypt';
  salt: string;
  iv: string;
  /** AES-256-GCM ciphertext of the JSON payload, tag appended. */
  ct: string;
}

type FileV1 = {
  format: 'sealpost-keyring-v1';
  kek: { id: string; key: string };
  blindIndexKey: string;
  macKey: string;
};
type FileV2 = { format: 'sealpost-keyring-v2'; sealed?: SealedBlock; keyring?: KeyringPayload };

/** The unsealing secret kept in memory so the file can be re-read and rewritten without the passphrase. */
export interface SealKey {
  key: Buffer;
  salt: string;
  params: ScryptParams;
}

const invalid = (why: string) => new AppError('SP_CRYPTO_KEYRING_INVALID', why);
const AAD = Buffer.from('sealpost-keyring-v2');

export function deriveSealKey(passphrase: string, salt: string, params: ScryptParams): SealKey {
  if (![params.N, params.r, params.p].every((n) => Number.isInteger(n) && n > 0) || params.N > 2 ** 22)
    throw invalid('bad scrypt parameters');
  const key = scryptSync(passphrase.normalize('NFC'), Buffer.from(salt, 'base64'), 32, {
    ...params,
    maxmem: 256 * params.N * params.r + 1024 * 1024,
  });
  return { key, salt, params };
}

export function newSealKey(passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): SealKey {
  return deriveSealKey(passphrase, randomBytes(16).toString('base64'), params);
}

/** Refuses files group/world can read; a leaked key file makes the vault moot. */
export function checkMode(path: string): void {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) throw invalid('keyring file is readable by group or others (chmod 600 it)');
}

/**
 * Reads the keyring at `path`. Format 1 is converted in memory (written back as format 2 on the
 * next change). `passphrase` or a `sealKey` from an earlier read opens a sealed file.
 */
export function readKeyring(
  path: string,
  unseal: { passphrase?: string; sealKey?: SealKey },
): { payload: KeyringPayload; sealKey: SealKey | null } {
  checkMode(path);
  let parsed: FileV1 | FileV2;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code)
      throw invalid(`cannot read the keyring file (${(e as NodeJS.ErrnoException).code})`);
    throw invalid('keyring file is not valid JSON');
  }
  if (parsed?.format === 'sealpost-keyring-v1') {
    if (!parsed.kek?.key || !parsed.blindIndexKey || !parsed.macKey)
      throw invalid('keyring file has an unknown format');
    const payload: KeyringPayload = {
      createdAt: statSync(path).mtime.toISOString(),
      // Format 1 only ever served the one tenant Sealpost creates.
      master: { id: parsed.kek.id, key: parsed.kek.key, tenants: [DEFAULT_TENANT] },
      macKey: parsed.macKey,
      referenceKey: parsed.blindIndexKey,
      keys: [],
    };
    return { payload, sealKey: null };
  }
  if (parsed?.format !== 'sealpost-keyring-v2') throw invalid('keyring file has an unknown format');
  if (parsed.keyring) return { payload: checkPayload(parsed.keyring), sealKey: null };
  const s = parsed.sealed;
  if (!s || s.kdf !== 'scrypt' || !s.salt || !s.iv || !s.ct) throw invalid('keyring file has an unknown format');
  const params = { N: s.N, r: s.r, p: s.p };
  let sealKey = unseal.sealKey;
  if (
    !sealKey ||
    sealKey.salt !== s.salt ||
    sealKey.params.N !== s.N ||
    sealKey.params.r !== s.r ||
    sealKey.params.p !== s.p
  ) {
    if (unseal.passphrase === undefined)
      throw new AppError(
        'SP_CRYPTO_PASSPHRASE_REQUIRED',
        'set SEALPOST_KEYRING_PASSPHRASE or SEALPOST_KEYRING_PASSPHRASE_FILE',
      );
    sealKey = deriveSealKey(unseal.passphrase, s.salt, params);
  }
  const ct = Buffer.from(s.ct, 'base64');
  if (ct.length < 17) throw invalid('sealed keyring is truncated');
  let json: string;
  try {
    const d = createDecipheriv('aes-256-gcm', sealKey.key, Buffer.from(s.iv, 'base64'), { authTagLength: 16 });
    d.setAAD(AAD);
    d.setAuthTag(ct.subarray(ct.length - 16));
    json = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8');
  } catch {
    throw new AppError('SP_CRYPTO_PASSPHRASE_INVALID', 'the passphrase does not open this keyring');
  }
  return { payload: checkPayload(JSON.parse(json)), sealKey };
}

function checkPayload(p: KeyringPayload): KeyringPayload {
  if (!p || typeof p.macKey !== 'string' || typeof p.referenceKey !== 'string' || !Array.isArray(p.keys))
    throw invalid('keyring payload has an unknown format');
  return p;
}

/**
 * Writes the keyring atomically: a temp file (0600) in the same directory, fsync, rename over the
 * old one, fsync the directory. A crash leaves either the old or the new file, never half of one.
 */
export function writeKeyring(
  path: string,
  payload: KeyringPayload,
  sealKey: SealKey | null,
  flag: 'create' | 'replace',
): void {
  let file: FileV2;
  if (sealKey) {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', sealKey.key, iv);
    c.setAAD(AAD);
    const ct = Buffer.concat([c.update(JSON.stringify(payload), 'utf8'), c.final(), c.getAuthTag()]);
    file = {
      format: 'sealpost-keyring-v2',
      sealed: {
        kdf: 'scrypt',
        ...sealKey.params,
        salt: sealKey.salt,
        iv: iv.toString('base64'),
        ct: ct.toString('base64'),
      },
    };
  } else file = { format: 'sealpost-keyring-v2', keyring: payload };
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(file, null, 2));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (flag === 'create') {
      // Never overwrite a keyring another process created meanwhile: its keys may already be in use.
      try {
        statSync(path);
        throw invalid('keyring file appeared while creating it; start again');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed or gone */
    }
    throw e;
  }
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
