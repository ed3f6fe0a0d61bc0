import type { KeyObject } from 'node:crypto';
import type { AuditLogRepository, VerifiableEntry } from '../store/repositories/audit-log-repository.js';
import { hashChildren, leafHash, verifyConsistency } from './merkle.js';
import { consistencyProof } from './merkle-proofs.js';
import { parseCheckpoint, verifyNote } from './checkpoint.js';

export interface VerifyReport {
  ok: boolean;
  entries: number;
  checkpoints: number;
  /** Smallest leaf index at which the stored log disagrees with its own hashes, or null. */
  firstBadIndex: number | null;
  problems: string[];
  /**
   * Committed entries still without an index after sequencing (PostgreSQL: their transactions
   * overlapped one that is still open). Not part of the tree yet, so neither verified nor a fault.
   */
  pending: number;
}

const PAGE = 10_000; // even, so a page's leaves pair up with whole level-1 nodes

/** The columns searches filter by, each as its entry says it (audit-repository.ts copies them at append). */
const SEARCHABLE: { column: keyof VerifiableEntry; fromEntry: (e: Record<string, unknown>) => unknown }[] = [
  { column: 'tenant_id', fromEntry: (e) => e.tenant },
  { column: 'at', fromEntry: (e) => (typeof e.at === 'string' ? Date.parse(e.at) : undefined) },
  { column: 'action', fromEntry: (e) => e.action },
  { column: 'actor', fromEntry: (e) => e.actor },
  { column: 'patient_ref', fromEntry: (e) => e.patient ?? null },
];

/**
 * The searchable columns of a row that differ from what its entry says. They are not part of the
 * leaf, so only this comparison catches one edited or swapped: the row would drop out of (or move
 * into) every search by that column while its entry still hashes to its leaf.
 */
function searchableMismatches(r: VerifiableEntry): string[] {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(r.entry) as Record<string, unknown>;
  } catch {
    return ['entry (not JSON)'];
  }
  if (!e || typeof e !== 'object') return ['entry (not a JSON object)'];
  return SEARCHABLE.filter(({ column, fromEntry }) => {
    const stored = column === 'at' ? Number(r.at) : (r[column] ?? null);
    return stored !== fromEntry(e);
  }).map((c) => c.column);
}

/**
 * Numbers the entries that can be numbered (as the integrator would, under its lock), so that what
 * is verified is every entry committed so far; then recomputes the Merkle log from the stored
 * entries and checks it against everything stored about it:
 * each entry's leaf hash, that the columns searches filter by (tenant, time, action, actor, patient
 * reference) are what the entry says, contiguous indexes, the integrated level-1 subtree hashes, every checkpoint's
 * signature and root, and a consistency proof between consecutive checkpoints. Works in one pass with
 * a compact range (the roots of the perfect subtrees covering [0, n)), so memory stays O(log n).
 */
