import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef, requirePatientDataKey } from './context.js';
import { AppError } from './errors.js';
import type { PatientIdentifier } from './domain.js';
import { normaliseIdentifiers } from './patient-identifiers.js';
import type { PatientService } from './patient-service.js';
import type { StoreTx } from '../store/store.js';
import type { ContactPointRow } from '../store/repositories/contact-point-repository.js';

/**
 * Whether the caller may see this patient (the route applies auth/patient-access.ts in the lookup's
 * transaction): `grantId` names the break-glass grant that let them in, if one did.
 */
export type LookupAccess = (tx: StoreTx, patientId: string) => Promise<{ allowed: boolean; grantId: string | null }>;

/** A contact point as staff first see it: its kind and a mask (`+1 415 ••• ••71`, `j•••@example.org`). */
export interface MaskedContactPoint {
  id: string;
  system: string;
  rank: number;
  masked: string;
  optedOut: boolean;
}

const DOT = '•';

/**
 * Keeps what a person needs to tell two numbers or addresses apart and nothing more: a phone's
 * country and area code and its last two digits, an address's first letter and its domain.
 */
export function maskContact(system: string, value: string): string {
  if (system === 'email') {
    const at = value.lastIndexOf('@');
    if (at < 1) return DOT.repeat(6);
    return `${value[0]}${DOT.repeat(3)}@${value.slice(at + 1)}`;
  }
  if (system === 'sms' || system === 'voice' || system === 'phone') {
    const digits = value.replace(/\D/g, '');
    if (digits.length < 8) return DOT.repeat(6);
    const m = /^1(\d{3})/.exec(digits);
    const head = value.startsWith('+') && m ? `+1 ${m[1]}` : value.startsWith('+') ? `+${digits.slice(0, 2)}` : '';
    return `${head} ${DOT.repeat(3)} ${DOT.repeat(2)}${digits.slice(-2)}`.trim();
  }
  // Webhooks and the rest: the kind says enough.
  return DOT.repeat(6);
}

/** Patient lookup by identifier, masked contact points and their audited reveal (the console's patient screen). */
export class ContactPointReveal {
  constructor(
    private readonly deps: CoreDeps,
    private readonly patients: PatientService,
  ) {}

  /**
   * The opaque id behind an identifier. Every lookup is on the record, found or not, in the same
   * transaction as the read (`patient.looked_up`: a keyed hash of the identifier, never the
   * identifier, and the outcome: `found`, `not_found`, `no_relationship`, `erased`). Unknown,
   * outside the caller's relationship and erased all answer the same 404, so the lookup is no
   * oracle for whether an identifier is held, nor keeps an erased patient's MRN→id link readable;
   * only callers who erase (`showErased`) learn `erased: true`, which they need.
   */
  async lookup(
    ctx: RequestContext,
    identifier: PatientIdentifier,
    o: { access: LookupAccess; showErased: boolean },
  ): Promise<{ patientId: string; erased: boolean }> {
    const { store, clock } = this.deps;
    const [normal] = normaliseIdentifiers([identifier]);
    const identifierHash = this.deps.cipher
      .blindIndex(ctx.tenantId, 'patient.lookup.identifier', JSON.stringify([normal!.system, normal!.value]))
      .slice(0, 32);
    const { hit, result } = await store.transaction(async (tx) => {
      const hit = await this.patients.findByIdentifierInTx(tx, ctx.tenantId, identifier);
      let result: 'found' | 'not_found' | 'no_relationship' | 'erased' = 'not_found';
      let grant: string | null = null;
      if (hit?.erased) result = 'erased';
      else if (hit) {
        const a = await o.access(tx, hit.patientId);
        result = a.allowed ? 'found' : 'no_relationship';
        grant = a.grantId;
      }
      const ref = hit ? patientRef(this.deps, ctx.tenantId, hit.patientId) : null;
      const at = clock();
      if (grant && ref)
        await audit(tx, ctx, at, {
          action: 'access.break_glass_used',
          targetType: 'break_glass_grant',
          targetId: grant,
          patientRef: ref,
          details: { breakGlass: grant },
        });
      const answered = result === 'found' || (result === 'erased' && o.showErased);
      await audit(tx, ctx, at, {
        action: 'patient.looked_up',
        outcome: answered ? 'success' : 'failure',
        targetType: 'patient',
        ...(ref ? { targetId: ref } : {}),
        patientRef: ref,
        details: { identifierHash, result, ...(grant ? { breakGlass: grant } : {}) },
      });
      return { hit, result };
    });
    await store.durable();
    if (hit && result === 'found') return { patientId: hit.patientId, erased: false };
    if (hit && result === 'erased' && o.showErased) return { patientId: hit.patientId, erased: true };
    throw new AppError('SP_PATIENT_NOT_FOUND');
  }

