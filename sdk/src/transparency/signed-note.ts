/**
 * Verification of the audit log's checkpoints on the client: a C2SP tlog-checkpoint body
 * (https://c2sp.org/tlog-checkpoint) in a C2SP signed note (https://c2sp.org/signed-note) signed
 * with Ed25519, as src/audit/checkpoint.ts writes them. Only verification lives here; the
 * signature check is @noble/curves' ed25519 (strict RFC 8032, not ZIP-215).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, fromBase64, fromHex, sha256, utf8 } from '../encoding.js';

const EM_DASH_PREFIX = '\u2014 ';
const ALG_ED25519 = 0x01;
const MAX_SIGNATURES = 100;
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f\u007f]/;
const SPACE_RE = /\p{White_Space}/u;

export interface VerifierKey {
  /** The key name, which is also the log's origin line. */
  name: string;
  keyId: Uint8Array;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
}

const validName = (n: string) => n.length > 0 && !n.includes('+') && !SPACE_RE.test(n) && !CONTROL_RE.test(n);
const validText = (t: string) => t.length > 0 && t.endsWith('\n') && !CONTROL_RE.test(t);

/** The 4-byte key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0:4]. */
async function keyIdOf(name: string, raw: Uint8Array): Promise<Uint8Array> {
  return (await sha256(utf8(name), Uint8Array.of(0x0a, ALG_ED25519), raw)).subarray(0, 4);
}

/** Parses `<name>+<8 hex key ID>+<base64(0x01 ‖ key)>`; null when malformed or its key ID is wrong. */
export async function parseVerifierKey(vkey: unknown): Promise<VerifierKey | null> {
  if (typeof vkey !== 'string') return null;
  // The key's base64 may itself hold '+': split at the first two only.
  const p1 = vkey.indexOf('+');
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1);
  if (p2 < 0) return null;
  const [name, idHex, keyB64] = [vkey.slice(0, p1), vkey.slice(p1 + 1, p2), vkey.slice(p2 + 1)];
  if (!validName(name) || !/^[0-9a-fA-F]{8}$/.test(idHex)) return null;
  const keyBytes = fromBase64(keyB64);
  if (!keyBytes || keyBytes.length !== 33 || keyBytes[0] !== ALG_ED25519) return null;
  const publicKey = keyBytes.subarray(1);
  const keyId = await keyIdOf(name, publicKey);
  return bytesEqual(keyId, fromHex(idHex)!) ? { name, keyId, publicKey } : null;
}

/**
 * The note's text when it carries a valid signature by `key` (other keys' lines are ignored);
 * null for a malformed note, no signature by this key, or one that does not verify.
 */
export async function verifyNote(note: unknown, key: VerifierKey): Promise<string | null> {
  try {
    if (typeof note !== 'string') return null;
    const split = note.lastIndexOf('\n\n');
    if (split < 0) return null;
    const text = note.slice(0, split + 1);
    const sigBlock = note.slice(split + 2);
    if (!validText(text) || sigBlock.length === 0 || !sigBlock.endsWith('\n')) return null;
    const lines = sigBlock.slice(0, -1).split('\n');
    if (lines.length > MAX_SIGNATURES) return null;
    const message = utf8(text);
    let verified = false;
    for (const line of lines) {
      if (!line.startsWith(EM_DASH_PREFIX)) return null;
      const rest = line.slice(EM_DASH_PREFIX.length);
      const sp = rest.indexOf(' ');
      if (sp <= 0) return null;
      const raw = fromBase64(rest.slice(sp + 1));
      if (!validName(rest.slice(0, sp)) || !raw || raw.length < 5) return null;
      if (rest.slice(0, sp) !== key.name || !bytesEqual(raw.subarray(0, 4), key.keyId)) continue;
      const sig = raw.subarray(4);
      if (sig.length !== 64 || !ed25519.verify(sig, message, key.publicKey, { zip215: false })) return null;
      verified = true;
    }
    return verified ? text : null;
  } catch {
    return null;
  }
}

/** Parses a checkpoint body (origin, decimal size, base64 root, extension lines); null if malformed. */
export function parseCheckpoint(text: string): Checkpoint | null {
  if (!validText(text)) return null;
  const [origin, sizeLine, rootLine, ...extensions] = text.slice(0, -1).split('\n');
  if (!origin || sizeLine === undefined || rootLine === undefined) return null;
  if (!/^(?:0|[1-9][0-9]*)$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) return null;
  const root = fromBase64(rootLine);
  if (!root || root.length !== 32 || extensions.some((l) => l.length === 0)) return null;
  return { origin, size: Number(sizeLine), root };
}

/** A checkpoint note verified with `key`, of `key`'s log; null otherwise. */
export async function verifiedCheckpoint(note: unknown, key: VerifierKey): Promise<Checkpoint | null> {
  const text = await verifyNote(note, key);
  const cp = text ? parseCheckpoint(text) : null;
  return cp && cp.origin === key.name ? cp : null;
}
