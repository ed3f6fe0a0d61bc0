import type { CoreDeps } from '../core/context.js';
import { patientDataKey } from '../core/context.js';
import { readIdentifiers } from '../core/patient-identifiers.js';
import type { PatientRecord } from '../core/domain.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';

/** A summary may appear on a lock screen or a pager: short enough for one pager line. */
export const SUMMARY_MAX = 160;

/**
 * Shapes that are PHI (or a way to reach it) whatever the patient: e-mail addresses, URLs, phone
 * numbers, long digit runs (MRNs, account numbers) and dates (birth dates, admission dates).
 */
const SHAPES: RegExp[] = [
  /[^\s@]+@[^\s@]+\.[^\s@]+/, // e-mail
  /\b(?:https?|ftp):\/\//i, // URL with a scheme
  /\bwww\.[a-z0-9-]+\./i, // URL without one
  /\b[a-z0-9-]+\.(?:com|org|net|io|dev|health|info|biz|us|uk|de|fr|es)\b/i, // bare domain
  /\+?\d[\d\s().-]{7,}\d/, // phone-like: 9+ digits with separators
  /(?<![\d.,])\d{3}[\s.-]\d{4}(?![\d.,]*\d)/, // a local number: 555-0100, 555 0100
  /\d{6,}/, // a long digit run (identifiers)
  /\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b/, // 2031-02-03
  /\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b/, // 02/03/2031
  /\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{2,4}\b/i, // 3 Feb 1961
  /\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{2,4}\b/i, // Feb 3, 1961
];

/**
 * What the checks compare: NFKC (full-width `４８２９` is `4829`, ligatures split), diacritics
 * stripped (`Smíth` is `smith`), lower case. Applied to the summary and to the patient's markers.
 */
export function fold(s: string): string {
  return s
    .normalize('NFKC')
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .normalize('NFC')
    .toLowerCase();
}

/** The words (lower case) and values of one patient that a summary must not contain. */
export interface PatientMarkers {
  words: string[];
  values: string[];
}

/**
 * Throws 400 SP_ALERT_SUMMARY_PHI (never echoing the text) unless `summary` is PHI-free: at most
 * 160 characters, one line, none of the shapes above, and none of the patient's name parts, birth
 * date or identifiers when `patient` is given. A check, not a proof: it catches the usual slips (a
 * name, an MRN, a date of birth typed into the summary), the rest is the caller's duty.
 */
export function checkSummary(summary: string, patient?: PatientMarkers): void {
  const bad = (why: string): never => {
    throw new AppError('SP_ALERT_SUMMARY_PHI', why);
  };
  if (!summary.trim()) bad('summary is empty');
  if (summary.length > SUMMARY_MAX) bad(`summary is longer than ${SUMMARY_MAX} characters`);
  if (/[\u0000-\u001f\u007f]/.test(summary)) bad('summary holds control characters');
  const lower = fold(summary);
  for (const re of SHAPES) if (re.test(lower)) bad('summary holds a contact, link, identifier or date');
  if (!patient) return;
  const words = new Set(lower.split(/[^\p{L}\p{N}]+/u).filter(Boolean));
  for (const w of patient.words) if (words.has(fold(w))) bad("summary names the patient's name");
  const compact = lower.replace(/[^\p{L}\p{N}]+/gu, '');
  for (const v of patient.values) {
    const c = fold(v).replace(/[^\p{L}\p{N}]+/gu, '');
    if (c.length >= 3 && compact.includes(c)) bad("summary holds the patient's birth date or an identifier");
  }
}

/** Name parts of 2+ letters, lower case (initials alone are too common to refuse). */
export function markersOf(p: Pick<PatientRecord, 'name' | 'birthDate' | 'identifiers'>): PatientMarkers {
  const parts = [...(p.name.given ?? []), p.name.family ?? '', p.name.text ?? '']
    .flatMap((s) => fold(s).split(/[^\p{L}\p{N}]+/u))
    .filter((w) => w.length >= 2);
  const values = [p.birthDate, ...p.identifiers.map((i) => i.value)];
  // The birth date in the orders people type it too (03/02/1961, 02/03/1961).
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(p.birthDate);
  if (m) values.push(`${m[3]}${m[2]}${m[1]}`, `${m[2]}${m[3]}${m[1]}`);
  return { words: [...new Set(parts)], values };
}

/**
 * Reads (decrypts, inside `tx`) what identifies the patient. Null when the patient is unknown or
 * erased (the caller answers 404).
 */
export async function patientMarkersInTx(
  deps: CoreDeps,
  tx: StoreTx,
  tenantId: string,
  patientId: string,
): Promise<{ markers: PatientMarkers; key: Buffer } | null> {
  const row = await tx.patients.get(tenantId, patientId);
  const key = row ? await patientDataKey(deps, tx, tenantId, patientId) : null;
  if (!row || !key) return null;
  const ref = { tenantId, table: 'patients', rowId: patientId };
  const name = deps.cipher.decryptJson<PatientRecord['name']>(key, { ...ref, field: 'name' }, row.name_ct);
  const birthDate = deps.cipher.decrypt(key, { ...ref, field: 'birth_date' }, row.birth_date_ct);
  const identifiers = await readIdentifiers(deps, tx, tenantId, patientId, key);
  return { markers: markersOf({ name, birthDate, identifiers }), key };
}
