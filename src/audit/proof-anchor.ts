/**
 * A notification proof's anchoring in the audit log. The notification's creation entry (written in
 * the creating transaction) commits to the SHA-256 of the signed header; the proof carries that entry
 * and its RFC 9162 inclusion proof in a checkpoint signed by the audit-log key (never the notary
 * key). A proof back-dated with a retired notary key then needs a creation entry in the log, placed
 * before checkpoints outsiders already hold: it fails unless the log and those checkpoints are
 * rewritten too, which the consistency check against a saved checkpoint catches.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from './checkpoint.js';
import {
  verifyProof,
  type JwkSet,
  type NotificationProof,
  type ProofAnchor,
  type ProofReport,
} from '../crypto/proof-verifier.js';

/** What the creation entry commits to: base64url SHA-256 of the UTF-8 signed header (no PHI: it holds a salted commitment). */
export const signedHeaderDigest = (signed: string) => createHash('sha256').update(signed, 'utf8').digest('base64url');

/** A consistency proof as GET /v1/audit/proof/consistency answers it. */
export interface ConsistencyProofFile {
  from: number;
  to: number;
  proof: string[];
}

export interface AnchorOptions {
  /** A checkpoint (signed note) the verifier saved earlier. */
  savedCheckpoint?: string;
  /** The consistency proof between the saved checkpoint and the proof's (either order). */
  consistency?: ConsistencyProofFile;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const hash = (s: unknown): Uint8Array | null => {
  if (typeof s !== 'string' || !B64.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.length === 32 ? new Uint8Array(b) : null;
};

/** The text of a signed note without checking its signature (no key to check it with). */
function unverifiedText(note: string): string | null {
  const split = typeof note === 'string' ? note.lastIndexOf('\n\n') : -1;
  return split < 0 ? null : note.slice(0, split + 1);
}

/**
 * Checks the proof's signature as `verifyProof` does, then its anchoring: the creation entry commits
 * to this signed header, it is included in the proof's checkpoint, the checkpoint is signed by the
 * published checkpoint key (given a key set), and, given a saved checkpoint, the two are consistent.
 */
export function verifyAnchoredProof(proof: unknown, keys?: JwkSet, opts: AnchorOptions = {}): ProofReport {
  const report = verifyProof(proof, keys);
  if (report.problems.includes('not a sealpost-proof-v1 document')) return report;
  const problems = [...report.problems];
  const checks = [...report.checks];
  const fail = (m: string) => problems.push(m);
  const p = proof as NotificationProof;
  const a = p.anchor as ProofAnchor | { status: 'pending' } | undefined;
  if (!a || typeof a !== 'object') fail('no audit-log anchor');
  else if (a.status === 'pending')
    fail('the audit-log anchor is pending (the creation entry has no index yet): fetch the proof again');
  else if (a.status !== 'anchored') fail('no audit-log anchor');
  else anchor(p, a, keys, opts, fail, (c) => checks.push(c));
  return { ...report, ok: problems.length === 0, problems, checks };
}

function anchor(
  p: NotificationProof,
  a: ProofAnchor,
  keys: JwkSet | undefined,
  opts: AnchorOptions,
  fail: (m: string) => void,
  ok: (m: string) => void,
): void {
  // 1. The entry is the notification's creation entry and commits to exactly this signed header.
  let e: Record<string, any> | null = null;
  try {
    e = typeof a.entry === 'string' ? JSON.parse(a.entry) : null;
  } catch {
    e = null;
  }
  if (!e || typeof e !== 'object' || canonicalize(e) !== a.entry)
    return fail('the anchor entry is not RFC 8785 canonical JSON');
  const f = (p.fields ?? {}) as Record<string, unknown>;
  if (
    e.action !== 'notification.created' ||
    e.target?.type !== 'notification' ||
    e.target?.id !== p.notificationId ||
    e.tenant !== f.tenant ||
    e.patient !== f.patientRef ||
    e.at !== f.createdAt ||
    e.details?.signedHash !== signedHeaderDigest(p.signed)
  )
    return fail('the audit entry is not the creation entry of this signed header');
  ok('the creation audit entry commits to the signed header');

  // 2. The checkpoint: signed by the published checkpoint key (never the notary key), or unchecked without a key set.
  let vkey: ReturnType<typeof parseVerifierKey> | null = null;
  if (keys) {
    try {
      vkey = parseVerifierKey(keys.checkpointKey as string);
    } catch {
      return fail('the key set has no valid checkpointKey');
    }
    const notary = p.publicKey?.x;
    const raw = (vkey.publicKey.export({ format: 'jwk' }) as { x?: string }).x;
    if (raw === notary || keys.keys.some((k) => k.x === raw))
      return fail('the checkpoint key is a notary key (it must be distinct)');
  }
  const text = vkey ? verifyNote(a.checkpoint, vkey.name, vkey.publicKey)?.text : unverifiedText(a.checkpoint);
  if (!text) return fail('the anchor checkpoint is not signed by the published checkpoint key');
  let cp: ReturnType<typeof parseCheckpoint>;
  try {
    cp = parseCheckpoint(text);
  } catch {
    return fail('the anchor checkpoint is malformed');
  }
  if (vkey && cp.origin !== vkey.name) return fail('the anchor checkpoint is of another log');
  if (vkey) ok('the checkpoint is signed by the published checkpoint key');

  // 3. The entry is in the checkpoint's tree.
  const path = Array.isArray(a.inclusion) ? a.inclusion.map(hash) : [null];
  if (
    cp.size !== a.treeSize ||
    path.some((h) => !h) ||
    !verifyInclusion(leafHash(Buffer.from(a.entry, 'utf8')), a.index, cp.size, path as Uint8Array[], cp.root)
  )
    return fail('the creation entry is not in the log of the anchor checkpoint (inclusion proof fails)');
  ok(`the creation entry is entry ${a.index} of the checkpointed log of ${cp.size}`);

  // 4. A checkpoint saved earlier: the log of the proof's checkpoint and that one are one append-only log.
  if (opts.savedCheckpoint === undefined) return;
  const savedText = vkey ? verifyNote(opts.savedCheckpoint, vkey.name, vkey.publicKey)?.text : null;
  if (!savedText) return fail('the saved checkpoint is not signed by the published checkpoint key (give --keys)');
  let saved: ReturnType<typeof parseCheckpoint>;
  try {
    saved = parseCheckpoint(savedText);
  } catch {
    return fail('the saved checkpoint is malformed');
  }
  if (saved.origin !== cp.origin) return fail('the saved checkpoint is of another log');
  const [small, large] = saved.size <= cp.size ? [saved, cp] : [cp, saved];
  let consistent: boolean;
  if (small.size === large.size) consistent = Buffer.from(small.root).equals(Buffer.from(large.root));
  else {
    const c = opts.consistency;
    if (!c)
      return fail('a consistency proof between the saved checkpoint and the proof is needed (--url or --consistency)');
    const proof = Array.isArray(c.proof) ? c.proof.map(hash) : [null];
    consistent =
      c.from === small.size &&
      c.to === large.size &&
      proof.every((h) => h) &&
      verifyConsistency(small.size, large.size, small.root, large.root, proof as Uint8Array[]);
  }
  if (!consistent)
    return fail(
      `the log was rewritten: the proof's checkpoint (size ${cp.size}) is not consistent with the saved checkpoint (size ${saved.size})`,
    );
  ok(`consistent with the saved checkpoint of size ${saved.size}`);
}
