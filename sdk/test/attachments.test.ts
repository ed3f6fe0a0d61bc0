import { describe, expect, it } from 'vitest';
import { ATTACHMENT_CHUNK_BYTES, AttachmentError, decryptAttachment, encryptAttachment } from '../src/attachments.js';

const CHUNK = ATTACHMENT_CHUNK_BYTES;
const SEALED = CHUNK + 16;
const HEADER = 5;

function bytes(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function sha256(b: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(b)));
}

/** Decrypts an altered ciphertext with a digest that matches it: the chunk layer alone must refuse. */
async function openAltered(ciphertext: Uint8Array, key: Uint8Array): Promise<unknown> {
  return decryptAttachment(ciphertext, { key, digest: await sha256(ciphertext) }).catch((e: unknown) => e);
}

function streamOf(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + piece));
      off += piece;
    },
  });
}

describe('attachment encryption (AES-256-GCM in 64 KiB chunks)', () => {
  for (const size of [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17]) {
    it(`round-trips a file of ${size} bytes and reports its size`, async () => {
      const plain = bytes(size);
      const enc = await encryptAttachment(plain);
      expect(enc.size).toBe(size);
      expect(enc.key).toHaveLength(32);
      expect(enc.digest).toEqual(await sha256(enc.ciphertext));
      const chunks = Math.max(1, Math.ceil(size / CHUNK));
      expect(enc.ciphertext.length).toBe(HEADER + size + 16 * chunks);
      expect(await decryptAttachment(enc.ciphertext, { key: enc.key, digest: enc.digest, size })).toEqual(plain);
    });
  }

  it('encrypts a stream given in odd-sized pieces the same way as whole bytes', async () => {
    const plain = bytes(2 * CHUNK + 5000, 3);
    const enc = await encryptAttachment(streamOf(plain, 10_007));
    expect(enc.size).toBe(plain.length);
    expect(enc.ciphertext.length).toBe(HEADER + plain.length + 16 * 3);
    expect(await decryptAttachment(enc.ciphertext, enc)).toEqual(plain);
  });

  it('uses a fresh key and nonce prefix for every file, so the same file never encrypts the same way', async () => {
    const plain = bytes(100);
    const a = await encryptAttachment(plain);
    const b = await encryptAttachment(plain);
    expect(a.key).not.toEqual(b.key);
    expect(a.ciphertext.subarray(1, HEADER)).not.toEqual(b.ciphertext.subarray(1, HEADER));
    expect(a.ciphertext).not.toEqual(b.ciphertext);
  });

  it('never contains the plaintext', async () => {
    const marker = new TextEncoder().encode('PLANTED-PLAINTEXT-MARKER '.repeat(20));
    const enc = await encryptAttachment(marker);
    const hay = Buffer.from(enc.ciphertext);
    expect(hay.includes(Buffer.from('PLANTED-PLAINTEXT-MARKER'))).toBe(false);
  });

  it('refuses a ciphertext whose digest is not the one the message names, before decrypting', async () => {
    const enc = await encryptAttachment(bytes(500));
    const other = await encryptAttachment(bytes(500));
    const e = await decryptAttachment(enc.ciphertext, { key: enc.key, digest: other.digest }).catch((x) => x);
    expect(e).toBeInstanceOf(AttachmentError);
    expect((e as AttachmentError).reason).toBe('digest-mismatch');
  });

  it('refuses a file cut at a chunk boundary (the last-chunk flag is in the AAD)', async () => {
    const enc = await encryptAttachment(bytes(3 * CHUNK));
    const cut = enc.ciphertext.subarray(0, HEADER + 2 * SEALED);
    const e = await openAltered(cut, enc.key);
    expect((e as AttachmentError).reason).toBe('decryption-failed');
  });

  it('refuses a file cut inside a chunk', async () => {
    const enc = await encryptAttachment(bytes(CHUNK + 100));
    const e = await openAltered(enc.ciphertext.subarray(0, enc.ciphertext.length - 10), enc.key);
    expect(e).toBeInstanceOf(AttachmentError);
  });

  it('refuses a file with a chunk appended (the old last chunk carries the flag)', async () => {
    const enc = await encryptAttachment(bytes(2 * CHUNK));
    const first = enc.ciphertext.subarray(HEADER, HEADER + SEALED);
    const longer = new Uint8Array([...enc.ciphertext, ...first]);
    expect((await openAltered(longer, enc.key)) as AttachmentError).toBeInstanceOf(AttachmentError);
  });

  it('refuses chunks in another order (the counter is in the nonce)', async () => {
    const enc = await encryptAttachment(bytes(3 * CHUNK + 10));
    const c = enc.ciphertext;
    const swapped = new Uint8Array(c);
    swapped.set(c.subarray(HEADER + SEALED, HEADER + 2 * SEALED), HEADER);
    swapped.set(c.subarray(HEADER, HEADER + SEALED), HEADER + SEALED);
    const e = await openAltered(swapped, enc.key);
    expect((e as AttachmentError).reason).toBe('decryption-failed');
  });

  it('refuses a ciphertext with one flipped bit, in a chunk or in the header', async () => {
    const enc = await encryptAttachment(bytes(1000));
    for (const at of [HEADER + 500, 2, enc.ciphertext.length - 1]) {
      const flipped = new Uint8Array(enc.ciphertext);
      flipped[at] ^= 0x01;
      expect(await openAltered(flipped, enc.key)).toBeInstanceOf(AttachmentError);
    }
  });

  it('refuses the wrong key', async () => {
    const enc = await encryptAttachment(bytes(1000));
    const wrong = crypto.getRandomValues(new Uint8Array(32));
    const e = await decryptAttachment(enc.ciphertext, { key: wrong, digest: enc.digest }).catch((x) => x);
    expect((e as AttachmentError).reason).toBe('decryption-failed');
  });

  it('refuses a key that is not 32 bytes, an unknown version, and a size other than the message says', async () => {
    const enc = await encryptAttachment(bytes(10));
    const short = await decryptAttachment(enc.ciphertext, { key: enc.key.subarray(0, 16), digest: enc.digest }).catch(
      (x) => x,
    );
    expect((short as AttachmentError).reason).toBe('malformed');
    const v2 = new Uint8Array(enc.ciphertext);
    v2[0] = 2;
    expect(((await openAltered(v2, enc.key)) as AttachmentError).reason).toBe('malformed');
    const sized = await decryptAttachment(enc.ciphertext, { ...enc, size: 11 }).catch((x) => x);
    expect((sized as AttachmentError).reason).toBe('size-mismatch');
  });
});
