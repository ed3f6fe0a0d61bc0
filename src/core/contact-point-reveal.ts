import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef, requirePatientDataKey } from './context.js';
import { AppError } from './errors.js';
import type { PatientIdentifier } from './domain.js';
import type { PatientService } from './patient-service.js';
import type { StoreTx } from '../store/store.js';
import type { ContactPointRow } from '../store/repositories/contact-point-repository.js';

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

  /** The patient holding an identifier, unaudited (to check the caller's relationship first); null when none. */
  find(ctx: RequestContext, identifier: PatientIdentifier): Promise<{ patientId: string; erased: boolean } | null> {
    return this.patients.findByIdentifier(ctx, identifier);
  }

  /** The opaque id behind an identifier; the lookup itself is audited (an identifier search is an access). */
  async lookup(ctx: RequestContext, identifier: PatientIdentifier): Promise<{ patientId: string; erased: boolean }> {
    const hit = await this.find(ctx, identifier);
    if (!hit) throw new AppError('SP_PATIENT_NOT_FOUND');
    await this.audited(ctx, hit.patientId, 'patient.looked_up', { erased: hit.erased });
    return hit;
  }

  /** The patient's contact points (push registrations left out: device secrets), masked. */
  async masked(ctx: RequestContext, patientId: string): Promise<MaskedContactPoint[]> {
    const { store } = this.deps;
    return store.transaction(async (tx) => {
      const key = await this.key(tx, ctx, patientId);
      const rows = (await tx.contactPoints.list(ctx.tenantId, patientId)).filter((c) => c.system !== 'push');
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

  private async audited(ctx: RequestContext, patientId: string, action: string, details: Record<string, boolean>) {
    const ref = patientRef(this.deps, ctx.tenantId, patientId);
    await this.deps.store.transaction((tx) =>
      audit(tx, ctx, this.deps.clock(), { action, targetType: 'patient', targetId: ref, patientRef: ref, details }),
    );
    await this.deps.store.durable();
  }
}