  /**
   * The patient's contact points (push registrations left out: device secrets), masked. Audited
   * (`patient.contact_points_read`) in the same transaction: the kinds, ranks, opt-outs and masks
   * (area code, last digits, e-mail domain) are PHI too.
   */
  async masked(ctx: RequestContext, patientId: string): Promise<MaskedContactPoint[]> {
    const { store } = this.deps;
    const result = await store.transaction(async (tx) => {
      const key = await this.key(tx, ctx, patientId);
      const rows = (await tx.contactPoints.list(ctx.tenantId, patientId)).filter((c) => c.system !== 'push');
      const ref = patientRef(this.deps, ctx.tenantId, patientId);
      await audit(tx, ctx, this.deps.clock(), {
        action: 'patient.contact_points_read',
        targetType: 'patient',
        targetId: ref,
        patientRef: ref,
        details: { count: rows.length },
      });
      return rows
        .sort((a, b) => a.rank - b.rank)
        .map((c) => ({
          id: c.id,
          system: c.system,
          rank: c.rank,
          masked: maskContact(c.system, this.open(key, ctx, c)),
          optedOut: c.opted_out_at != null,
        }));
    });
    await store.durable();
    return result;
  }

  /** One contact point in the clear, audited (`patient.contact_point_revealed`) in the same transaction. */
  async reveal(
    ctx: RequestContext,
    patientId: string,
    contactPointId: string,
  ): Promise<{ id: string; system: string; value: string }> {
    const { store } = this.deps;
    const result = await store.transaction(async (tx) => {
      const key = await this.key(tx, ctx, patientId);
      const c = await tx.contactPoints.get(contactPointId);
      if (!c || c.tenant_id !== ctx.tenantId || c.patient_id !== patientId || c.system === 'push')
        throw new AppError('SP_PATIENT_CONTACT_NOT_FOUND');
      const ref = patientRef(this.deps, ctx.tenantId, patientId);
      await audit(tx, ctx, this.deps.clock(), {
        action: 'patient.contact_point_revealed',
        targetType: 'contact_point',
        targetId: c.id,
        patientRef: ref,
        details: { system: c.system },
      });
      return { id: c.id, system: c.system, value: this.open(key, ctx, c) };
    });
    await store.durable();
    return result;
  }

  private async key(tx: StoreTx, ctx: RequestContext, patientId: string): Promise<Buffer> {
    const p = await tx.patients.get(ctx.tenantId, patientId);
    if (!p) {
      if (await tx.erasures.latest(ctx.tenantId, patientId)) throw new AppError('SP_PATIENT_ERASED');
      throw new AppError('SP_PATIENT_NOT_FOUND');
    }
    return requirePatientDataKey(this.deps, tx, ctx.tenantId, patientId);
  }

  private open(key: Buffer, ctx: RequestContext, c: ContactPointRow): string {
    const ref = { tenantId: ctx.tenantId, table: 'contact_points', rowId: c.id, field: 'value' };
    return this.deps.cipher.decrypt(key, ref, c.value_ct);
  }
}
