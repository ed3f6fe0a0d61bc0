import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { AuditLogRepository } from '../store/repositories/audit-log-repository.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import {
  hashChildren,
  perfectNodesCompletedBy,
  treeRoot,
  inclusionProof,
  consistencyProof,
  type NodeSource,
} from './merkle-proofs.js';
import { formatCheckpoint, signNote, verifierKey } from './checkpoint.js';
import { AppError } from '../core/errors.js';
import type { ProofAnchor } from '../crypto/proof-verifier.js';

export interface AuditLogOptions {
  /** C2SP checkpoint origin, e.g. `clinic.example/sealpost/audit`; also the signing key's name. */
  origin: string;
  /** Issue a checkpoint when this many seconds passed since the last one (and the log grew). */
  checkpointSeconds: number;
  /** …or when this many entries were appended since the last one. */
  checkpointEntries: number;
  /** Integrator batch size (leaves per transaction). */
  batch: number;
  /**
   * This node's id for the `audit-log` lease: with several nodes on one database, only the holder
   * runs the background integration and periodic checkpoints; another takes over once it expires.
   */
  owner?: string;
}

const LEASE = 'audit-log';
/** Entries numbered per sequencing transaction. */
const SEQUENCE_BATCH = 10_000;

export interface Checkpoint {
  size: number;
  root: Uint8Array;
  note: string;
  createdAt: Date;
}

/**
 * The transparency log over the audit entries (RFC 9162 §2.1). Writers only append entries; giving
 * them their indexes (sequencing) and hashing the tree happen here, behind the writers, as Tessera's
 * integrator does. On PostgreSQL entries are written without an index and numbered here once no
 * transaction that could still commit can come before them (audit-sequencing.ts); on SQLite (one
 * writer) each transaction numbers its own. A crash between the steps loses nothing: sequencing and
 * integration resume from the stored sizes. Checkpoints are C2SP tlog-checkpoints signed as C2SP
 * signed notes (Ed25519).
 */
