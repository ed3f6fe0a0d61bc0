import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type { ChannelKind, Language } from '../../core/domain.js';
import type { PatientInput } from '../../core/patient-service.js';
import type { PatientIdentifier } from '../../core/domain.js';
import type { Hl7Message, Hl7Segment } from '../hl7/message.js';
import type { SenderView } from './hl7-senders.js';
import { Hl7ApplyError, invalid, missing } from './apply-error.js';

/** Where a segment sits in its message (1-based), for ERR-2. */
export function sequenceOf(msg: Hl7Message, seg: Hl7Segment): number {
  return msg.segments.indexOf(seg) + 1;
}

export function requireSegment(msg: Hl7Message, name: string): Hl7Segment {
  const seg = msg.segment(name);
  if (!seg) throw new Hl7ApplyError('SP_HL7_MISSING_FIELD', '100', { segment: name });
  return seg;
}

/** The identifier system a sender owns: its patientIdAuthority, else `urn:sealpost:hl7:<MSH-3>|<MSH-4>`. */
export function senderSystem(sender: Pick<SenderView, 'app' | 'facility' | 'patientIdAuthority'>): string {
  return sender.patientIdAuthority ?? `urn:sealpost:hl7:${sender.app}|${sender.facility}`;
}

/**
 * The patient's identifier among the repetitions of a CX field (PID-3, MRG-1). A sender reads and
 * writes identifiers only in the system it owns ({@link senderSystem}); the assigning authority
 * written in the message (CX-4) never chooses the system, so a message can address only patients
 * identified in its sender's system (never those registered by REST, FHIR or another sender):
 * 1. with a `patientIdAuthority`, only the repetitions whose assigning authority (CX-4.1 namespace or
 *    CX-4.2 universal id) is it count: the first one is the identifier;
 * 2. otherwise the first one typed MR (CX-5; a type written in CX-4 with CX-5 empty, as some senders
 *    do when they leave the authority out, counts as the type);
 * 3. otherwise, when the field holds one identifier with neither type nor authority, that one.
 * Its system is always the sender's.
 */
export function chooseIdentifier(seg: Hl7Segment, field: number, sender: SenderView): PatientIdentifier | null {
  const system = senderSystem(sender);
  const reps: { value: string; namespace: string; universal: string; type: string }[] = [];
  for (let r = 1; r <= seg.repetitions(field); r++) {
    const value = seg.get(field, 1, 1, r).trim();
    if (!value) continue;
    let namespace = seg.get(field, 4, 1, r).trim();
    const universal = seg.get(field, 4, 2, r).trim();
    let type = seg.get(field, 5, 1, r).trim().toUpperCase();
    if (!type && !universal && ID_TYPES.has(namespace.toUpperCase())) {
      type = namespace.toUpperCase();
      namespace = '';
    }
    reps.push({ value, namespace, universal, type });
  }
  if (sender.patientIdAuthority) {
    const a = sender.patientIdAuthority;
    const hit = reps.find((r) => r.namespace === a || r.universal === a);
    return hit ? { system, value: hit.value } : null;
  }
  const mr = reps.find((r) => r.type === 'MR');
  if (mr) return { system, value: mr.value };
  if (reps.length === 1 && !reps[0].type && !reps[0].namespace && !reps[0].universal)
    return { system, value: reps[0].value };
  return null;
}

/** HL7 table 0203 identifier types a sender may misplace into CX-4. */
const ID_TYPES = new Set(['MR', 'PI', 'PT', 'MRN']);

export function requireIdentifier(msg: Hl7Message, seg: Hl7Segment, field: number, sender: SenderView) {
  const id = chooseIdentifier(seg, field, sender);
  if (!id) throw missing(seg.name, field, sequenceOf(msg, seg));
  return id;
}

/** HL7 DT/TS → YYYY-MM-DD (the date as written: a birth date has no zone). */
export function hl7Date(value: string): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec(value.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : null;
}

const LANGUAGES: Record<string, Language> = {
  en: 'en',
  eng: 'en',
  english: 'en',
  es: 'es',
  spa: 'es',
  spanish: 'es',
  espanol: 'es',
  español: 'es',
};

/** PID-15 (CE/CWE): the code (ISO 639-1/-2, or `en-US`), else the text; English or Spanish, else undefined. */
export function language(pid: Hl7Segment): Language | undefined {
  for (const v of [pid.get(15, 1), pid.get(15, 2)]) {
    const key = v.trim().toLowerCase().split(/[-_]/)[0];
    if (key && LANGUAGES[key]) return LANGUAGES[key];
  }
  return undefined;
}

