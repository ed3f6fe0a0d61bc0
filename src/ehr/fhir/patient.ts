import type { ContactPoint, HumanName, Patient } from 'fhir/r4.js';
import { AppError } from '../../core/errors.js';
import { LANGUAGES, type Language, type PatientRecord } from '../../core/domain.js';
import type { PatientInput } from '../../core/patient-service.js';

/**
 * FHIR R4 Patient ↔ Sealpost patient. Sealpost keeps only what it needs to notify (data
 * minimisation): one name, the birth date (identity checks in the portal), the contact points it
 * can send to, the language of its templates, the time zone of reminders, and the identifiers.
 * Other valid R4 elements (gender, address, contact…) are accepted and not stored.
 */

/** The R4 core extension carrying a IANA time zone (valueCode), http://hl7.org/fhir/extensions. */
export const TIMEZONE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/timezone';

const invalid = (path: string, rule: string) => new AppError('SP_FHIR_INVALID_RESOURCE', `${path}: ${rule}`);

/** The name Sealpost keeps: the first `official` one, else the first `usual`, else the first that is not `old`. */
function pickName(names: HumanName[] | undefined): { name: HumanName; index: number } | null {
  if (!names) return null;
  for (const use of ['official', 'usual', undefined] as const) {
    const index = names.findIndex((n) => (use ? n.use === use : n.use !== 'old'));
    if (index >= 0) return { name: names[index]!, index };
  }
  return null;
}

/**
 * Telecom → contact points: `phone` with use `mobile` (or no use) → sms; `email` (any use but
 * `old`) → email; `url` → webhook (https, and the caller needs contact.webhook). A phone of use
 * home, work, temp or old is not a number Sealpost texts, so it is not kept; nor are fax, pager,
 * sms-less systems, or a contact point whose period has ended.
 */
function contactPoints(telecom: ContactPoint[] | undefined, now: Date): PatientInput['telecom'] {
  const out: PatientInput['telecom'] = [];
  for (const t of telecom ?? []) {
    if (!t.value || t.use === 'old') continue;
    if (t.period?.end && Date.parse(t.period.end) <= now.getTime()) continue;
    const system =
      t.system === 'phone' && (t.use === undefined || t.use === 'mobile')
        ? 'sms'
        : t.system === 'sms'
          ? 'sms'
          : t.system === 'email'
            ? 'email'
            : t.system === 'url'
              ? 'webhook'
              : null;
    if (!system) continue;
    out.push({ system, value: t.value, ...(t.rank !== undefined ? { rank: t.rank } : {}) });
  }
  // FHIR rank: 1 is the most preferred; unranked ones come after ranked ones, in their order.
  return out
    .map((t, i) => ({ t, i }))
    .sort((a, b) => (a.t.rank ?? 1e9) - (b.t.rank ?? 1e9) || a.i - b.i)
    .map(({ t }, i) => ({ system: t.system, value: t.value, rank: i + 1 }));
}

/** The preferred communication language Sealpost has templates for (`es-MX` → es); else en. */
function language(p: Patient): Language {
  const langs = [...(p.communication ?? [])].sort(
    (a, b) => Number(b.preferred ?? false) - Number(a.preferred ?? false),
  );
  for (const c of langs)
    for (const coding of c.language.coding ?? []) {
      const primary = coding.code?.toLowerCase().split('-')[0];
      if (primary && (LANGUAGES as readonly string[]).includes(primary)) return primary as Language;
    }
  return 'en';
}

/**
 * Maps a validated R4 Patient to Sealpost's input. `current` is the stored patient on an update:
 * without the time-zone extension the stored zone stays, without `identifier` the stored
 * identifiers stay (an EHR's PUT that omits them must not drop the MRN HL7 matches on).
 */
