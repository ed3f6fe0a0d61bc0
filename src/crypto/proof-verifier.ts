import { createPublicKey } from 'node:crypto';
import canonicalize from 'canonicalize';
import { contentCommitment, signatureDigest } from './notary.js';
import {
  detachedSignatureProblem,
  ed25519KeyProblem,
  fromB64url,
  importPersonKey,
  PERSON_ALGS,
  type PersonAlg,
} from './signature-checks.js';

/** What GET /v1/notifications/{id}/proof returns and `sealpost verify` reads. */
export interface NotificationProof {
  format: 'sealpost-proof-v1';
  notificationId: string;
  alg: 'EdDSA';
  keyId: string;
  /** base64url Ed25519 signature over the UTF-8 bytes of `signed`. */
  signature: string;
  /** The exact text that was signed: RFC 8785 canonical JSON of `fields`. */
  signed: string;
  fields: Record<string, unknown>;
  /** The notary public key as a JWK (kty OKP, crv Ed25519, kid = keyId). */
  publicKey: Record<string, string>;
  /** base64url salt of the content commitment; null once the patient was erased. */
  salt: string | null;
  sender: null | {
    signerId: string;
    personId: string;
    alg: string;
    signature: string | null;
    publicKey: Record<string, string>;
  };
  /** Only when asked for (PHI): the content the commitment covers. */
  content?: { patientId: string; data: unknown };
  /** Only when asked for (PHI): the canonical request the sender signed. */
  request?: string;
  /**
   * The notification's creation entry in the audit log (it commits to the SHA-256 of `signed`) and
   * its RFC 9162 inclusion in a signed checkpoint; `{ status: 'pending' }` while the entry has no
   * index yet. Checked by `verifyAnchoredProof()` (src/audit/proof-anchor.ts).
   */
  anchor?: ProofAnchor | { status: 'pending' };
}

/** A proof's anchoring in the audit log (see docs/security.md, Non-repudiation). */
export interface ProofAnchor {
  status: 'anchored';
  /** The creation entry: its canonical JSON, the leaf data (identifiers and hashes only). */
  entry: string;
  /** Its RFC 9162 leaf index. */
  index: number;
  /** The size of the checkpoint's tree. */
  treeSize: number;
  /** The audit path, bottom-up, base64. */
  inclusion: string[];
  /** The C2SP signed note of the checkpoint (signed by the audit-log key, not the notary key). */
  checkpoint: string;
}

export interface JwkSet {
  keys: Record<string, unknown>[];
  /** The C2SP verifier key of the audit log's checkpoints (`<origin>+<key id>+<key>`). */
  checkpointKey?: string;
}

export interface ProofReport {
  ok: boolean;
  /** What failed (no PHI: field names and reasons only). */
  problems: string[];
  /** What was checked and held. */
  checks: string[];
  notificationId?: string;
  keyId?: string;
  signedAt?: string;
}

const str = (v: unknown): v is string => typeof v === 'string';

/**
 * Checks a notification proof offline (no server, no database): the signed text is canonical and
 * equals the fields, the Ed25519 signature verifies with the proof's key, that key is the published
 * key with this id and was valid at the signing time (when a key set is given), and, when present,
 * the content commitment and the sender's own signature.
 */
