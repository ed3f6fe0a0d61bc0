import type { CoreDeps, RequestContext } from './context.js';
import { audit, externalRef, patientRef, requestFingerprint, requirePatientDataKey } from './context.js';
import { AppError, isAppError } from './errors.js';
import type { NotificationType, Priority } from './domain.js';
import { decryptIdentifier, encryptIdentifier } from './patient-identifiers.js';
import { NotificationService } from './notification-service.js';
import { announce, deliveryEvents, reminderEvents, type DomainEvent } from './events.js';
import type { StoreTx } from '../store/store.js';
import type { PatientRow } from '../store/rows.js';

export interface MergeResult {
  /** Notifications re-created for the survivor (their retired originals are cancelled). */
  notificationsMoved: number;
  /** Notifications cancelled without a replacement: the survivor has no contact point to send them to. */
  notificationsDropped: number;
  appointmentsMoved: number;
  identifiersMoved: number;
}

/** Deliveries in these states have not been handed to a worker: their notification can still move. */
const NOT_STARTED = new Set(['scheduled', 'queued']);

/**
 * Merges `retiredId` into `survivorId` inside `tx` (HL7 A40 "merge patient identifier list").
 *
 * Both must exist, differ, and be neither erased nor merged already. Then:
 * - the retired patient's identifiers move to the survivor (re-sealed under the survivor's data key);
 * - its appointments move to the survivor (re-sealed), so later SIU messages find them;
 * - each of its notifications whose deliveries are all still scheduled or queued (not yet handed to
 *   a worker) is cancelled and re-created for the survivor with the same type, data, priority, send
 *   time and appointment, through NotificationService.createInTx: the survivor's contact points,
 *   channel choice and quiet hours then apply. Notifications already under way stay with the retired
 *   patient as history;
 * - the retired row stays, with `merged_into` = survivor: its id answers SP_PATIENT_MERGED.
 * Contact points, care-team memberships and patient accounts of the retired patient are not moved.
 * Audited once (`patient.merged`), with pseudonymous references and counts only.
 */
