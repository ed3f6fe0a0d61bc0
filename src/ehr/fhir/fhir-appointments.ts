import { randomBytes } from 'node:crypto';
import type { Appointment } from 'fhir/r4.js';
import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit, patientDataKey, patientRef, externalRef } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import type { AppointmentInput, AppointmentService } from '../../core/appointment-service.js';
import type { StoreTx } from '../../store/store.js';
import {
  appointmentFromFhir,
  appointmentToFhir,
  ENDING_STATUSES,
  SCHEDULING_STATUSES,
  type MappedAppointment,
  type StoredAppointment,
} from './appointment.js';

export interface FhirAppointmentsDeps {
  core: CoreDeps;
  appointments: AppointmentService;
}

/**
 * FHIR ids are 1-64 of [A-Za-z0-9.-]; external ids are up to 128 of [A-Za-z0-9._:-]. An external id
 * that is a FHIR id is its own FHIR id. Others get a reversible one: `<prefix>-<hex>` (the shape of
 * HL7-booked ids: `hl7-` and a 64-digit keyed hash) as `z.<prefix>.<the hex bytes in base64url,
 * `_` written `.`>`, anything else of up to 31 bytes as `x.<hex>`. Ids starting `x.` or `z.` are
 * always encoded, so decoding is unambiguous.
 */
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;
const PREFIXED_HEX = /^([A-Za-z0-9]{1,16})-((?:[0-9a-f]{2}){1,40})$/;
const HEX_ENCODED = /^x\.((?:[0-9a-f]{2}){1,31})$/;
const PREFIX_ENCODED = /^z\.([A-Za-z0-9]{1,16})\.([A-Za-z0-9.-]{2,54})$/;

/** The FHIR id of an appointment's external id; null when it has none (see above). */
export function fhirAppointmentId(externalId: string): string | null {
  if (FHIR_ID.test(externalId) && !/^[xz]\./.test(externalId)) return externalId;
  const m = PREFIXED_HEX.exec(externalId);
  if (m) {
    const id = `z.${m[1]}.${Buffer.from(m[2]!, 'hex').toString('base64url').replaceAll('_', '.')}`;
    if (id.length <= 64) return id;
  }
  const hex = Buffer.from(externalId, 'utf8').toString('hex');
  return hex.length <= 62 ? `x.${hex}` : null;
}

/** The external id behind a FHIR id (the inverse of fhirAppointmentId). */
export function externalIdOf(fhirId: string): string {
  const x = HEX_ENCODED.exec(fhirId);
  if (x) return Buffer.from(x[1]!, 'hex').toString('utf8');
  const z = PREFIX_ENCODED.exec(fhirId);
  if (z) return `${z[1]}-${Buffer.from(z[2]!.replaceAll('.', '_'), 'base64url').toString('hex')}`;
  return fhirId;
}

/**
 * FHIR Appointment over the same `AppointmentService` as `PUT /v1/appointments/{id}` (the reminder
 * series, its audit entries and Subscription events are the REST API's). Appointment identity:
 * with an identifier, the external id is `fa-` and a keyed hash of the first identifier's
 * system|value (so a search by identifier is one lookup and a repeated POST lands on the same
 * appointment); without one, `fa-` and 128 random bits.
 */
export class FhirAppointments {
  constructor(private readonly deps: FhirAppointmentsDeps) {}

  /** The external id an identifier keys (whether or not such an appointment exists). */
  externalIdFor(tenantId: string, identifier: { system: string; value: string }): string {
    const h = this.deps.core.cipher.blindIndex(tenantId, `fhir.appointment.${identifier.system}`, identifier.value);
    return `fa-${h.slice(0, 40)}`;
  }

  /** The external id a new resource gets: from its first identifier, else random. */
  keyOf(tenantId: string, body: Appointment): string {
    const first = body.identifier?.[0];
    return first?.system && first.value
      ? this.externalIdFor(tenantId, { system: first.system, value: first.value })
      : `fa-${randomBytes(16).toString('hex')}`;
  }

  /** The patient of an existing appointment (for the access check), or undefined. */
  async patientOf(tenantId: string, externalId: string): Promise<string | undefined> {
    return (await this.deps.core.store.read.appointments.get(tenantId, externalId))?.patient_id;
  }

  /**
   * Creates (or, for an identifier Sealpost already holds, updates) the appointment keyed `externalId`.
   * `created` says which. A new appointment must be in a scheduling status.
   */
  async create(
    ctx: RequestContext,
    externalId: string,
    body: Appointment,
  ): Promise<{ created: boolean; resource: Appointment }> {
    const mapped = appointmentFromFhir(body);
    const r = await this.inTx(async (tx) => {
      const existing = await tx.appointments.get(ctx.tenantId, externalId);
      if (!existing && !SCHEDULING_STATUSES.includes(mapped.extras.status))
        throw new AppError(
          'SP_FHIR_INVALID_RESOURCE',
          'Appointment.status: a new appointment must be proposed, pending, booked or waitlist',
        );
      await this.apply(tx, ctx, externalId, mapped, existing !== undefined);
      return { created: !existing, resource: await this.readInTx(tx, ctx, externalId) };
    });
    if (SCHEDULING_STATUSES.includes(mapped.extras.status)) this.deps.core.wake();
    return r;
  }

