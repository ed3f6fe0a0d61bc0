import type { AppointmentInput } from '../../core/appointment-service.js';
import type { Hl7Message, Hl7Segment } from '../hl7/message.js';
import { parseHl7Timestamp } from '../hl7/message.js';
import type { Applied, ApplyDeps, ApplyScope } from './apply-context.js';
import { resolvePatient, senderScopedRefs } from './apply-context.js';
import { Hl7ApplyError, invalid, missing } from './apply-error.js';
import { requireSegment, sequenceOf } from './patient-mapping.js';

/** The SIU events Sealpost processes; any other is answered AR/CR 201. */
export const SIU_EVENTS = new Set(['S12', 'S13', 'S14', 'S15', 'S16', 'S17', 'S26']);
const CANCELS = new Set(['S15', 'S16', 'S17', 'S26']);

/** An EI (SCH-1 placer, SCH-2 filler): entity id and namespace; '' when empty. */
function entityId(sch: Hl7Segment, field: number): string {
  const id = sch.get(field, 1).trim();
  return id ? `${id}^${sch.get(field, 2).trim()}` : '';
}

/**
 * The appointment's Sealpost external id: `hl7-` and a keyed hash of the sender and the filler (else
 * placer) id, so the EHR's numbers never appear in clear (ids end up in URLs and audit targets).
 * `candidates` are every id it may have been stored under (filler first, each blind-index version).
 */
function appointmentIds(d: ApplyDeps, s: ApplyScope, sch: Hl7Segment) {
  const placer = entityId(sch, 1);
  const filler = entityId(sch, 2);
  if (!placer && !filler) throw missing('SCH', 1, sequenceOf(s.msg, sch));
  const refs = (kind: string, v: string) =>
    v ? senderScopedRefs(d, s, 'appointment', `${kind}|${v}`).map((r) => `hl7-${r.replace(':', '-')}`) : [];
  const candidates = [...refs('F', filler), ...refs('P', placer)];
  return { candidates, create: candidates[0] };
}

/** A TS field parsed in the sender's zone; null when empty; invalid → SP_HL7_INVALID_FIELD. */
function time(msg: Hl7Message, seg: Hl7Segment | undefined, field: number, component: number, zone: string) {
  if (!seg) return null;
  const v = seg.get(field, component).trim();
  if (!v) return null;
  const t = parseHl7Timestamp(v, zone);
  if (!t) throw invalid(seg.name, field, sequenceOf(msg, seg));
  return t;
}

/** Start: TQ1-7, else SCH-11.4 (TQ in v2.3-2.4), else AIS-4; end: TQ1-8, else SCH-11.5. */
function schedule(msg: Hl7Message, sch: Hl7Segment, zone: string): { start: Date | null; end: Date | null } {
  const tq1 = msg.segment('TQ1');
  const ais = msg.segment('AIS');
  const start = time(msg, tq1, 7, 1, zone) ?? time(msg, sch, 11, 4, zone) ?? time(msg, ais, 4, 1, zone);
  const end = time(msg, tq1, 8, 1, zone) ?? time(msg, sch, 11, 5, zone);
  return { start, end: start && end && end > start ? end : null };
}

/** AIL-3 (PL): facility, point of care, room, bed, as one line. */
function location(msg: Hl7Message): string | undefined {
  const ail = msg.segment('AIL');
  if (!ail) return undefined;
  const parts = [ail.get(3, 4), ail.get(3, 1), ail.get(3, 2), ail.get(3, 3)].map((p) => p.trim()).filter(Boolean);
  return parts.length ? parts.join(', ') : undefined;
}

/** AIP-3 (XCN): prefix, given name, family name. */
function clinician(msg: Hl7Message): string | undefined {
  const aip = msg.segment('AIP');
  if (!aip) return undefined;
  const name = [aip.get(3, 6), aip.get(3, 3), aip.get(3, 2)]
    .map((p) => p.trim())
    .filter(Boolean)
    .join(' ');
  return name || undefined;
}

/**
 * SIU: S12 books (the patient from PID, created when unknown), S13 reschedules, S14 updates details,
 * S15/S16/S17 cancel, S26 (no-show) cancels what is still pending. The reminder series is the one of
 * `PUT /v1/appointments` (AppointmentService.upsertInTx).
 */
export async function applySiu(d: ApplyDeps, s: ApplyScope): Promise<Applied> {
  const { msg, tx, ctx, sender } = s;
  const sch = requireSegment(msg, 'SCH');
  const ids = appointmentIds(d, s, sch);
  let existing: { id: string; patientId: string; start: number } | null = null;
  for (const id of ids.candidates) {
    const row = await tx.appointments.get(ctx.tenantId, id);
    if (row) {
      existing = { id, patientId: row.patient_id, start: Number(row.start_at) };
      break;
    }
  }
  const unknown = () =>
    new Hl7ApplyError('SP_HL7_UNKNOWN_APPOINTMENT', '204', {
      segment: 'SCH',
      sequence: sequenceOf(msg, sch),
      field: 2,
    });

  if (CANCELS.has(msg.trigger)) {
    if (!existing) throw unknown();
    const answer = await d.appointments.removeInTx(tx, ctx, existing.id);
    return {
      status: 'applied',
      patientId: existing.patientId,
      details: { appointment: existing.id, status: answer.status },
    };
  }

  const { start, end } = schedule(msg, sch, sender.timeZone);
  let patientId: string;
  let patientCreated = false;
  if (msg.trigger === 'S12') {
    const r = await resolvePatient(d, s, requireSegment(msg, 'PID'), { create: true, update: false });
    patientId = existing?.patientId ?? r.patientId;
    patientCreated = r.created;
  } else {
    if (!existing) throw unknown();
    patientId = existing.patientId;
  }
  // S14 may change only the details; S12 and S13 must say when.
  const at = start ?? (msg.trigger === 'S14' && existing ? new Date(existing.start) : null);
  if (!at) throw missing('TQ1', 7, msg.segment('TQ1') ? sequenceOf(msg, msg.segment('TQ1')!) : undefined);
  const input: AppointmentInput = {
    patientId,
    start: at.toISOString(),
    ...(end ? { end: end.toISOString() } : {}),
    ...(location(msg) ? { location: location(msg) } : {}),
    ...(clinician(msg) ? { clinicianName: clinician(msg) } : {}),
  };
  const externalId = existing?.id ?? ids.create;
  const r = await d.appointments.upsertInTx(tx, ctx, externalId, input);
  return {
    status: 'applied',
    patientId,
    details: {
      appointment: externalId,
      appointmentCreated: r.created,
      patientCreated,
      reminders: r.answer.reminders.filter((x) => x.status === 'scheduled' || x.status === 'queued').length,
    },
  };
}
