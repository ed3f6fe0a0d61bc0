import type { CoreDeps, RequestContext } from './context.js';
import { announce, deliveryEvents } from './events.js';
import { audit, patientDataKey, patientRef } from './context.js';
import { tombstoneIdentifiers } from './patient-identifiers.js';
import { AppError } from './errors.js';
import { replyAddressRef } from './patient-replies.js';

/**
 * Re-wraps every data key of a tenant under a new KEK version and destroys every older version of
 * that tenant's KEK (wired in app/services.ts from the key provider and key-rotation.ts).
 */
export interface KekShredder {
  rotateAndDestroy(tenantId: string, onProgress?: ShredProgress): Promise<{ keyId: string; destroyed: string[] }>;
}

export type ShredProgress = (stage: string, done: number, total: number) => void;

export interface ShredResult {
  keyId: string;
  destroyed: string[];
  /** The erasures this rotation completed. */
  erasures: string[];
}

export type ShreddingState = 'pending' | 'complete';

export interface ErasureRecord {
  erasureId: string;
  erasedAt: string;
  shredding: ShreddingState;
  completedAt: string | null;
}

export interface ErasureResult extends ErasureRecord {
  /** What the erasure transaction did, as counts (ids stay in the audit entry). */
  counts: {
    notifications: number;
    deliveriesCancelled: number;
    contactPoints: number;
    portalLinks: number;
    idempotencyRecords: number;
    outboxMessages: number;
    /** Patient accounts deleted, their sessions and devices revoked. */
    patientAccounts: number;
    /** Care-team memberships deleted and live break-glass grants ended. */
    careTeamMembers: number;
    breakGlassGrantsEnded: number;
    appointments: number;
    /** Identifiers turned into tombstones (value gone, blind index kept: see patient-identifiers.ts). */
    identifiers: number;
  };
}

export interface ErasureOptions {
  /** Completes erasures (KEK rotation + destruction); without it erasures stay `pending`. */
  kek?: KekShredder;
  /** Where a failed background shredding is reported (it stays pending and is retried at next start). */
  onError?: (e: unknown) => void;
}

/** Stored as the `lastErrorCode` of deliveries an erasure cancelled (and so recognised by the worker). */
export const ERASED_CODE = 'SP_PATIENT_ERASED';

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

/**
 * Crypto-shredding (right to erasure). In one transaction: the patient's wrapped data key is deleted
 * (every ciphertext under it becomes noise), everything derived from PHI but not under that key is
 * deleted (blind indexes, request fingerprints, dev-outbox copies), pending deliveries are cancelled,
 * identifiers become tombstones (their value is deleted, an index under the reference key stays so
 * that a later HL7 or FHIR message about the person is recognised and not re-created),
 * notifications and deliveries stay as tombstones without content, and the erasure is audited with
 * the pseudonymous reference only. A pre-erasure backup still holds the wrapped key; the `Shredder`
 * closes that gap afterwards by rotating the tenant KEK and destroying the old version.
 */