export async function mergePatients(
  deps: CoreDeps,
  tx: StoreTx,
  ctx: RequestContext,
  { survivorId, retiredId }: { survivorId: string; retiredId: string },
): Promise<MergeResult> {
  const { cipher, clock } = deps;
  if (survivorId === retiredId) throw new AppError('SP_PATIENT_MERGE_SELF');
  await mergeable(tx, ctx.tenantId, survivorId);
  await mergeable(tx, ctx.tenantId, retiredId);
  const now = clock();
  const at = now.getTime();
  // First, so that the two rows are locked before anything moves: a concurrent merge of either
  // patient (even the other way round) then fails here, once this one committed, instead of both
  // committing into a cycle. The survivor's next PUT must write even if its body repeats the last
  // one: its identifiers change below.
  if (
    !(await tx.patients.updateUnlessMerged(ctx.tenantId, retiredId, {
      merged_into: survivorId,
      merged_at: at,
      updated_at: at,
    })) ||
    !(await tx.patients.updateUnlessMerged(ctx.tenantId, survivorId, { request_hash: '', updated_at: at }))
  )
    throw new AppError('SP_PATIENT_MERGED');
  const survivorKey = await requirePatientDataKey(deps, tx, ctx.tenantId, survivorId);
  const retiredKey = await requirePatientDataKey(deps, tx, ctx.tenantId, retiredId);

  // Identifiers: after the survivor's own, in the retired patient's order.
  const base = (await tx.patientIdentifiers.list(ctx.tenantId, survivorId)).length;
  const identifiers = await tx.patientIdentifiers.list(ctx.tenantId, retiredId);
  for (const [i, r] of identifiers.entries()) {
    const value = decryptIdentifier(deps, ctx.tenantId, retiredKey, r);
    await tx.patientIdentifiers.update(r.id, {
      patient_id: survivorId,
      value_ct: encryptIdentifier(deps, ctx.tenantId, survivorKey, r.id, value),
      rank: base + i + 1,
    });
  }

  // Appointments: their sealed details name the patient; re-sealed for the survivor.
  const appointments = await tx.appointments.listForPatient(ctx.tenantId, retiredId);
  for (const a of appointments) {
    const ref = { tenantId: ctx.tenantId, table: 'appointments', rowId: a.external_id, field: 'data' };
    const input = { ...cipher.decryptJson<Record<string, unknown>>(retiredKey, ref, a.data_ct), patientId: survivorId };
    await tx.appointments.update(ctx.tenantId, a.external_id, {
      patient_id: survivorId,
      data_ct: cipher.encryptJson(survivorKey, ref, input),
      request_hash: requestFingerprint(deps, ctx.tenantId, 'appointments.put', input),
      updated_at: at,
    });
  }

  // Notifications not yet under way follow the survivor.
  const notifications = new NotificationService(deps);
  let moved = 0;
  let dropped = 0;
  const movedIds: string[] = [];
  for (const n of await tx.patients.listLiveNotifications(ctx.tenantId, retiredId)) {
    const deliveries = await tx.deliveries.list(n.id);
    if (!deliveries.length || !deliveries.every((d) => NOT_STARTED.has(d.status))) continue;
    const data = cipher.decryptJson<unknown>(
      retiredKey,
      { tenantId: ctx.tenantId, table: 'notifications', rowId: n.id, field: 'data' },
      n.data_ct,
    );
    const cancelled = await tx.deliveries.cancelPending(n.id, at);
    await tx.notifications.update(n.id, { cancelled_at: at });
    // Subscribers hear of it as of any cancellation; a moved reminder is rescheduled for the survivor.
    const events: DomainEvent[] = deliveryEvents(n, cancelled, 'cancelled', at);
    try {
      const { notification } = await notifications.createInTx(
        tx,
        ctx,
        {
          type: n.type as NotificationType,
          patientId: survivorId,
          data,
          priority: n.priority as Priority,
          // A send time already passed (a queued delivery) means "now".
          ...(Number(n.send_at) > at ? { sendAt: new Date(Number(n.send_at)).toISOString() } : {}),
        },
        n.appointment_id,
      );
      movedIds.push(`${n.id}:${notification.id}`);
      moved++;
      if (n.appointment_id)
        events.push(...reminderEvents(ctx.tenantId, survivorId, n.appointment_id, [n.id], [notification.id], at));
    } catch (e) {
      // Building writes nothing before it throws: the original stays cancelled, the merge goes on.
      if (!(isAppError(e) && e.code === 'SP_NOTIFICATION_NO_CHANNEL')) throw e;
      dropped++;
      if (n.appointment_id) events.push(...reminderEvents(ctx.tenantId, survivorId, n.appointment_id, [n.id], [], at));
    }
    await announce(deps, tx, events);
  }

  const survivorRef = patientRef(deps, ctx.tenantId, survivorId);
  await audit(tx, ctx, now, {
    action: 'patient.merged',
    targetType: 'patient',
    targetId: survivorRef,
    patientRef: survivorRef,
    details: {
      survivor: survivorRef,
      retired: patientRef(deps, ctx.tenantId, retiredId),
      identifiersMoved: identifiers.length,
      appointmentsMoved: appointments.map((a) => externalRef(deps, ctx.tenantId, 'appointment', a.external_id)),
      notificationsMoved: movedIds,
      notificationsDropped: dropped,
    },
  });
  return {
    notificationsMoved: moved,
    notificationsDropped: dropped,
    appointmentsMoved: appointments.length,
    identifiersMoved: identifiers.length,
  };
}

/** A patient that may take part in a merge: known, not erased, not merged already. */
async function mergeable(tx: StoreTx, tenantId: string, id: string): Promise<PatientRow> {
  const p = await tx.patients.get(tenantId, id);
  if (!p) {
    if (await tx.erasures.latest(tenantId, id)) throw new AppError('SP_PATIENT_ERASED');
    throw new AppError('SP_PATIENT_NOT_FOUND');
  }
  if (p.merged_into) throw new AppError('SP_PATIENT_MERGED', `mergedInto: ${p.merged_into}`);
  return p;
}
