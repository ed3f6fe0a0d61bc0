import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.js';

/**
 * AES-256-GCM with a small versioned header so old data stays readable as formats and keys evolve.
 *
 * Format 1 (field ciphertexts, and data keys wrapped before key versions existed):
 *   byte 0: 1   byte 1: algorithm (1 = AES-256-GCM)   12-byte IV   ciphertext   16-byte tag
 * Format 2 (wrapped data keys; names the key-encryption key so a reader needs no side table):
 *   byte 0: 2   byte 1: algorithm   bytes 2..5: KEK version (uint32 BE)   byte 6: n = key-id length
 *   n bytes: KEK id (UTF-8)   12-byte IV   ciphertext   16-byte tag
 * Field ciphertexts need no key id: they are always under their patient's data key.
 * The header is authenticated together with the caller's AAD (header ‖ aad), so a header edited to
 * name another key or algorithm fails authentication instead of decrypting under the wrong key.
 */
export const FORMAT_FIELD = 1;
export const FORMAT_WRAPPED = 2;
export const ALG_AES_256_GCM = 1;
export const IV_LEN = 12;
export const TAG_LEN = 16;
const V1_HEADER_LEN = 2;

/** A parsed ciphertext: its header (authenticated as AAD prefix) and the GCM parts. */
export interface ParsedCiphertext {
  format: number;
  /** Format 2 only. */
  keyId?: string;
  keyVersion?: number;
  header: Buffer;
  iv: Buffer;
  ct: Buffer;
  tag: Buffer;
}

const malformed = (why: string) => new AppError('SP_CRYPTO_CIPHERTEXT_MALFORMED', why);

/** The format-2 header for a data key wrapped by KEK `keyId` version `version`. */
export function wrappedKeyHeader(keyId: string, version: number): Buffer {
  const id = Buffer.from(keyId, 'utf8');
  if (id.length < 1 || id.length > 255) throw new AppError('SP_SERVER_INTERNAL', 'key id must be 1-255 bytes');
  const h = Buffer.alloc(7 + id.length);
  h[0] = FORMAT_WRAPPED;
  h[1] = ALG_AES_256_GCM;
  h.writeUInt32BE(version, 2);
  h[6] = id.length;
  id.copy(h, 7);
  return h;
}

/** Splits a format-1 or format-2 ciphertext; never decrypts. Throws SP_CRYPTO_CIPHERTEXT_MALFORMED. */
export function parseCiphertext(sealed: Uint8Array): ParsedCiphertext {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < 2) throw malformed('truncated header');
  if (buf[1] !== ALG_AES_256_GCM) throw malformed('unknown algorithm');
  let headerLen: number;
  let keyId: string | undefined;
  let keyVersion: number | undefined;
  if (buf[0] === FORMAT_FIELD) headerLen = V1_HEADER_LEN;
  else if (buf[0] === FORMAT_WRAPPED) {
    if (buf.length < 7) throw malformed('truncated header');
    headerLen = 7 + buf[6]!;
    keyVersion = buf.readUInt32BE(2);
    keyId = buf.subarray(7, headerLen).toString('utf8');
  } else throw malformed('unknown format version');
  if (buf.length < headerLen + IV_LEN + TAG_LEN) throw malformed('truncated ciphertext');
  return {
    format: buf[0]!,
    keyId,
    keyVersion,
    header: buf.subarray(0, headerLen),
    iv: buf.subarray(headerLen, headerLen + IV_LEN),
    ct: buf.subarray(headerLen + IV_LEN, buf.length - TAG_LEN),
    tag: buf.subarray(buf.length - TAG_LEN),
  };
}

/** The GCM AAD for a ciphertext: its header, then the caller's context string. */
export function gcmAad(header: Buffer, aad: string): Buffer {
  return Buffer.concat([header, Buffer.from(aad, 'utf8')]);
}

function gcmSeal(key: Buffer, header: Buffer, plaintext: Buffer, aad: string): Buffer {
  if (key.length !== 32) throw new AppError('SP_SERVER_INTERNAL', 'AES-256 key must be 32 bytes');
  const iv = randomBytes(IV_LEN);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(gcmAad(header, aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, ct, cipher.getAuthTag()]);
}

/** Opens a parsed ciphertext under `key`; any failure is SP_CRYPTO_DECRYPT_FAILED, never partial output. */
export function openParsed(key: Buffer, p: ParsedCiphertext, aad: string): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, p.iv, { authTagLength: TAG_LEN });
    decipher.setAAD(gcmAad(p.header, aad));
    decipher.setAuthTag(p.tag);
    return Buffer.concat([decipher.update(p.ct), decipher.final()]);
  } catch (e) {
    throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'authentication failed', { cause: e });
  }
}

/** Seals a field (format 1). */
export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  return gcmSeal(key, Buffer.from([FORMAT_FIELD, ALG_AES_256_GCM]), plaintext, aad);
}

/** Opens a format-1 ciphertext. */
export function open(key: Buffer, sealed: Uint8Array, aad: string): Buffer {
  const p = parseCiphertext(sealed);
  if (p.format !== FORMAT_FIELD) throw malformed('not a field ciphertext');
  return openParsed(key, p, aad);
}

/** Wraps a data key under KEK `keyId`/`version` (format 2). */
export function sealWrapped(kek: Buffer, keyId: string, version: number, dataKey: Buffer, aad: string): Buffer {
  return gcmSeal(kek, wrappedKeyHeader(keyId, version), dataKey, aad);
}