export class AuditLog {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly keys: KeyProvider,
    private readonly opts: AuditLogOptions,
    private readonly clock: () => Date,
    private readonly log: Logger,
  ) {}

  /** The verifier key (C2SP vkey) outsiders use to check checkpoints. */
  verifierKey(): string {
    return verifierKey(this.opts.origin, this.keys.auditLogKey().publicKey);
  }

  /**
   * Numbers the pending entries that can be numbered now (see `sequence`), then hashes newly
   * numbered leaves into perfect subtrees, in transactions of `batch` leaves.
   * Returns the integrated size afterwards.
   */
  async integrate(maxLeaves = Number.MAX_SAFE_INTEGER): Promise<number> {
    await this.sequence();
    let done = 0;
    for (;;) {
      const result = await this.store.transaction(async (tx) => {
        // Integration by two nodes at once would only redo work, but it is cheaper to wait.
        await tx.leases.lockExclusive('audit-integrate');
        const repo = tx.auditLog;
        const from = await repo.integratedSize();
        const leaves = await repo.leaves(from, Math.min(this.opts.batch, maxLeaves - done));
        if (!leaves.length) return { size: from, added: 0 };
        const fresh = new Map<string, Uint8Array>();
        const get = async (level: number, index: number) => {
          const h = fresh.get(`${level}/${index}`) ?? (await repo.node(level, index));
          if (!h) throw new AppError('SP_SERVER_INTERNAL', `missing audit node ${level}/${index}`);
          return h;
        };
        const rows: { level: number; idx: number; hash: Uint8Array }[] = [];
        for (const [i, leaf] of leaves.entries()) {
          const index = from + i;
          // Sequencing has no gaps (see AuditLogRepository); a gap means the table was altered.
          if (Number(leaf.idx) !== index + 1)
            throw new AppError('SP_SERVER_INTERNAL', `audit log gap at index ${index}`);
          fresh.set(`0/${index}`, leaf.leaf_hash);
          for (const n of perfectNodesCompletedBy(index)) {
            const hash = hashChildren(await get(n.level - 1, 2 * n.index), await get(n.level - 1, 2 * n.index + 1));
            fresh.set(`${n.level}/${n.index}`, hash);
            rows.push({ level: n.level, idx: n.index, hash });
          }
        }
        await repo.putNodes(rows);
        await repo.setIntegratedSize(from + leaves.length);
        return { size: from + leaves.length, added: leaves.length };
      });
      done += result.added;
      if (result.added < this.opts.batch || done >= maxLeaves) return result.size;
    }
  }

  /**
   * Gives pending entries their indexes, in transactions of its own (committed before any hashing,
   * so the numbers are final and the counter is held only briefly). Entries of transactions that
   * were still open when a run began wait for the next run. Returns the sequenced size.
   */
  async sequence(): Promise<number> {
    // Nothing pending is the usual case on SQLite: no transaction then.
    if (!(await this.store.read.auditLog.pendingCount())) return this.store.read.auditLog.size();
    for (;;) {
      const r = await this.store.transaction(async (tx) => {
        await tx.leases.lockExclusive('audit-integrate');
        return tx.auditLog.sequence(SEQUENCE_BATCH);
      });
      if (r.added < SEQUENCE_BATCH) return r.size;
    }
  }

  /** Integrates everything appended so far and signs a checkpoint for that size (if it is new). */
  async checkpoint(): Promise<Checkpoint> {
    const size = await this.integrate();
    const existing = await this.store.read.auditLog.latestCheckpoint();
    if (existing && Number(existing.size) === size) return toCheckpoint(existing);
    const root = await treeRoot(size, this.nodes(this.store.read.auditLog));
    const { privateKey } = this.keys.auditLogKey();
    const note = signNote(formatCheckpoint(this.opts.origin, size, root), this.opts.origin, privateKey);
    const row = { size, root: Buffer.from(root), note, created_at: this.clock().getTime() };
    // Not itself audited: an entry per checkpoint would make the log grow by itself forever.
    await this.store.transaction((tx) => tx.auditLog.insertCheckpoint(row));
    await this.store.durable();
    return toCheckpoint(row);
  }

  async latest(): Promise<Checkpoint | null> {
    const r = await this.store.read.auditLog.latestCheckpoint();
    return r ? toCheckpoint(r) : null;
  }

  async history(afterSize: number, limit: number): Promise<Checkpoint[]> {
    return (await this.store.read.auditLog.checkpoints(afterSize, limit)).map(toCheckpoint);
  }

  /** RFC 9162 §2.1.3 inclusion proof of leaf `index` in the tree of `size` (≤ integrated size). */
  async inclusion(
    index: number,
    size: number,
  ): Promise<{ leafHash: Uint8Array; proof: Uint8Array[]; root: Uint8Array }> {
    const repo = this.store.read.auditLog;
    await this.requireIntegrated(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new AppError('SP_AUDIT_PROOF_INVALID', 'index must be below size');
    const get = this.nodes(repo);
    return {
      leafHash: await get(0, index),
      proof: await inclusionProof(index, size, get),
      root: await treeRoot(size, get),
    };
  }

  /** RFC 9162 §2.1.4 consistency proof between the trees of sizes `from` ≤ `to` (≤ integrated size). */
  async consistency(from: number, to: number): Promise<{ proof: Uint8Array[]; root1: Uint8Array; root2: Uint8Array }> {
    const repo = this.store.read.auditLog;
    await this.requireIntegrated(to);
    if (!Number.isSafeInteger(from) || from < 1 || from > to)
      throw new AppError('SP_AUDIT_PROOF_INVALID', 'need 1 <= from <= to');
    const get = this.nodes(repo);
    return {
      proof: await consistencyProof(from, to, get),
      root1: await treeRoot(from, get),
      root2: await treeRoot(to, get),
    };
  }

  /**
   * The anchoring of a notification proof: its creation entry (found by tenant, patient reference,
   * time and target) with its inclusion proof in a signed checkpoint (see `anchorOf`).
   */
  anchor(q: {
    tenantId: string;
    patientRef: string;
    at: number;
    notificationId: string;
  }): Promise<ProofAnchor | { status: 'pending' } | null> {
    return this.anchorOf({
      tenantId: q.tenantId,
      patientRef: q.patientRef,
      at: q.at,
      action: 'notification.created',
      targetId: q.notificationId,
    });
  }

  /**
   * The anchoring of one audit entry, found by tenant, action, time, target id and patient reference
   * (null: an entry about no patient, e.g. a messaging device's registration), with its inclusion
   * proof in a signed checkpoint. When no checkpoint covers the entry yet, one is integrated and
   * signed now (as POST /v1/audit/checkpoints does), so an anchor fetched right after the change is
   * anchored at once. `pending` when the entry has no index yet (PostgreSQL: a transaction that
   * overlapped its own is still open after a short catch-up); `null` when the log holds no such entry.
   */
  async anchorOf(q: {
    tenantId: string;
    action: string;
    at: number;
    targetId: string;
    patientRef: string | null;
  }): Promise<ProofAnchor | { status: 'pending' } | null> {
    const find = async () =>
      (await this.store.read.auditLog.entriesAt(q.tenantId, q.patientRef, q.at, q.action)).find(
        (r) => (JSON.parse(r.entry) as { target?: { id?: string } }).target?.id === q.targetId,
      );
    let row = await find();
    if (row && row.idx == null) {
      await this.store.read.auditLog.catchUp();
      await this.sequence();
      row = await find();
    }
    if (!row) return null;
    if (row.idx == null) return { status: 'pending' };
    const index = Number(row.idx) - 1;
    let cp = await this.latest();
    if (!cp || cp.size <= index) cp = await this.checkpoint();
    if (cp.size <= index) return { status: 'pending' };
    const proof = await inclusionProof(index, cp.size, this.nodes(this.store.read.auditLog));
    return {
      status: 'anchored',
      entry: row.entry,
      index,
      treeSize: cp.size,
      inclusion: proof.map((h) => Buffer.from(h).toString('base64')),
      checkpoint: cp.note,
    };
  }

  async entry(index: number): Promise<{ index: number; entry: string; leafHash: Uint8Array }> {
    if (!Number.isSafeInteger(index) || index < 0) throw new AppError('SP_AUDIT_ENTRY_NOT_FOUND');
    const repo = this.store.read.auditLog;
    let r = await repo.entry(index);
    // A search may show an entry with the index it is about to get: number it now.
    if (!r && index >= (await this.sequence())) await this.refusePending(index + 1);
    r ??= await repo.entry(index);
    if (!r) throw new AppError('SP_AUDIT_ENTRY_NOT_FOUND');
    return { index, entry: r.entry, leafHash: r.leaf_hash };
  }

  /** Background integration and periodic checkpoints; one run at a time. */
  start(intervalMs = 1_000): void {
    let lastCheckpointAt = this.clock().getTime();
    const owner = this.opts.owner ?? 'local';
    const leaseMs = Math.max(10_000, 5 * intervalMs);
    const tick = async () => {
      try {
        const now = this.clock().getTime();
        if (!(await this.store.transaction((tx) => tx.leases.acquire(LEASE, owner, now, now + leaseMs)))) return;
        const size = await this.integrate();
        const last = await this.store.read.auditLog.latestCheckpoint();
        const grown = size - (last ? Number(last.size) : 0);
        const due = this.clock().getTime() - lastCheckpointAt >= this.opts.checkpointSeconds * 1000;
        if (grown > 0 && (grown >= this.opts.checkpointEntries || due || !last)) {
          await this.checkpoint();
          lastCheckpointAt = this.clock().getTime();
        }
      } catch (e) {
        this.log.error({ err: e }, 'audit log integration failed; will retry');
      }
    };
    const loop = () => {
      this.running = tick().finally(() => {
        if (this.timer !== null) this.timer = setTimeout(loop, intervalMs);
      });
    };
    this.timer = setTimeout(loop, intervalMs);
  }

  async stop(): Promise<void> {
    const wasRunning = this.timer !== null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    // Hand the duty over at once instead of after the lease expires.
    if (wasRunning)
      await this.store.transaction((tx) => tx.leases.release(LEASE, this.opts.owner ?? 'local')).catch(() => {});
  }

  private async requireIntegrated(size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new AppError('SP_AUDIT_PROOF_INVALID', 'size must be a positive integer');
    const integrated = await this.integrate();
    if (size > integrated) {
      await this.refusePending(size);
      throw new AppError('SP_AUDIT_PROOF_INVALID', 'size is larger than the log');
    }
  }

  /**
   * Throws SP_AUDIT_PENDING when the log will reach `size` entries with entries already committed
   * but not yet numbered (their transactions overlapped one that is still open).
   */
  private async refusePending(size: number): Promise<void> {
    const repo = this.store.read.auditLog;
    const pending = await repo.pendingCount();
    if (pending && size <= (await repo.size()) + pending) throw new AppError('SP_AUDIT_PENDING');
  }

  private nodes(repo: AuditLogRepository): NodeSource {
    return async (level, index) => {
      const h = await repo.node(level, index);
      if (!h) throw new AppError('SP_SERVER_INTERNAL', `missing audit node ${level}/${index}`);
      return h;
    };
  }
}

function toCheckpoint(r: { size: number; root: Uint8Array; note: string; created_at: number }): Checkpoint {
  return { size: Number(r.size), root: r.root, note: r.note, createdAt: new Date(Number(r.created_at)) };
}
