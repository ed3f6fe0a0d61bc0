import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * One audit record. Identifiers, hashes and outcomes only, never PHI: erasing a patient must leave
 * the log verifiable, so nothing here may need erasing.
 */
export interface AuditEvent {
  tenantId: string;
  at: Date;
  /** `api-key:<id>`, `patient-link:<token hash prefix>`, `system:worker`, `cli`… */
  actor: string;
  /** Dotted verb, e.g. `notification.created`, `portal.verification_failed`. */
  action: string;
  outcome: 'success' | 'failure';
  targetType?: string;
  targetId?: string;
  /** Pseudonymous patient id (keyed hash), never the caller's patient id or MRN. */
  patientRef?: string | null;
  requestId?: string;
  sourceIp?: string;
  /** PHI-free extras: delivery ids, channels, error codes, counts. */
  details?: Record<string, string | number | boolean | string[] | null>;
}

/**
 * Canonical bytes of an entry (RFC 8785 JSON Canonicalization) and its RFC 9162 §2.1.1 leaf hash
 * SHA-256(0x00 ‖ entry). The canonical form makes the hash independent of key order.
 */
export function encodeAuditEntry(e: AuditEvent): { entry: string; leafHash: Buffer } {
  const record = {
    v: 1,
    at: e.at.toISOString(),
    tenant: e.tenantId,
    actor: e.actor,
    action: e.action,
    outcome: e.outcome,
    target: e.targetType ? { type: e.targetType, id: e.targetId ?? null } : null,
    patient: e.patientRef ?? null,
    request: e.requestId ?? null,
    ip: e.sourceIp ?? null,
    details: e.details ?? null,
  };
  const entry = canonicalize(record)!;
  const leafHash = createHash('sha256')
    .update(Buffer.from([0]))
    .update(entry, 'utf8')
    .digest();
  return { entry, leafHash };
}

/**
 * The audit port as commands see it: append within the caller's transaction (the entry gets its log
 * index when that transaction commits). The store's repositories implement it; the Merkle tree and checkpoints build on the
 * entries and leaf hashes it stores.
 */
export interface AuditAppender {
  readonly audit: { append(e: AuditEvent): Promise<void> };
}