export function patientFromFhir(p: Patient, o: { now: Date; current?: { timeZone: string } }): PatientInput {
  if (p.active === false)
    throw invalid(
      'Patient.active',
      'false is not supported: a patient is removed by erasure (DELETE /v1/patients/{id})',
    );
  const picked = pickName(p.name);
  if (!picked) throw invalid('Patient.name', 'is required (at least one name that is not old)');
  const { name, index } = picked;
  const given = name.given?.filter((g) => g.length > 0);
  const mapped = {
    ...(given?.length ? { given } : {}),
    ...(name.family ? { family: name.family } : {}),
    ...(name.text ? { text: name.text } : {}),
  };
  if (!mapped.given && !mapped.family && !mapped.text)
    throw invalid(`Patient.name[${index}]`, 'needs a family name, a given name or a text');
  if (!p.birthDate) throw invalid('Patient.birthDate', 'is required (patients prove who they are with it)');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(p.birthDate)) throw invalid('Patient.birthDate', 'must be a full date (YYYY-MM-DD)');
  const zones = (p.extension ?? []).filter((e) => e.url === TIMEZONE_EXTENSION);
  if (zones.length > 1) throw invalid('Patient.extension', 'at most one time-zone extension');
  const zone = zones[0];
  if (zone && !zone.valueCode)
    throw invalid('Patient.extension', 'the time-zone extension needs a valueCode (IANA zone)');
  const timeZone = zone?.valueCode ?? o.current?.timeZone;
  if (!timeZone)
    throw invalid('Patient.extension', `the time-zone extension (${TIMEZONE_EXTENSION}) is required on create`);
  const identifiers = p.identifier?.map((id, i) => {
    if (!id.system || !id.value) throw invalid(`Patient.identifier[${i}]`, 'needs both system and value');
    return { system: id.system, value: id.value };
  });
  return {
    name: mapped,
    birthDate: p.birthDate,
    telecom: contactPoints(p.telecom, o.now),
    language: language(p),
    timeZone,
    ...(identifiers ? { identifiers } : {}),
  };
}

/** Resource version metadata from the stored row (`updated_at`, ms). */
export function versionMeta(updatedAtMs: number): { versionId: string; lastUpdated: string } {
  return { versionId: String(updatedAtMs), lastUpdated: new Date(updatedAtMs).toISOString() };
}

/** Push registrations never appear here: PatientService leaves them out of a patient's telecom. */
const TELECOM_SYSTEM = { sms: 'phone', email: 'email', webhook: 'url', push: 'other' } as const;

/** A stored patient as an R4 Patient. */
export function patientToFhir(r: PatientRecord, updatedAtMs: number): Patient {
  const name: HumanName = {
    use: 'official',
    ...(r.name.text ? { text: r.name.text } : {}),
    ...(r.name.family ? { family: r.name.family } : {}),
    ...(r.name.given?.length ? { given: r.name.given } : {}),
  };
  return {
    resourceType: 'Patient',
    id: r.id,
    meta: versionMeta(updatedAtMs),
    extension: [{ url: TIMEZONE_EXTENSION, valueCode: r.timeZone }],
    ...(r.identifiers.length ? { identifier: r.identifiers.map((i) => ({ system: i.system, value: i.value })) } : {}),
    active: true,
    name: [name],
    ...(r.telecom.length
      ? {
          telecom: r.telecom.map((t) => ({
            system: TELECOM_SYSTEM[t.system],
            value: t.value,
            ...(t.system === 'sms' ? { use: 'mobile' as const } : {}),
            rank: t.rank,
          })),
        }
      : {}),
    birthDate: r.birthDate,
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: r.language }] }, preferred: true }],
  };
}

/**
 * A retired (merged) patient: inactive, replaced by the survivor (R4 Patient.link `replaced-by`).
 * It carries no demographics: they live on with the survivor.
 */
export function mergedPatientToFhir(id: string, survivorId: string): Patient {
  return {
    resourceType: 'Patient',
    id,
    active: false,
    link: [{ other: { reference: `Patient/${survivorId}` }, type: 'replaced-by' }],
  };
}
