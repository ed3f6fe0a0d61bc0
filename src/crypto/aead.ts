import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.js';

/**
 * AES-256-GCM with a small versioned header so the format can evolve (rotation, new algorithms):
 *   byte 0: format version (1)   byte 1: algorithm (1 = AES-256-GCM)
 *   bytes 2..13: 96-bit random IV   then ciphertext   then 128-bit tag.
 * The header bytes are authenticated together with the caller's AAD.
 */
const VERSION = 1;
const ALG_AES_256_GCM = 1;
const IV_LEN = 12;
const TAG_LEN = 16;
const HEADER_LEN = 2;

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  if (key.length !== 32) throw new AppError('SP_SERVER_INTERNAL', 'AES-256 key must be 32 bytes');
  const header = Buffer.from([VERSION, ALG_AES_256_GCM]);
  const iv = randomBytes(IV_LEN);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.concat([header, Buffer.from(aad, 'utf8')]));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, ct, cipher.getAuthTag()]);
}

export function open(key: Buffer, sealed: Uint8Array, aad: string): Buffer {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < HEADER_LEN + IV_LEN + TAG_LEN || buf[0] !== VERSION || buf[1] !== ALG_AES_256_GCM) {
    throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'unknown or truncated ciphertext');
  }
  try {
    const iv = buf.subarray(HEADER_LEN, HEADER_LEN + IV_LEN);
    const tag = buf.subarray(buf.length - TAG_LEN);
    const ct = buf.subarray(HEADER_LEN + IV_LEN, buf.length - TAG_LEN);
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LEN });
    decipher.setAAD(Buffer.concat([buf.subarray(0, HEADER_LEN), Buffer.from(aad, 'utf8')]));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch (e) {
    throw new AppError('SP_CRYPTO_DECRYPT_FAILED', 'authentication failed', { cause: e });
  }
}