/** PID-5 (XPN): the legal name (XPN-7 'L') if one repetition says so, else the first. */
export function patientName(pid: Hl7Segment): PatientInput['name'] | null {
  let rep = 1;
  for (let r = 1; r <= pid.repetitions(5); r++)
    if (pid.get(5, 7, 1, r) === 'L') {
      rep = r;
      break;
    }
  const family = pid.get(5, 1, 1, rep).trim();
  const given = [pid.get(5, 2, 1, rep), pid.get(5, 3, 1, rep)].map((s) => s.trim()).filter(Boolean);
  if (!family && !given.length) return null;
  return { ...(family ? { family } : {}), ...(given.length ? { given } : {}) };
}

type Telecom = PatientInput['telecom'];

/**
 * PID-13 (home) and PID-14 (business) XTN repetitions as contact points: an e-mail address when XTN-4
 * is set or XTN-2/XTN-3 say NET/Internet; otherwise a phone (XTN-5/6/7, else XTN-1) normalised to E.164
 * with the sender's region, for SMS, skipping fax, beeper and numbers that are certainly fixed lines.
 * Values that do not normalise are skipped (counted), never stored raw. Mobile numbers rank first.
 */
export function contactPoints(pid: Hl7Segment, sender: SenderView): { telecom: Telecom; skipped: number } {
  const phones: { value: string; mobile: boolean }[] = [];
  const emails: string[] = [];
  let skipped = 0;
  for (const field of [13, 14]) {
    for (let r = 1; r <= pid.repetitions(field); r++) {
      const use = pid.get(field, 2, 1, r).toUpperCase();
      const equipment = pid.get(field, 3, 1, r).toUpperCase();
      const email = pid.get(field, 4, 1, r).trim();
      if (email || use === 'NET' || equipment === 'INTERNET' || equipment === 'X.400') {
        const v = (email || pid.get(field, 1, 1, r)).trim();
        if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) emails.push(v);
        else if (v) skipped++;
        continue;
      }
      if (equipment === 'FX' || equipment === 'BP' || equipment === 'MD') continue;
      const country = pid.get(field, 5, 1, r).replace(/\D/g, '');
      const area = pid.get(field, 6, 1, r).replace(/\D/g, '');
      const local = pid.get(field, 7, 1, r).replace(/\D/g, '');
      const text = local ? (country ? `+${country}${area}${local}` : `${area}${local}`) : pid.get(field, 1, 1, r);
      if (!text.trim()) continue;
      const p = parsePhoneNumberFromString(text.trim(), sender.phoneRegion as CountryCode);
      // SMS needs a mobile: fixed lines, toll-free and premium numbers are skipped (US numbers are
      // FIXED_LINE_OR_MOBILE: kept).
      const kind = p?.isValid() ? p.getType() : 'INVALID';
      if (!p || (kind !== undefined && kind !== 'MOBILE' && kind !== 'FIXED_LINE_OR_MOBILE')) {
        skipped++;
        continue;
      }
      phones.push({ value: p.number, mobile: equipment === 'CP' || kind === 'MOBILE' });
    }
  }
  const telecom: Telecom = [];
  const seen = new Set<string>();
  const push = (system: ChannelKind, value: string) => {
    const k = `${system}:${value.toLowerCase()}`;
    if (seen.has(k)) return;
    seen.add(k);
    telecom.push({ system, value, rank: telecom.length + 1 });
  };
  for (const p of phones.filter((p) => p.mobile)) push('sms', p.value);
  for (const p of phones.filter((p) => !p.mobile)) push('sms', p.value);
  for (const e of emails) push('email', e);
  return { telecom, skipped };
}

/** The whole patient as a PID describes it (to create one, or an ADT's update). */
export function patientFromPid(
  msg: Hl7Message,
  pid: Hl7Segment,
  sender: SenderView,
): { input: Omit<PatientInput, 'identifiers'>; hasTelecom: boolean; skipped: number } {
  const seq = sequenceOf(msg, pid);
  const name = patientName(pid);
  if (!name) throw missing('PID', 5, seq);
  if (!pid.get(7).trim()) throw missing('PID', 7, seq);
  const birthDate = hl7Date(pid.get(7));
  if (!birthDate) throw invalid('PID', 7, seq);
  const { telecom, skipped } = contactPoints(pid, sender);
  return {
    input: { name, birthDate, telecom, language: language(pid), timeZone: sender.timeZone },
    hasTelecom: pid.repetitions(13) + pid.repetitions(14) > 0,
    skipped,
  };
}
