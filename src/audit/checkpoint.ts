/**
 * Audit-log checkpoints: the C2SP tlog-checkpoint body (https://c2sp.org/tlog-checkpoint) signed as
 * a C2SP signed note (https://c2sp.org/signed-note) with an Ed25519 key, compatible with
 * golang.org/x/mod/sumdb/note.
 *
 *   <origin>\n<tree size, decimal>\n<root hash, base64>\n[<extension line>\n]*
 *   \n
 *   — <key name> <base64(key ID (4 bytes) ‖ Ed25519 signature over the text)>\n
 *
 * Ed25519 key ID = first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key).
 * Verifier key (vkey) = `<name>+<key ID, 8 hex>+<base64(0x01 ‖ public key)>`.
 *
 * All cryptography is node:crypto; nothing here is hand-written crypto.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { AppError } from '../core/errors.js';

const EM_DASH_PREFIX = '\u2014 ';
/** Signature-type byte for Ed25519 in signed notes. */
const ALG_ED25519 = 0x01;
const ED25519_SIG_LEN = 64;
const HASH_LEN = 32;
/** Same bound as golang.org/x/mod/sumdb/note: more signature lines than this is a malformed note. */
const MAX_SIGNATURES = 100;

function invalid(detail: string): AppError {
  return new AppError('SP_AUDIT_CHECKPOINT_INVALID', detail);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard padded base64 (RFC 4648 §4); canonical only (no stray bits, no whitespace). */
function decodeBase64Strict(s: string): Buffer | null {
  if (!B64_RE.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : null;
}

/** Any C0 control character other than "\n", or DEL: not allowed in note text. */
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f\u007f]/;
/** Lone UTF-16 surrogates (a JS string that is not well-formed UTF-8 once encoded). */
const LONE_SURROGATE_RE = /\p{Cs}/u;
const SPACE_RE = /\p{White_Space}/u;

function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !name.includes('+') &&
    !SPACE_RE.test(name) &&
    !CONTROL_RE.test(name) &&
    !LONE_SURROGATE_RE.test(name)
  );
}

function isValidNoteText(text: string): boolean {
  return (
    typeof text === 'string' &&
    text.length > 0 &&
    text.endsWith('\n') &&
    !CONTROL_RE.test(text) &&
    !LONE_SURROGATE_RE.test(text)
  );
}

function isEd25519(key: KeyObject, type: 'public' | 'private'): boolean {
  return key?.type === type && key.asymmetricKeyType === 'ed25519';
}

/** The raw 32-byte Ed25519 public key (the last 32 bytes of its fixed-length SPKI encoding). */
function rawPublicKey(publicKey: KeyObject): Buffer {
  if (!isEd25519(publicKey, 'public')) throw invalid('key is not an Ed25519 public key');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

function keyIdRaw(keyName: string, raw: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from(keyName, 'utf8'))
    .update(Buffer.from([0x0a, ALG_ED25519]))
    .update(raw)
    .digest()
    .subarray(0, 4);
}

