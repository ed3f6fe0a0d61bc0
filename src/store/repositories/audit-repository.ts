import { encodeAuditEntry, type AuditEvent } from '../../audit/audit-entry.js';
import type { PendingAudit } from '../audit-sequencing.js';

/** Appends to the tamper-evident audit log, in the caller's transaction. */
export interface AuditRepository {
  /**
   * Adds an entry to this transaction: it commits with the transaction's other writes or not at all.
   * Its Merkle index is assigned later (see audit-sequencing.ts); entries hold identifiers and
   * hashes only, never PHI.
   */
  append(e: AuditEvent): Promise<void>;
}

/** Collects a transaction's entries; the store writes them, with one multi-row statement, just before COMMIT. */
export class PendingAuditRepository implements AuditRepository {
  constructor(private readonly pending: PendingAudit[] | null) {}

  async append(e: AuditEvent): Promise<void> {
    if (!this.pending) throw new Error('audit entries are appended inside a transaction only');
    const { entry, leafHash } = encodeAuditEntry(e);
    this.pending.push({
      tenant_id: e.tenantId,
      at: e.at.getTime(),
      action: e.action,
      actor: e.actor,
      patient_ref: e.patientRef ?? null,
      entry,
      leaf_hash: leafHash,
    });
  }
}
