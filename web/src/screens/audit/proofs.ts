import { api, ok, raw } from '../../app/api';
import {
  b64,
  checkCheckpoint,
  leafHash,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  type CheckedCheckpoint,
} from './verify';

export interface Checkpoint {
  size: number;
  root: string;
  note: string;
  createdAt: string;
}

/** The log's verifier key (C2SP vkey) as the server publishes it, parsed. */
export async function loadVerifierKey() {
  const page = await ok(api.GET('/v1/audit/checkpoints', { params: { query: { limit: 1 } } }));
  return { vkey: page.verifierKey, key: await parseVerifierKey(page.verifierKey) };
}

/** The latest signed checkpoint (its note, as text). */
export async function latestNote(): Promise<string> {
  return (await raw('GET', '/v1/audit/checkpoint')) as string;
}

export interface EntryProof {
  /** SHA-256(0x00 ‖ entry) recomputed here equals the leaf hash the API gave. */
  leafMatches: boolean;
  checkpoint: CheckedCheckpoint | null;
  /** Null: no checkpoint covers the entry yet. */
  inclusion: { size: number; path: string[]; verified: boolean } | null;
}

/**
 * The entry's proof, checked here: its leaf hash recomputed from the canonical entry, the latest
 * checkpoint's signature, and the Merkle root recomputed from the leaf and the audit path, compared
 * with the root in the signed note (not with the root the proof answer carries).
 */
export async function proveEntry(
  index: number,
  entry: string,
  apiLeafHash: string,
  note: string,
  vkey: string,
): Promise<EntryProof> {
  const leaf = await leafHash(new TextEncoder().encode(entry));
  const given = b64(apiLeafHash);
  const leafMatches = !!given && given.length === leaf.length && given.every((x, i) => x === leaf[i]);
  const key = await parseVerifierKey(vkey);
  const checkpoint = key ? await checkCheckpoint(note, key) : null;
  if (!checkpoint || checkpoint.size <= index) return { leafMatches, checkpoint, inclusion: null };
  const p = await ok(api.GET('/v1/audit/proof/inclusion', { params: { query: { index, size: checkpoint.size } } }));
  const path = p.proof.map((h) => b64(h) ?? new Uint8Array());
  const verified = await verifyInclusion(leaf, index, checkpoint.size, path, checkpoint.root);
  return { leafMatches, checkpoint, inclusion: { size: checkpoint.size, path: p.proof, verified } };
}

export interface CheckedRow extends Checkpoint {
  signature: CheckedCheckpoint['signature'] | 'malformed';
  /** The note's root equals the `root` column. */
  rootMatches: boolean;
  /** Consistency with the checkpoint before it in the list: null for the first (nothing to compare). */
  consistent: boolean | null;
}

/**
 * Checkpoints checked here: each note's signature, its root against the listed root, and each one
 * against the one before it with an RFC 9162 consistency proof (the log only grew).
 */
export async function checkCheckpoints(rows: Checkpoint[], vkey: string): Promise<CheckedRow[]> {
  const key = await parseVerifierKey(vkey);
  const out: CheckedRow[] = [];
  for (const [i, r] of rows.entries()) {
    const c = key ? await checkCheckpoint(r.note, key) : null;
    const listed = b64(r.root);
    const rootMatches = !!c && !!listed && c.size === r.size && listed.every((x, j) => x === c.root[j]);
    let consistent: boolean | null = null;
    const prev = rows[i - 1];
    if (prev && prev.size > 0) {
      const p = await ok(
        api.GET('/v1/audit/proof/consistency', { params: { query: { from: prev.size, to: r.size } } }),
      );
      consistent = await verifyConsistency(
        prev.size,
        r.size,
        b64(prev.root) ?? new Uint8Array(),
        b64(r.root) ?? new Uint8Array(),
        p.proof.map((h) => b64(h) ?? new Uint8Array()),
      );
    }
    out.push({ ...r, signature: c ? c.signature : 'malformed', rootMatches, consistent });
  }
  return out;
}

/**
 * The newest `want` checkpoints. The API lists them oldest first after a size; sizes only grow, so
 * a window of the last `delta` entries holds at most `delta` checkpoints: widen it until it holds
 * enough (or reaches the start), then page to its end.
 */
export async function recentCheckpoints(latestSize: number, want: number): Promise<Checkpoint[]> {
  let delta = want * 4;
  for (;;) {
    const after = latestSize - delta;
    const rows: Checkpoint[] = [];
    let cursor: string | undefined = after >= 0 ? String(after) : undefined;
    for (;;) {
      const page = await ok(
        api.GET('/v1/audit/checkpoints', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }),
      );
      rows.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    if (rows.length >= want || after < 0) return rows.slice(-want);
    delta *= 4;
  }
}
