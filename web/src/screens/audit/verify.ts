/**
 * The audit log's proofs checked in the browser, with Web Crypto only: RFC 9162 §2.1.3.2 inclusion
 * (the SDK's verifier, sdk/src/transparency/merkle.ts), §2.1.4.2 consistency (a copy of
 * src/audit/merkle.ts over async SHA-256), and the checkpoint's C2SP signed note (Ed25519, which
 * Chromium's Web Crypto implements; where a browser lacks it the signature is reported unchecked,
 * never as valid). Nothing here throws on hostile input: malformed proofs and notes verify false.
 */
import { bytesEqual, fromBase64, fromHex, sha256 } from '../../../../sdk/src/encoding';
import { leafHash, verifyInclusion } from '../../../../sdk/src/transparency/merkle';

export { leafHash, verifyInclusion };

const utf8 = (s: string) => new TextEncoder().encode(s);
const node = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(0x01), l, r);
const half = (x: number) => Math.floor(x / 2);
const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === 32;

/** RFC 9162 §2.1.4.2: the tree of `size2` leaves (root2) extends the tree of `size1` leaves (root1). */
export async function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: Uint8Array[],
): Promise<boolean> {
  try {
    if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2) return false;
    if (!isHash(root1) || !isHash(root2) || !Array.isArray(proof) || proof.length > 128 || !proof.every(isHash))
      return false;
    if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
    if (proof.length === 0) return false;
    // A power-of-two first tree is itself a node of the second: its root starts the path (step 2).
    let x = size1;
    while (x % 2 === 0) x /= 2;
    const path = x === 1 ? [root1, ...proof] : proof;
    let fn = size1 - 1;
    let sn = size2 - 1;
    while (fn % 2 === 1) {
      fn = half(fn);
      sn = half(sn);
    }
    let fr = path[0]!;
    let sr = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await node(c, fr);
        sr = await node(c, sr);
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else sr = await node(sr, c);
      fn = half(fn);
      sn = half(sn);
    }
    return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
  } catch {
    return false;
  }
}

export interface VerifierKey {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

/** `<name>+<8 hex key ID>+<base64(0x01 ‖ Ed25519 key)>`, its key ID recomputed; null when malformed. */
export async function parseVerifierKey(vkey: string): Promise<VerifierKey | null> {
  const p1 = vkey.indexOf('+');
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1);
  if (p2 < 0) return null;
  const name = vkey.slice(0, p1);
  const id = fromHex(vkey.slice(p1 + 1, p2));
  const key = fromBase64(vkey.slice(p2 + 1));
  if (!name || !id || id.length !== 4 || !key || key.length !== 33 || key[0] !== 0x01) return null;
  const publicKey = key.subarray(1);
  const keyId = (await sha256(utf8(name), Uint8Array.of(0x0a, 0x01), publicKey)).subarray(0, 4);
  return bytesEqual(keyId, id) ? { name, keyId, publicKey } : null;
}

export interface CheckedCheckpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** `valid`: signed by the key; `invalid`: no valid signature by it; `unsupported`: no Ed25519 here. */
  signature: 'valid' | 'invalid' | 'unsupported';
}

let ed25519: boolean | undefined;

/** Ed25519 verification by Web Crypto; undefined when this browser has no Ed25519. */
async function ed25519Verify(pub: Uint8Array, sig: Uint8Array, msg: Uint8Array): Promise<boolean | undefined> {
  if (ed25519 === false) return undefined;
  try {
    const key = await crypto.subtle.importKey('raw', pub as BufferSource, { name: 'Ed25519' }, false, ['verify']);
    ed25519 = true;
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, sig as BufferSource, msg as BufferSource);
  } catch (e) {
    if ((e as Error)?.name === 'NotSupportedError') {
      ed25519 = false;
      return undefined;
    }
    return false;
  }
}

/**
 * A C2SP tlog-checkpoint in a C2SP signed note, its signature by `key` checked: the body (origin,
 * decimal size, base64 root) and the verdict, or null when the note is malformed or of another log.
 */
export async function checkCheckpoint(note: string, key: VerifierKey): Promise<CheckedCheckpoint | null> {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return null;
  const text = note.slice(0, split + 1);
  const [origin, sizeLine, rootLine] = text.slice(0, -1).split('\n');
  const root = fromBase64(rootLine);
  if (!origin || !/^(0|[1-9][0-9]*)$/.test(sizeLine ?? '') || !root || root.length !== 32) return null;
  if (origin !== key.name) return null;
  let signature: CheckedCheckpoint['signature'] = 'invalid';
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    const raw = m ? fromBase64(m[2]) : null;
    if (!m || !raw || m[1] !== key.name || raw.length !== 68 || !bytesEqual(raw.subarray(0, 4), key.keyId)) continue;
    const ok = await ed25519Verify(key.publicKey, raw.subarray(4), utf8(text));
    signature = ok === undefined ? 'unsupported' : ok ? 'valid' : 'invalid';
    break;
  }
  return { origin, size: Number(sizeLine), root, signature };
}

export const b64 = (s: string): Uint8Array | null => fromBase64(s);