  /** Replaces an appointment; unknown: 404 (no update-as-create); `ifMatch` not current: 412. */
  async update(ctx: RequestContext, externalId: string, body: Appointment, ifMatch?: string): Promise<Appointment> {
    const mapped = appointmentFromFhir(body);
    const r = await this.inTx(async (tx) => {
      const existing = await tx.appointments.get(ctx.tenantId, externalId);
      if (!existing) throw new AppError('SP_FHIR_NOT_FOUND', 'Appointment: updates never create; POST to create');
      if (ifMatch !== undefined && ifMatch !== String(Number(existing.updated_at)))
        throw new AppError('SP_FHIR_VERSION_CONFLICT');
      await this.apply(tx, ctx, externalId, mapped, true);
      return this.readInTx(tx, ctx, externalId);
    });
    if (SCHEDULING_STATUSES.includes(mapped.extras.status)) this.deps.core.wake();
    return r;
  }

  /**
   * A scheduling status books or moves the appointment (the REST API's call, which rewrites the
   * reminder series); an ending status cancels it and its pending reminders, then records the FHIR
   * status and details with it.
   */
  private async apply(
    tx: StoreTx,
    ctx: RequestContext,
    externalId: string,
    m: MappedAppointment,
    exists: boolean,
  ): Promise<void> {
    const stored: StoredAppointment = { ...m.input, fhir: m.extras };
    if (SCHEDULING_STATUSES.includes(m.extras.status)) {
      // The whole input is sealed as the appointment's details; the reminders use only the REST fields.
      await this.deps.appointments.upsertInTx(tx, ctx, externalId, stored as AppointmentInput);
      return;
    }
    if (!exists || !ENDING_STATUSES.includes(m.extras.status)) return;
    const row = (await tx.appointments.get(ctx.tenantId, externalId))!;
    if (row.patient_id !== m.patientId)
      throw new AppError('SP_APPOINTMENT_INVALID_TIME', 'an appointment cannot move to another patient');
    await this.deps.appointments.removeInTx(tx, ctx, externalId);
    const key = await patientDataKey(this.deps.core, tx, ctx.tenantId, row.patient_id);
    if (!key) throw new AppError('SP_FHIR_GONE');
    await tx.appointments.update(ctx.tenantId, externalId, {
      data_ct: this.deps.core.cipher.encryptJson(key, this.dataRef(ctx.tenantId, externalId), stored),
      updated_at: this.deps.core.clock().getTime(),
    });
  }

  /** The sealed details' field reference: the one AppointmentService seals them under. */
  private dataRef(tenantId: string, externalId: string) {
    return { tenantId, table: 'appointments', rowId: externalId, field: 'data' };
  }

  async read(ctx: RequestContext, externalId: string): Promise<Appointment> {
    return this.inTx((tx) => this.readInTx(tx, ctx, externalId));
  }

  /** Reads several (each audited), leaving out unknown ones and those without a FHIR id. */
  async readMany(ctx: RequestContext, externalIds: readonly string[]): Promise<Appointment[]> {
    if (!externalIds.length) return [];
    return this.inTx(async (tx) => {
      const out: Appointment[] = [];
      for (const id of externalIds) {
        if (fhirAppointmentId(id) === null || !(await tx.appointments.get(ctx.tenantId, id))) continue;
        out.push(await this.readInTx(tx, ctx, id));
      }
      return out;
    });
  }

  /** The external ids of a patient's appointments, in external id order. */
  async listForPatient(ctx: RequestContext, patientId: string): Promise<string[]> {
    const rows = await this.deps.core.store.read.appointments.listForPatient(ctx.tenantId, patientId);
    return rows.map((r) => r.external_id);
  }

  private async readInTx(tx: StoreTx, ctx: RequestContext, externalId: string): Promise<Appointment> {
    const { core } = this.deps;
    const row = await tx.appointments.get(ctx.tenantId, externalId);
    const id = fhirAppointmentId(externalId);
    if (!row || id === null) throw new AppError('SP_FHIR_NOT_FOUND', 'Appointment');
    const key = await patientDataKey(core, tx, ctx.tenantId, row.patient_id);
    if (!key) throw new AppError('SP_FHIR_GONE');
    const data = core.cipher.decryptJson<StoredAppointment>(key, this.dataRef(ctx.tenantId, externalId), row.data_ct);
    // The details (place, clinician, instructions) are PHI: their read is on the record.
    await audit(tx, ctx, core.clock(), {
      action: 'appointment.read',
      targetType: 'appointment',
      targetId: externalRef(core, ctx.tenantId, 'appointment', externalId),
      patientRef: patientRef(core, ctx.tenantId, row.patient_id),
    });
    return appointmentToFhir(
      id,
      { ...data, patientId: row.patient_id },
      {
        cancelled: row.status === 'cancelled',
        startMs: Number(row.start_at),
        updatedAtMs: Number(row.updated_at),
        patientResponse: row.patient_response,
      },
    );
  }

  private async inTx<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const { store } = this.deps.core;
    const result = await store.transaction(fn);
    await store.durable();
    return result;
  }
}