export function verifyProof(proof: unknown, keys?: JwkSet): ProofReport {
  const problems: string[] = [];
  const checks: string[] = [];
  const p = proof as Partial<NotificationProof> | null;
  if (
    !p ||
    typeof p !== 'object' ||
    p.format !== 'sealpost-proof-v1' ||
    !str(p.signed) ||
    !str(p.signature) ||
    !str(p.keyId) ||
    !p.publicKey ||
    typeof p.publicKey !== 'object'
  ) {
    return { ok: false, problems: ['not a sealpost-proof-v1 document'], checks };
  }
  const fail = (m: string) => problems.push(m);
  if (p.alg !== 'EdDSA') fail('alg is not EdDSA');

  // 1. The signed text is canonical and is exactly the fields.
  let parsed: Record<string, unknown> | null = null;
  try {
    parsed = JSON.parse(p.signed);
  } catch {
    fail('signed text is not JSON');
  }
  if (parsed) {
    if (canonicalize(parsed) !== p.signed) fail('signed text is not in RFC 8785 canonical form');
    else checks.push('signed text is RFC 8785 canonical');
    if (canonicalize(p.fields) !== p.signed) fail('fields differ from the signed text');
    if (parsed.v !== 1 || parsed.type !== 'sealpost.notification') fail('signed text is not a v1 notification header');
    if (parsed.id !== p.notificationId) fail('notificationId differs from the signed id');
    if (parsed.keyId !== p.keyId) fail('keyId differs from the signed keyId');
  }

  // 2. The key: an Ed25519 JWK with this id, and (given a key set) the published key with this id.
  const jwk = p.publicKey;
  const x = fromB64url(jwk.x);
  let key: ReturnType<typeof createPublicKey> | null = null;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !x || ed25519KeyProblem(x))
    fail('publicKey is not a valid Ed25519 JWK');
  else if (jwk.kid !== p.keyId) fail('publicKey kid differs from keyId');
  else key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  if (keys) {
    const published = Array.isArray(keys.keys) ? keys.keys.find((k) => k.kid === p.keyId) : undefined;
    if (!published) fail('keyId is not in the given key set');
    else if (published.kty !== 'OKP' || published.crv !== 'Ed25519' || published.x !== jwk.x)
      fail('publicKey is not the published key with this id');
    else {
      checks.push('key is the published key with this id');
      // Valid at the signing time: from notBefore (older key sets: createdAt) to retiredAt.
      const at = parsed && str(parsed.createdAt) ? Date.parse(parsed.createdAt) : NaN;
      const notBefore = str(published.notBefore) ? published.notBefore : published.createdAt;
      if (!str(notBefore) || Number.isNaN(Date.parse(notBefore)))
        fail('the key set gives no valid notBefore for this key');
      else if (!(at >= Date.parse(notBefore))) fail('signed before the key was created');
      if (
        published.retiredAt !== undefined &&
        !(str(published.retiredAt) && !Number.isNaN(Date.parse(published.retiredAt)))
      )
        fail('the key set gives an invalid retiredAt for this key');
      else if (str(published.retiredAt)) {
        if (!(at <= Date.parse(published.retiredAt))) fail('signed after the key was retired');
      } else if (published.status !== 'current')
        // A retired key whose end is unknown would verify forged signatures of any later date.
        fail('the key set marks this key retired but gives no retiredAt');
      if (!problems.length) checks.push('key was valid at the signing time');
    }
  }

  // 3. The signature itself (64 bytes, S < L, verifies over the signed text).
  if (key) {
    const why = detachedSignatureProblem('EdDSA', key, Buffer.from(p.signed, 'utf8'), p.signature);
    if (why) fail(`notary ${why}`);
    else checks.push('notary signature verifies');
  }

  // 4. The content commitment, when the content was disclosed with the proof.
  if (p.content !== undefined && parsed) {
    if (!str(p.salt) || !fromB64url(p.salt)) fail('content given without a salt');
    else if (contentCommitment(fromB64url(p.salt)!, p.content) !== parsed.contentHash)
      fail('content does not match contentHash');
    else checks.push('content matches contentHash');
  }

  // 5. The sender's own signature: bound into the header by digest, and verified over the request if present.
  const signedSender = (parsed?.sender ?? null) as {
    signerId?: unknown;
    alg?: unknown;
    signatureDigest?: unknown;
  } | null;
  if (parsed && (signedSender === null) !== (p.sender == null)) fail('sender differs from the signed sender');
  else if (signedSender && p.sender) {
    const s = p.sender;
    if (s.signerId !== signedSender.signerId || s.alg !== signedSender.alg)
      fail('sender differs from the signed sender');
    else if (s.signature != null) {
      const sig = fromB64url(s.signature);
      if (!sig || signatureDigest(sig) !== signedSender.signatureDigest)
        fail('sender signature is not the one the header binds');
      else checks.push('sender signature is bound by the header');
      const personKey = PERSON_ALGS.includes(s.alg as PersonAlg)
        ? importPersonKey(s.alg as PersonAlg, { jwk: s.publicKey })
        : 'unknown alg';
      if (typeof personKey === 'string') fail(`sender key: ${personKey}`);
      else if (p.request !== undefined) {
        let canonical = false;
        try {
          canonical = canonicalize(JSON.parse(p.request)) === p.request;
        } catch {
          /* reported below */
        }
        const why = canonical
          ? detachedSignatureProblem(personKey.alg, personKey.publicKey, Buffer.from(p.request, 'utf8'), s.signature)
          : 'request is not RFC 8785 canonical JSON';
        if (why) fail(`sender ${why}`);
        else checks.push('sender signature verifies over the request');
      }
    }
  }

  return {
    ok: problems.length === 0,
    problems,
    checks,
    notificationId: str(p.notificationId) ? p.notificationId : undefined,
    keyId: p.keyId,
    signedAt: parsed && str(parsed.createdAt) ? parsed.createdAt : undefined,
  };
}
