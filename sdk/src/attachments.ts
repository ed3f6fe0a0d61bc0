/**
 * Attachments encrypted on the client before upload. The server stores only the ciphertext; the
 * key, digest and size travel inside the MLS application message that names the attachment.
 *
 * Format (version 1), all of it what the server stores:
 *   header  = 0x01 (version) || prefix (4 random bytes)
 *   chunk i = AES-256-GCM(key, nonce = prefix || uint64be(i), aad = header || last, plaintext[i])
 * where the plaintext is cut in 64 KiB chunks (an empty file is one empty chunk) and `last` is one
 * byte, 1 on the final chunk and 0 on every other. The counter in the nonce detects reordered or
 * dropped chunks; the flag in the AAD detects a file cut at a chunk boundary (the new last chunk was
 * sealed with 0) and one with chunks appended. A fresh random key per file makes the 4-byte prefix
 * a safeguard, not a necessity: no (key, nonce) pair can repeat.
 *
 * Pure WebCrypto (`globalThis.crypto.subtle`): runs in Node 20 and in browsers.
 */

/** Plaintext bytes per chunk. */
export const ATTACHMENT_CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const VERSION = 1;
const HEADER_BYTES = 5;
const SEALED_CHUNK_BYTES = ATTACHMENT_CHUNK_BYTES + TAG_BYTES;

/** What a recipient needs to open an attachment (sent inside the MLS message, never to the server alone). */
export interface AttachmentSecrets {
  /** The raw 256-bit AES key (fresh per file). */
  key: Uint8Array;
  /** SHA-256 of the whole ciphertext: checked before anything is decrypted. */
  digest: Uint8Array;
}

export interface EncryptedAttachment extends AttachmentSecrets {
  /** What to upload (`POST /v1/conversations/{id}/attachments`). */
  ciphertext: Uint8Array;
  /** Plaintext size in bytes. */
  size: number;
}

/** An attachment that does not open: wrong key, altered, truncated, reordered or of an unknown format. */
export class AttachmentError extends Error {
  constructor(
    readonly reason: 'digest-mismatch' | 'malformed' | 'decryption-failed' | 'size-mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'AttachmentError';
  }
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (globalThis.crypto.subtle) is not available');
  return s;
}

function nonce(prefix: Uint8Array, counter: number): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(12);
  n.set(prefix, 0);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter), false);
  return n;
}

function aad(header: Uint8Array, last: boolean): Uint8Array<ArrayBuffer> {
  const a = new Uint8Array(HEADER_BYTES + 1);
  a.set(header, 0);
  a[HEADER_BYTES] = last ? 1 : 0;
  return a;
}

/** A copy backed by its own ArrayBuffer (WebCrypto's BufferSource typing, and no aliasing of the caller's buffer). */
function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

async function importKey(raw: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  if (raw.length !== 32) throw new AttachmentError('malformed', 'an attachment key is 32 bytes');
  return subtle().importKey('raw', own(raw), { name: 'AES-GCM' }, false, [usage]);
}

/** The plaintext in 64 KiB chunks, whether it came whole or as a stream of arbitrary pieces. */
async function* chunksOf(input: Uint8Array | ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (input instanceof Uint8Array) {
    for (let i = 0; i < input.length; i += ATTACHMENT_CHUNK_BYTES) yield input.subarray(i, i + ATTACHMENT_CHUNK_BYTES);
    return;
  }
  const reader = input.getReader();
  let buf = new Uint8Array(ATTACHMENT_CHUNK_BYTES);
  let fill = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let off = 0;
      while (off < value.length) {
        const n = Math.min(ATTACHMENT_CHUNK_BYTES - fill, value.length - off);
        buf.set(value.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === ATTACHMENT_CHUNK_BYTES) {
          yield buf;
          buf = new Uint8Array(ATTACHMENT_CHUNK_BYTES);
          fill = 0;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Encrypts a file (bytes or a stream of bytes) under a fresh random key. */
export async function encryptAttachment(input: Uint8Array | ReadableStream<Uint8Array>): Promise<EncryptedAttachment> {
  const rawKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const key = await importKey(rawKey, 'encrypt');
  const header = new Uint8Array(HEADER_BYTES);
  header[0] = VERSION;
  globalThis.crypto.getRandomValues(header.subarray(1));
  const prefix = header.subarray(1);
  const parts: Uint8Array[] = [header];
  let size = 0;
  let counter = 0;
  // One chunk is held back so the last one can be flagged once the input ends.
  let pending: Uint8Array | null = null;
  const seal = async (plain: Uint8Array, last: boolean) => {
    const sealed = await subtle().encrypt(
      { name: 'AES-GCM', iv: nonce(prefix, counter++), additionalData: aad(header, last), tagLength: 128 },
      key,
      own(plain),
    );
    parts.push(new Uint8Array(sealed));
  };
  for await (const chunk of chunksOf(input)) {
    if (pending) await seal(pending, false);
    pending = chunk;
    size += chunk.length;
  }
  await seal(pending ?? new Uint8Array(0), true);
  const ciphertext = concat(parts);
  const digest = new Uint8Array(await subtle().digest('SHA-256', own(ciphertext)));
  return { ciphertext, key: rawKey, digest, size };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * Opens an attachment: refuses (AttachmentError) one whose SHA-256 is not `digest` before
 * decrypting anything, then one whose chunks do not all verify in order, or (when `size` is given)
 * whose plaintext has another size.
 */
export async function decryptAttachment(
  ciphertext: Uint8Array,
  secrets: AttachmentSecrets & { size?: number },
): Promise<Uint8Array> {
  const digest = new Uint8Array(await subtle().digest('SHA-256', own(ciphertext)));
  if (!sameBytes(digest, secrets.digest))
    throw new AttachmentError('digest-mismatch', 'the attachment is not the one the message names');
  if (ciphertext.length < HEADER_BYTES + TAG_BYTES || ciphertext[0] !== VERSION)
    throw new AttachmentError('malformed', 'not a version 1 Sealpost attachment');
  const key = await importKey(secrets.key, 'decrypt');
  const header = ciphertext.subarray(0, HEADER_BYTES);
  const prefix = header.subarray(1);
  const body = ciphertext.subarray(HEADER_BYTES);
  const parts: Uint8Array[] = [];
  let counter = 0;
  for (let off = 0; off < body.length; off += SEALED_CHUNK_BYTES) {
    const sealed = body.subarray(off, off + SEALED_CHUNK_BYTES);
    const last = off + SEALED_CHUNK_BYTES >= body.length;
    if (sealed.length < TAG_BYTES) throw new AttachmentError('malformed', 'a chunk is shorter than its tag');
    try {
      const plain = await subtle().decrypt(
        { name: 'AES-GCM', iv: nonce(prefix, counter++), additionalData: aad(header, last), tagLength: 128 },
        key,
        own(sealed),
      );
      parts.push(new Uint8Array(plain));
    } catch {
      throw new AttachmentError('decryption-failed', `chunk ${counter - 1} does not verify`);
    }
  }
  const plain = concat(parts);
  if (secrets.size !== undefined && plain.length !== secrets.size)
    throw new AttachmentError('size-mismatch', 'the attachment has another size than the message says');
  return plain;
}