export class ErasureService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly opts: ErasureOptions = {},
  ) {}

  /** Serializes this process's shredding per tenant (other nodes are kept out by a lease). */
  private readonly running = new Map<string, Promise<ShredResult | null>>();
  private readonly owner = `erasure-${Math.random().toString(36).slice(2)}`;

  /**
   * Erases a patient whose id the caller has validated (PatientService.erase). Resolves once the
   * erasure transaction is durable; the shredding then runs in the background unless the caller
   * (the CLI) completes it itself with `completeShredding`.
   */
  async erase(ctx: RequestContext, patientId: string, o: { shredInBackground?: boolean } = {}): Promise<ErasureResult> {
    const { store, clock, newId, cipher } = this.deps;
    const result = await store.transaction(async (tx) => {
      const patient = await tx.patients.get(ctx.tenantId, patientId);
      if (!patient) {
        // A repeated erasure changes nothing and says so; an id never seen is simply unknown.
        if (await tx.erasures.latest(ctx.tenantId, patientId)) throw new AppError('SP_PATIENT_ERASED');
        throw new AppError('SP_PATIENT_NOT_FOUND');
      }
      const now = clock();
      const at = now.getTime();
      if (store.backend === 'sqlite') await tx.erasures.sqliteSecureDelete();
      const cancelled = await tx.erasures.cancelPatientDeliveries(ctx.tenantId, patientId, at, ERASED_CODE);
      // Subscribers hear the cancellations (ids only), as for any other cancel.
      const subject = { tenant_id: ctx.tenantId, patient_id: patientId };
      await announce(
        this.deps,
        tx,
        cancelled.flatMap((c) => deliveryEvents({ ...subject, id: c.notification_id }, [c.id], 'cancelled', at)),
      );
      const stripped = await tx.erasures.stripPatientContent(
        ctx.tenantId,
        patientId,
        [...new Set(cancelled.map((c) => c.notification_id))],
        at,
      );
      const portalLinks = await tx.erasures.burnPatientLinks(ctx.tenantId, patientId, at);
      const idempotencyRecords = await tx.idempotency.deleteForNotifications(ctx.tenantId, stripped.notifications);
      const outboxMessages = await tx.outbox.deleteForDeliveries(stripped.deliveries);
      const appointments = await tx.erasures.deleteAppointments(ctx.tenantId, patientId);
      // HL7 v2 messages applied to the patient: their raw text (PHI) and its data key go.
      await tx.hl7Messages.forgetPatient(ctx.tenantId, patientId);
      const patientAccounts = await tx.patientAccounts.eraseOfPatient(ctx.tenantId, patientId, at);
      // The consent ledger goes with the patient (its history included: docs/consent.md).
      await tx.consents.deleteForPatient(ctx.tenantId, patientId);
      // Delivery preferences and the send ledger (caps, duplicates) go too.
      await tx.preferences.deleteForPatient(ctx.tenantId, patientId);
      await tx.sendLedger.deleteForPatient(ctx.tenantId, patientId);
      // Reply questions (bound to the patient's number by blind index), their unrecognised texts, the
      // EHR events about them, and the HELP-answer turns of their numbers: those are keyed by the
      // number's blind index, computed here while the contact points and the data key still exist.
      const key = await patientDataKey(this.deps, tx, ctx.tenantId, patientId);
      const smsRefs = key
        ? (await tx.contactPoints.list(ctx.tenantId, patientId))
            .filter((c) => c.system === 'sms')
            .map((c) =>
              replyAddressRef(
                this.deps,
                ctx.tenantId,
                cipher.decrypt(
                  key,
                  { tenantId: ctx.tenantId, table: 'contact_points', rowId: c.id, field: 'value' },
                  c.value_ct,
                ),
              ),
            )
        : [];
      await tx.patientReplies.deleteForPatient(ctx.tenantId, patientId, [...new Set(smsRefs)]);
      const relations = await tx.access.eraseOfPatient(ctx.tenantId, patientId, at);
      // Before the key goes: each identifier's value is needed once more, to index its tombstone.
      const identifiers = await tombstoneIdentifiers(
        this.deps,
        tx,
        ctx.tenantId,
        patientId,
        await patientDataKey(this.deps, tx, ctx.tenantId, patientId),
        at,
      );
      const { contactPoints } = await tx.erasures.deletePatientAndKey(ctx.tenantId, patientId);
      const ref = patientRef(this.deps, ctx.tenantId, patientId);
      const erasureId = newId();
      await tx.erasures.insert({
        id: erasureId,
        tenant_id: ctx.tenantId,
        patient_id: patientId,
        patient_ref: ref,
        erased_at: at,
        shredding: 'pending',
        completed_at: null,
      });
      const counts = {
        notifications: stripped.notifications.length,
        deliveriesCancelled: cancelled.length,
        contactPoints,
        portalLinks,
        idempotencyRecords,
        outboxMessages,
        appointments,
        identifiers,
        patientAccounts,
        careTeamMembers: relations.careTeam,
        breakGlassGrantsEnded: relations.grants,
      };
      await audit(tx, ctx, now, {
        action: 'patient.erased',
        targetType: 'patient',
        targetId: ref,
        patientRef: ref,
        details: { erasure: erasureId, ...counts },
      });
      return { erasureId, erasedAt: iso(at)!, shredding: 'pending' as const, completedAt: null, counts };
    });
    // The committed erasure made the wrapped key unreachable; drop (and zeroize) the unwrapped copy too.
    cipher.forget(ctx.tenantId, patientId);
    await store.durable();
    if (o.shredInBackground !== false) this.schedule(ctx.tenantId);
    return result;
  }

  /** Completes the tenant's pending erasures in the background; a failure leaves them pending (resumed at next start). */
  schedule(tenantId: string): void {
    this.completeShredding(tenantId).catch((e: unknown) => this.opts.onError?.(e));
  }

  /** At start: resumes every erasure a crash (or a failed rotation) left pending. */
  async resumePending(): Promise<void> {
    const tenants = new Set((await this.deps.store.read.erasures.listPending()).map((e) => e.tenant_id));
    for (const t of tenants) this.schedule(t);
  }

  /**
   * Rotates the tenant KEK, destroys the old versions and marks complete the erasures that were
   * pending when the rotation began (one committed during it needs the next rotation, which follows
   * at once). Returns null when there is nothing to do, no KEK shredder is wired, or another node
   * holds the tenant's shredding lease (it will pick these erasures up).
   */
  completeShredding(tenantId: string, onProgress?: ShredProgress): Promise<ShredResult | null> {
    const prior = this.running.get(tenantId) ?? Promise.resolve(null);
    const next = prior.catch(() => null).then(() => this.shredOnce(tenantId, onProgress));
    this.running.set(tenantId, next);
    void next.finally(() => this.running.get(tenantId) === next && this.running.delete(tenantId)).catch(() => {});
    return next;
  }

  private async shredOnce(tenantId: string, onProgress?: ShredProgress): Promise<ShredResult | null> {
    const { store, clock } = this.deps;
    const kek = this.opts.kek;
    if (!kek) return null;
    const lease = `erasure-shredding:${tenantId}`;
    let last: ShredResult | null = null;
    // A few rounds at most: each covers the erasures committed before it began.
    for (let round = 0; round < 3; round++) {
      const pending = (await store.read.erasures.listPending()).filter((e) => e.tenant_id === tenantId);
      if (!pending.length) break;
      const now = clock().getTime();
      if (!(await store.read.leases.acquire(lease, this.owner, now, now + 3_600_000))) return last;
      try {
        const r = await kek.rotateAndDestroy(tenantId, onProgress);
        const ids = pending.map((e) => e.id);
        await store.transaction(async (tx) => {
          const done = await tx.erasures.complete(tenantId, ids, clock().getTime());
          for (const e of pending.filter((p) => done.includes(p.id))) {
            await tx.audit.append({
              tenantId,
              at: clock(),
              actor: 'system:erasure',
              action: 'patient.erasure_completed',
              outcome: 'success',
              targetType: 'patient',
              targetId: e.patient_ref,
              patientRef: e.patient_ref,
              details: { erasure: e.id, kek: r.keyId, destroyed: r.destroyed },
            });
          }
        });
        await store.durable();
        last = { ...r, erasures: ids };
      } finally {
        await store.read.leases.release(lease, this.owner);
      }
    }
    return last;
  }

  /** The latest erasure of a patient id, or null when it was never erased. */
  async status(tenantId: string, patientId: string): Promise<ErasureRecord | null> {
    const e = await this.deps.store.read.erasures.latest(tenantId, patientId);
    if (!e) return null;
    return {
      erasureId: e.id,
      erasedAt: iso(e.erased_at)!,
      shredding: e.shredding as ShreddingState,
      completedAt: iso(e.completed_at),
    };
  }
}
