import type { Appointment, AppointmentParticipant } from 'fhir/r4.js';
import { AppError } from '../../core/errors.js';
import type { AppointmentInput } from '../../core/appointment-service.js';
import { versionMeta } from './patient.js';

/**
 * FHIR R4 Appointment ↔ Sealpost appointment. The reminder series is the REST API's (the same
 * `AppointmentService` call as `PUT /v1/appointments/{id}`); FHIR adds the status life cycle and
 * identifiers, which are kept sealed with the appointment's details.
 */

type Status = Appointment['status'];

/** Statuses under which the reminders go out (the appointment is, or may be, going to happen). */
export const SCHEDULING_STATUSES: readonly Status[] = ['proposed', 'pending', 'booked', 'waitlist'];
/**
 * Statuses after which nothing more is sent: the pending reminders are cancelled. `cancelled` and
 * `noshow` because the appointment will not happen; `arrived`, `checked-in` and `fulfilled` because
 * the patient is there or was; `entered-in-error` because it never existed.
 */
export const ENDING_STATUSES: readonly Status[] = [
  'cancelled',
  'noshow',
  'arrived',
  'checked-in',
  'fulfilled',
  'entered-in-error',
];

/** What the FHIR API keeps beside the REST fields, sealed in the appointment's details. */
export interface FhirAppointmentExtras {
  status: Status;
  identifiers?: { system: string; value: string }[];
}

/** The sealed details of an appointment written through FHIR: the REST input plus `fhir`. */
export type StoredAppointment = AppointmentInput & { fhir?: FhirAppointmentExtras };

export interface MappedAppointment {
  patientId: string;
  input: AppointmentInput;
  extras: FhirAppointmentExtras;
}

const invalid = (path: string, rule: string) => new AppError('SP_FHIR_INVALID_RESOURCE', `${path}: ${rule}`);

const REF =
  /^(?:.*\/)?(Patient|Practitioner|PractitionerRole|Location|RelatedPerson|Device|HealthcareService)\/([A-Za-z0-9._-]{1,64})$/;

/** The kind of actor of a participant: from `actor.reference` (`Patient/123`), else `actor.type`. */
function actorKind(p: AppointmentParticipant): { kind: string; id?: string } | null {
  const ref = p.actor?.reference;
  if (ref !== undefined) {
    const m = REF.exec(ref);
    return m ? { kind: m[1]!, id: m[2]! } : { kind: 'unknown' };
  }
  return p.actor?.type ? { kind: p.actor.type } : null;
}

const text = (v: string | undefined, max: number, path: string) => {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!t) return undefined;
  if (t.length > max) throw invalid(path, `at most ${max} characters`);
  return t;
};

/**
 * Maps a validated R4 Appointment: exactly one Patient participant (`actor.reference`
 * `Patient/{id}`), `start` (an instant with offset), `end`; the location is the `display` of a
 * Location participant, the clinician the `display` of a Practitioner (or PractitionerRole)
 * participant; `patientInstruction` becomes the reminder's instructions. `comment` (notes between
 * staff) is not sent to the patient and not stored; nor are contained or referenced details Sealpost
 * cannot resolve (it keeps no Location or Practitioner resources).
 */
export function appointmentFromFhir(a: Appointment): MappedAppointment {
  const patients: { id: string; index: number }[] = [];
  let location: string | undefined;
  let clinicianName: string | undefined;
  a.participant.forEach((p, i) => {
    const actor = actorKind(p);
    const path = `Appointment.participant[${i}].actor`;
    if (!actor) return;
    if (actor.kind === 'unknown') throw invalid(`${path}.reference`, 'must be <Type>/<id> of a supported type');
    if (actor.kind === 'Patient') {
      if (!actor.id) throw invalid(`${path}.reference`, 'a Patient participant needs reference Patient/<id>');
      patients.push({ id: actor.id, index: i });
    } else if (actor.kind === 'Location') location ??= text(p.actor!.display, 500, `${path}.display`);
    else if (actor.kind === 'Practitioner' || actor.kind === 'PractitionerRole')
      clinicianName ??= text(p.actor!.display, 200, `${path}.display`);
  });
  if (patients.length !== 1)
    throw invalid(
      'Appointment.participant',
      'exactly one participant must be a Patient (actor.reference Patient/<id>)',
    );
  if (!a.start) throw invalid('Appointment.start', 'is required (the reminders are scheduled from it)');
  if (!/(Z|[+-]\d{2}:\d{2})$/.test(a.start)) throw invalid('Appointment.start', 'must carry a time-zone offset');
  if (a.end !== undefined && !(Date.parse(a.end) > Date.parse(a.start)))
    throw invalid('Appointment.end', 'must be after start');
  const identifiers = a.identifier?.map((id, i) => {
    if (!id.system || !id.value) throw invalid(`Appointment.identifier[${i}]`, 'needs both system and value');
    if (id.system.length > 256 || id.value.length > 128)
      throw invalid(`Appointment.identifier[${i}]`, 'system at most 256 characters, value at most 128');
    return { system: id.system, value: id.value };
  });
  const instructions = text(a.patientInstruction, 1000, 'Appointment.patientInstruction');
  const input: AppointmentInput = {
    patientId: patients[0]!.id,
    start: a.start,
    ...(a.end !== undefined ? { end: a.end } : {}),
    ...(location !== undefined ? { location } : {}),
    ...(clinicianName !== undefined ? { clinicianName } : {}),
    ...(instructions !== undefined ? { instructions } : {}),
  };
  return {
    patientId: input.patientId,
    input,
    extras: { status: a.status, ...(identifiers?.length ? { identifiers } : {}) },
  };
}

/**
 * A stored appointment as R4. `cancelled`: its row is cancelled (no reminders left); the FHIR
 * status written last is answered when it agrees with that (noshow, fulfilled…), else the row's.
 */
export function appointmentToFhir(
  id: string,
  d: StoredAppointment,
  row: {
    cancelled: boolean;
    startMs: number;
    updatedAtMs: number;
    /** The patient's answer to a reminder (reply code by SMS): their participant status. */
    patientResponse?: string | null;
  },
): Appointment {
  const written = d.fhir?.status;
  const status: Status = row.cancelled
    ? written && ENDING_STATUSES.includes(written)
      ? written
      : 'cancelled'
    : written && SCHEDULING_STATUSES.includes(written)
      ? written
      : 'booked';
  const participant: AppointmentParticipant[] = [
    {
      actor: { reference: `Patient/${d.patientId}` },
      status: row.patientResponse === 'declined' ? 'declined' : 'accepted',
    },
    ...(d.location ? [{ actor: { type: 'Location', display: d.location }, status: 'accepted' as const }] : []),
    ...(d.clinicianName
      ? [{ actor: { type: 'Practitioner', display: d.clinicianName }, status: 'accepted' as const }]
      : []),
  ];
  return {
    resourceType: 'Appointment',
    id,
    meta: versionMeta(row.updatedAtMs),
    ...(d.fhir?.identifiers?.length ? { identifier: d.fhir.identifiers } : {}),
    status,
    start: d.start,
    ...(d.end ? { end: d.end } : {}),
    ...(d.instructions ? { patientInstruction: d.instructions } : {}),
    participant,
  };
}