/** RFC 8410 SPKI prefix for an Ed25519 public key. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// ---------------------------------------------------------------------------------------------
// tlog-checkpoint body

/** The checkpoint body (the note text): origin, size and base64 root, each line ending in "\n". */
export function formatCheckpoint(origin: string, size: number, root: Uint8Array): string {
  if (typeof origin !== 'string' || origin.length === 0) throw invalid('origin is empty');
  if (origin.includes('\n') || CONTROL_RE.test(origin) || LONE_SURROGATE_RE.test(origin)) {
    throw invalid('origin contains a newline or control character');
  }
  if (!Number.isSafeInteger(size) || size < 0) throw invalid('size is not a non-negative safe integer');
  if (!(root instanceof Uint8Array) || root.length !== HASH_LEN) throw invalid('root hash is not 32 bytes');
  return `${origin}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
}

/**
 * Parses a checkpoint body (the text of a signed note, not the whole note: use verifyNote first).
 * Throws SP_AUDIT_CHECKPOINT_INVALID on anything malformed.
 */
export function parseCheckpoint(text: string): {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
} {
  if (!isValidNoteText(text))
    throw invalid('checkpoint text is empty, lacks a final newline or has control characters');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw invalid('checkpoint has fewer than three lines');
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin.length === 0) throw invalid('origin is empty');
  if (!/^(?:0|[1-9][0-9]*)$/.test(sizeLine)) throw invalid('tree size is not a canonical decimal');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw invalid('tree size is too large');
  const root = decodeBase64Strict(rootLine);
  if (!root) throw invalid('root hash is not valid base64');
  if (root.length !== HASH_LEN) throw invalid('root hash is not 32 bytes');
  if (extensions.some((l) => l.length === 0)) throw invalid('empty extension line');
  return { origin, size, root: new Uint8Array(root), extensions };
}

// ---------------------------------------------------------------------------------------------
// Signed notes

/** The 4-byte Ed25519 key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0:4]. */
export function keyId(keyName: string, publicKey: KeyObject): Uint8Array {
  if (!isValidKeyName(keyName)) throw invalid('key name is empty or contains whitespace or "+"');
  return new Uint8Array(keyIdRaw(keyName, rawPublicKey(publicKey)));
}

/** Signs `text` (non-empty, ending in "\n") and returns the full signed note. */
export function signNote(text: string, keyName: string, privateKey: KeyObject): string {
  if (!isValidNoteText(text)) throw invalid('note text is empty, lacks a final newline or has control characters');
  if (!isValidKeyName(keyName)) throw invalid('key name is empty or contains whitespace or "+"');
  if (!isEd25519(privateKey, 'private')) throw invalid('key is not an Ed25519 private key');
  const id = keyIdRaw(keyName, rawPublicKey(createPublicKey(privateKey)));
  const sig = sign(null, Buffer.from(text, 'utf8'), privateKey);
  return `${text}\n${EM_DASH_PREFIX}${keyName} ${Buffer.concat([id, sig]).toString('base64')}\n`;
}

/**
 * Verifies a signed note against one Ed25519 key. Returns the note text if the note is well formed
 * and carries a valid signature by (keyName, publicKey); signatures by other keys are ignored.
 * Returns null (never throws) for a malformed note, no signature by this key, or a signature by
 * this key that does not verify.
 */
export function verifyNote(note: string, keyName: string, publicKey: KeyObject): { text: string } | null {
  try {
    if (typeof note !== 'string' || !isValidKeyName(keyName) || !isEd25519(publicKey, 'public')) return null;
    const split = note.lastIndexOf('\n\n');
    if (split < 0) return null;
    const text = note.slice(0, split + 1);
    const sigBlock = note.slice(split + 2);
    if (!isValidNoteText(text)) return null;
    if (sigBlock.length === 0 || !sigBlock.endsWith('\n') || LONE_SURROGATE_RE.test(sigBlock)) return null;
    const sigLines = sigBlock.slice(0, -1).split('\n');
    if (sigLines.length > MAX_SIGNATURES) return null;

    const wantId = keyIdRaw(keyName, rawPublicKey(publicKey));
    const message = Buffer.from(text, 'utf8');
    let verified = false;
    for (const line of sigLines) {
      if (!line.startsWith(EM_DASH_PREFIX)) return null;
      const rest = line.slice(EM_DASH_PREFIX.length);
      const sp = rest.indexOf(' ');
      if (sp <= 0) return null;
      const name = rest.slice(0, sp);
      const b64 = rest.slice(sp + 1);
      if (!isValidKeyName(name)) return null;
      const raw = decodeBase64Strict(b64);
      if (!raw || raw.length < 5) return null;
      if (name !== keyName || !raw.subarray(0, 4).equals(wantId)) continue; // another key: ignore
      const sig = raw.subarray(4);
      if (sig.length !== ED25519_SIG_LEN || !verify(null, message, publicKey, sig)) return null;
      verified = true;
    }
    return verified ? { text } : null;
  } catch {
    return null;
  }
}

/** The verifier key string `<name>+<8 hex key ID>+<base64(0x01 ‖ public key)>`. */
export function verifierKey(keyName: string, publicKey: KeyObject): string {
  if (!isValidKeyName(keyName)) throw invalid('key name is empty or contains whitespace or "+"');
  const raw = rawPublicKey(publicKey);
  const id = keyIdRaw(keyName, raw).toString('hex');
  return `${keyName}+${id}+${Buffer.concat([Buffer.from([ALG_ED25519]), raw]).toString('base64')}`;
}

/** Parses an Ed25519 verifier key; throws SP_AUDIT_CHECKPOINT_INVALID if malformed or its key ID is wrong. */
export function parseVerifierKey(vkey: string): { name: string; keyId: Uint8Array; publicKey: KeyObject } {
  if (typeof vkey !== 'string') throw invalid('verifier key is not a string');
  const p1 = vkey.indexOf('+');
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1);
  if (p1 < 0 || p2 < 0) throw invalid('verifier key is not name+id+key');
  const name = vkey.slice(0, p1);
  const idHex = vkey.slice(p1 + 1, p2);
  const keyB64 = vkey.slice(p2 + 1);
  if (!isValidKeyName(name)) throw invalid('verifier key name is invalid');
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw invalid('verifier key id is not 8 hex digits');
  const keyBytes = decodeBase64Strict(keyB64);
  if (!keyBytes || keyBytes.length !== 33 || keyBytes[0] !== ALG_ED25519) {
    throw invalid('verifier key is not an Ed25519 key');
  }
  const raw = keyBytes.subarray(1);
  const id = keyIdRaw(name, raw);
  if (!id.equals(Buffer.from(idHex, 'hex'))) throw invalid('verifier key id does not match the key');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new AppError('SP_AUDIT_CHECKPOINT_INVALID', 'verifier key is not a valid Ed25519 public key', { cause });
  }
  return { name, keyId: new Uint8Array(id), publicKey };
}
