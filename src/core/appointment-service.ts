import type { CoreDeps, RequestContext } from './context.js';
import { audit, externalRef, patientRef, requestFingerprint, requirePatientDataKey } from './context.js';
import { AppError } from './errors.js';
import { reminderTimes } from './time-policy.js';
import type { NotificationService } from './notification-service.js';
import type { StoreTx } from '../store/store.js';
import { announce, deliveryEvents, reminderEvents } from './events.js';

export interface AppointmentInput {
  patientId: string;
  start: string;
  end?: string;
  location?: string;
  clinicianName?: string;
  instructions?: string;
}

export interface AppointmentAnswer {
  externalId: string;
  status: 'booked' | 'cancelled';
  start: string;
  reminders: { notificationId: string; runAt: string; status: string }[];
  /** The patient's answer to a reminder (patient-replies.ts); null until one. */
  patientResponse: { response: 'confirmed' | 'declined'; at: string; channel: string } | null;
}

export const APPOINTMENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Appointments drive a reminder series (tenant policy offsets, patient time zone). Booking, moving
 * and cancelling each rewrite the pending reminders in the same transaction as the appointment row.
 */
export class AppointmentService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly notifications: NotificationService,
  ) {}

  async upsert(
    ctx: RequestContext,
    externalId: string,
    input: AppointmentInput,
  ): Promise<{ created: boolean; answer: AppointmentAnswer }> {
    const { store } = this.deps;
    const result = await store.transaction((tx) => this.upsertInTx(tx, ctx, externalId, input));
    await store.durable();
    this.wakeIfDue(result.answer);
    return result;
  }

  /**
   * Books or moves an appointment and rewrites its pending reminders in the caller's transaction
   * (HL7 SIU, FHIR Appointment). No durable(), no wake: the caller does both after its commit.
   */
  async upsertInTx(
    tx: StoreTx,
    ctx: RequestContext,
    externalId: string,
    input: AppointmentInput,
  ): Promise<{ created: boolean; answer: AppointmentAnswer }> {
    const { cipher, clock } = this.deps;
    if (!APPOINTMENT_ID_PATTERN.test(externalId))
      throw new AppError('SP_APPOINTMENT_INVALID_TIME', 'externalId must be 1-128 characters of [A-Za-z0-9._:-]');
    const start = new Date(input.start);
    if (Number.isNaN(start.getTime())) throw new AppError('SP_APPOINTMENT_INVALID_TIME', 'start');
    if (input.end !== undefined && !(new Date(input.end) > start))
      throw new AppError('SP_APPOINTMENT_INVALID_TIME', 'end must be after start');
    const requestHash = requestFingerprint(this.deps, ctx.tenantId, 'appointments.put', input);
    const now = clock();
    const existing = await tx.appointments.get(ctx.tenantId, externalId);
    if (existing && existing.request_hash === requestHash && existing.status === 'booked') {
      return { created: false, answer: await this.answer(tx, ctx, externalId) };
    }
    if (existing && existing.patient_id !== input.patientId) {
      // Booked for a patient a merge then retired: the appointment moved to the survivor; say so.
      const named = await tx.patients.get(ctx.tenantId, input.patientId);
      if (named?.merged_into) throw new AppError('SP_PATIENT_MERGED', `mergedInto: ${named.merged_into}`);
      throw new AppError('SP_APPOINTMENT_INVALID_TIME', 'an appointment cannot move to another patient');
    }
    const patient = await tx.patients.get(ctx.tenantId, input.patientId);
    if (!patient) throw new AppError('SP_PATIENT_NOT_FOUND');
    // A merge retired this id: the caller must book for the survivor (named in the detail).
    if (patient.merged_into) throw new AppError('SP_PATIENT_MERGED', `mergedInto: ${patient.merged_into}`);
    const key = await requirePatientDataKey(this.deps, tx, ctx.tenantId, input.patientId);
    const dataCt = cipher.encryptJson(
      key,
      { tenantId: ctx.tenantId, table: 'appointments', rowId: externalId, field: 'data' },
      input,
    );
    const row = {
      patient_id: input.patientId,
      start_at: start.getTime(),
      data_ct: dataCt,
      request_hash: requestHash,
      status: 'booked',
      updated_at: now.getTime(),
    };
    // A moved appointment asks again: the patient's answer was about the old time.
    const moved = existing && Number(existing.start_at) !== start.getTime();
    if (existing)
      await tx.appointments.update(ctx.tenantId, externalId, {
        ...row,
        ...(moved ? { patient_response: null, response_at: null, response_channel: null } : {}),
      });
    else
      await tx.appointments.insert({
        ...row,
        tenant_id: ctx.tenantId,
        external_id: externalId,
        created_at: now.getTime(),
      });

    const cancelled = await this.cancelPendingReminders(tx, ctx, externalId);
    const created: string[] = [];
    for (const at of reminderTimes(start, patient.time_zone, this.deps.config.policy.reminderOffsetsMinutes)) {
      if (at.getTime() <= now.getTime()) continue; // a reminder whose time has passed is not sent
      const { notification } = await this.notifications.createInTx(
        tx,
        ctx,
        {
          type: 'appointment_reminder',
          patientId: input.patientId,
          data: withoutUndefined({
            start: input.start,
            end: input.end,
            location: input.location,
            clinicianName: input.clinicianName,
            instructions: input.instructions,
          }),
          sendAt: at.toISOString(),
        },
        externalId,
      );
      created.push(notification.id);
    }
    await audit(tx, ctx, now, {
      action: existing ? 'appointment.rescheduled' : 'appointment.booked',
      targetType: 'appointment',
      targetId: externalRef(this.deps, ctx.tenantId, 'appointment', externalId),
      patientRef: patientRef(this.deps, ctx.tenantId, input.patientId),
      details: { remindersCancelled: cancelled, remindersCreated: created },
    });
    await announce(
      this.deps,
      tx,
      reminderEvents(ctx.tenantId, input.patientId, externalId, cancelled, created, now.getTime()),
    );
    return { created: !existing, answer: await this.answer(tx, ctx, externalId) };
  }

  async remove(ctx: RequestContext, externalId: string): Promise<AppointmentAnswer> {
    const { store } = this.deps;
    const result = await store.transaction((tx) => this.removeInTx(tx, ctx, externalId));
    await store.durable();
    return result;
  }

  /** Cancels an appointment and its pending reminders in the caller's transaction (no durable()). */
  async removeInTx(tx: StoreTx, ctx: RequestContext, externalId: string): Promise<AppointmentAnswer> {
    const { clock } = this.deps;
    const existing = await tx.appointments.get(ctx.tenantId, externalId);
    if (!existing) throw new AppError('SP_APPOINTMENT_NOT_FOUND');
    if (existing.status !== 'cancelled') {
      const now = clock();
      await tx.appointments.update(ctx.tenantId, externalId, { status: 'cancelled', updated_at: now.getTime() });
      const cancelled = await this.cancelPendingReminders(tx, ctx, externalId);
      await audit(tx, ctx, now, {
        action: 'appointment.cancelled',
        targetType: 'appointment',
        targetId: externalRef(this.deps, ctx.tenantId, 'appointment', externalId),
        patientRef: patientRef(this.deps, ctx.tenantId, existing.patient_id),
        details: { remindersCancelled: cancelled },
      });
      await announce(
        this.deps,
        tx,
        reminderEvents(ctx.tenantId, existing.patient_id, externalId, cancelled, [], now.getTime()),
      );
    }
    return this.answer(tx, ctx, externalId);
  }

  /** A reminder already due (queued) is claimed at once rather than at the worker's next poll. */
  private wakeIfDue(answer: AppointmentAnswer): void {
    if (answer.reminders.some((r) => r.status === 'queued')) this.deps.wake();
  }

  /** The appointment's schedule; its read is on the record like the FHIR read (the date of service is PHI). */
  async get(ctx: RequestContext, externalId: string): Promise<AppointmentAnswer> {
    const { store, clock } = this.deps;
    const result = await store.transaction(async (tx) => {
      const answer = await this.answer(tx, ctx, externalId);
      const row = (await tx.appointments.get(ctx.tenantId, externalId))!;
      await audit(tx, ctx, clock(), {
        action: 'appointment.read',
        targetType: 'appointment',
        targetId: externalRef(this.deps, ctx.tenantId, 'appointment', externalId),
        patientRef: patientRef(this.deps, ctx.tenantId, row.patient_id),
      });
      return answer;
    });
    await store.durable();
    return result;
  }

  /** Cancels every reminder of the appointment that has not gone out yet; returns their ids. */
  private async cancelPendingReminders(tx: StoreTx, ctx: RequestContext, externalId: string): Promise<string[]> {
    const now = this.deps.clock().getTime();
    const out: string[] = [];
    for (const n of await tx.notifications.listForAppointment(ctx.tenantId, externalId)) {
      if (n.cancelled_at != null) continue;
      const ids = await tx.deliveries.cancelPending(n.id, now);
      if (ids.length) {
        await tx.notifications.update(n.id, { cancelled_at: now });
        await announce(this.deps, tx, deliveryEvents(n, ids, 'cancelled', now));
        out.push(n.id);
      }
    }
    return out;
  }

  private async answer(tx: StoreTx, ctx: RequestContext, externalId: string): Promise<AppointmentAnswer> {
    const a = await tx.appointments.get(ctx.tenantId, externalId);
    if (!a) throw new AppError('SP_APPOINTMENT_NOT_FOUND');
    const reminders = [];
    for (const n of await tx.notifications.listForAppointment(ctx.tenantId, externalId)) {
      const view = this.notifications.view(n, await tx.deliveries.list(n.id));
      reminders.push({ notificationId: n.id, runAt: view.deliveries[0]?.runAt ?? view.sendAt, status: view.status });
    }
    reminders.sort((x, y) => x.runAt.localeCompare(y.runAt));
    return {
      externalId,
      status: a.status as 'booked' | 'cancelled',
      start: new Date(Number(a.start_at)).toISOString(),
      reminders,
      patientResponse:
        a.patient_response === 'confirmed' || a.patient_response === 'declined'
          ? {
              response: a.patient_response,
              at: new Date(Number(a.response_at)).toISOString(),
              channel: a.response_channel ?? 'sms',
            }
          : null,
    };
  }
}

function withoutUndefined(o: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Record<string, string>;
}
