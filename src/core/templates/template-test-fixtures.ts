import type { Language, NotificationType } from '../domain.js';
import { AppError } from '../errors.js';
import { BUILT_IN_TEMPLATES } from './built-in-templates.js';
import type { RenderContext, TemplateDef } from './template-registry.js';

/** Shared by the template tests only. */

export const PHI_MARKER = 'PHI-MARKER-7f3a';

/** A deep copy with no shared sub-objects (the built-ins share one nudge object across types). */
export function builtInCopy(): TemplateDef[] {
  return JSON.parse(JSON.stringify(BUILT_IN_TEMPLATES)) as TemplateDef[];
}

export function editedBuiltIns(type: NotificationType, edit: (def: TemplateDef) => void): TemplateDef[] {
  const defs = builtInCopy();
  const def = defs.find((d) => d.type === type);
  if (!def) throw new Error(`no built-in ${type}`);
  edit(def);
  return defs;
}

export function appErrorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected an AppError, nothing was thrown');
}

export function ctx(language: Language, over: Partial<RenderContext> = {}): RenderContext {
  return {
    organisation: 'Riverside Family Health',
    link: 'https://portal.example.test/l/Zq8xK2',
    language,
    timeZone: 'America/New_York',
    expiresHours: 24,
    ...over,
  };
}

/** Valid data for every type, every optional variable set, PHI_MARKER in every string. */
export const FULL_DATA: Record<NotificationType, Record<string, string | number>> = {
  appointment_reminder: {
    start: '2026-03-03T14:30:00Z',
    end: '2026-03-03T15:00:00Z',
    location: `Room 4 ${PHI_MARKER}`,
    clinicianName: `Dr. Ana Ruiz ${PHI_MARKER}`,
    instructions: `Fast for 8 hours ${PHI_MARKER}`,
  },
  test_result_ready: {
    testName: `HbA1c ${PHI_MARKER}`,
    collectedOn: '2026-02-27',
    orderingClinician: `Dr. Lee ${PHI_MARKER}`,
    instructions: `Book a review ${PHI_MARKER}`,
  },
  medication_reminder: {
    medicationName: `Metformin ${PHI_MARKER}`,
    dosage: `500 mg ${PHI_MARKER}`,
    doseTime: '2026-03-03T13:00:00Z',
    instructions: `Take with food ${PHI_MARKER}`,
  },
  prescription_ready: {
    medicationName: `Amoxicillin ${PHI_MARKER}`,
    pharmacyName: `Main St Pharmacy ${PHI_MARKER}`,
    pharmacyAddress: `1 Main St ${PHI_MARKER}`,
    pickupBy: '2026-03-10',
    instructions: `Bring ID ${PHI_MARKER}`,
  },
  follow_up: {
    reason: `Blood pressure ${PHI_MARKER}`,
    dueDate: '2026-04-01',
    clinicianName: `Dr. Rivera ${PHI_MARKER}`,
    instructions: `Bring your log ${PHI_MARKER}`,
  },
  billing_statement: { amount: 4242.17, dueDate: '2026-04-01', statementId: `ST-${PHI_MARKER}` },
};