export async function verifyAuditLog(
  repo: AuditLogRepository,
  origin: string,
  publicKey: KeyObject,
  onProgress: (done: number, total: number) => void = () => {},
): Promise<VerifyReport> {
  const problems: string[] = [];
  let firstBad: number | null = null;
  const bad = (index: number, why: string) => {
    if (firstBad === null || index < firstBad) firstBad = index;
    if (problems.length < 20) problems.push(`index ${index}: ${why}`);
  };
  await repo.sequenceAll();
  const total = await repo.size();
  const checkpoints = await repo.checkpoints(-1, 1_000_000);
  let nextCheckpoint = 0;
  const stack: { size: number; hash: Uint8Array }[] = [];
  let n = 0;
  let afterIdx = 0;
  let lastReported = 0;

  const rootNow = () => {
    if (!stack.length) return null;
    let root = stack[stack.length - 1].hash;
    for (let i = stack.length - 2; i >= 0; i--) root = hashChildren(stack[i].hash, root);
    return root;
  };
  const checkCheckpointsAt = (size: number) => {
    while (nextCheckpoint < checkpoints.length && Number(checkpoints[nextCheckpoint].size) === size) {
      const cp = checkpoints[nextCheckpoint++];
      const root = size === 0 ? null : rootNow();
      if (root && !Buffer.from(root).equals(Buffer.from(cp.root)))
        bad(Math.max(0, size - 1), `tree of size ${size} does not match its signed checkpoint`);
    }
  };

  checkCheckpointsAt(0);
  for (;;) {
    const rows = await repo.entries(afterIdx, PAGE);
    if (!rows.length) break;
    const first = n;
    // Level-1 hashes of the *stored* leaf hashes, by position, and positions whose idx is wrong.
    const storedPairs = new Map<number, Uint8Array>();
    const misnumbered = new Set<number>();
    let previousLeaf: Uint8Array | null = null;
    for (const r of rows) {
      const index = n;
      if (Number(r.idx) !== index + 1) {
        bad(index, `expected stored index ${index + 1}, found ${r.idx} (row removed, inserted or renumbered)`);
        misnumbered.add(index);
      }
      const h = leafHash(Buffer.from(r.entry, 'utf8'));
      if (!Buffer.from(h).equals(Buffer.from(r.leaf_hash))) bad(index, 'entry does not match its leaf hash (edited)');
      const differ = searchableMismatches(r);
      if (differ.length)
        bad(
          index,
          `searchable column(s) ${differ.join(', ')} of row audit_entries.idx ${r.idx} differ from its entry (edited: searches by them would miss or misfile the entry)`,
        );
      if (index % 2 === 1 && previousLeaf) storedPairs.set((index - 1) / 2, hashChildren(previousLeaf, r.leaf_hash));
      previousLeaf = r.leaf_hash;
      // Append to the compact range, merging equal-size subtrees (RFC 9162 tree shape).
      let node = { size: 1, hash: h };
      while (stack.length && stack[stack.length - 1].size === node.size) {
        const left = stack.pop()!;
        node = { size: left.size * 2, hash: hashChildren(left.hash, node.hash) };
      }
      stack.push(node);
      n++;
      afterIdx = Number(r.idx);
      checkCheckpointsAt(n);
    }
    // Level-1 hashes stored by the integrator were computed from the leaf hashes as they were then.
    // An entry that no longer matches its own leaf hash was reported above at its exact index; a
    // stored leaf hash that changed (rewritten with its entry, rows swapped, a row inserted) shows
    // only here, where the pair's first index is the most precise answer the stored hashes allow.
    // A pair holding a misnumbered row was already reported at that row.
    for (const s of await repo.nodesAt(1, first / 2, Math.ceil(n / 2))) {
      const k = Number(s.idx);
      const mine = storedPairs.get(k);
      if (
        mine &&
        !misnumbered.has(2 * k) &&
        !misnumbered.has(2 * k + 1) &&
        !Buffer.from(mine).equals(Buffer.from(s.hash))
      ) {
        bad(
          2 * k,
          'stored leaf hashes differ from when they were integrated (entry and leaf hash rewritten, rows reordered or inserted)',
        );
      }
    }
    if (n - lastReported >= 50_000 || n === total) {
      onProgress(n, total);
      lastReported = n;
    }
  }
  if (n !== total) bad(n, `found ${n} entries, the sequenced size says ${total}`);
  for (; nextCheckpoint < checkpoints.length; nextCheckpoint++) {
    bad(
      Number(checkpoints[nextCheckpoint].size) - 1,
      `checkpoint of size ${checkpoints[nextCheckpoint].size} is beyond the stored entries (entries removed)`,
    );
  }

  // Signatures, and that each checkpoint extends the previous one.
  let previous: { size: number; root: Uint8Array } | null = null;
  for (const cp of checkpoints) {
    const size = Number(cp.size);
    const verified = verifyNote(cp.note, origin, publicKey);
    let body: ReturnType<typeof parseCheckpoint> | null = null;
    try {
      body = verified ? parseCheckpoint(verified.text) : null;
    } catch {
      body = null;
    }
    if (!body || body.origin !== origin || body.size !== size || !Buffer.from(body.root).equals(Buffer.from(cp.root))) {
      problems.push(`checkpoint of size ${size}: signature or content does not verify`);
      if (firstBad === null) firstBad = Math.max(0, size - 1);
      continue;
    }
    if (previous && previous.size > 0 && size <= n) {
      let consistent = false;
      try {
        const proof = await consistencyProof(previous.size, size, async (level, index) => {
          const h = await repo.node(level, index);
          if (!h) throw new Error('missing node');
          return h;
        });
        consistent = verifyConsistency(previous.size, size, previous.root, body.root, proof);
      } catch {
        consistent = false;
      }
      if (!consistent)
        bad(previous.size, `checkpoint of size ${size} is not consistent with checkpoint of size ${previous.size}`);
    }
    previous = { size, root: body.root };
  }
  return {
    ok: problems.length === 0,
    entries: n,
    checkpoints: checkpoints.length,
    firstBadIndex: firstBad,
    problems,
    pending: await repo.pendingCount(),
  };
}
