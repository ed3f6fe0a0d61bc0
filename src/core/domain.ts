/** Domain vocabulary shared by every layer (a leaf: it imports nothing from src/). No I/O here. */

/** The tenant of a single-organisation installation, and the one a request names when it names none. */
export const DEFAULT_TENANT = 'default';

export const NOTIFICATION_TYPES = [
  'appointment_reminder',
  'test_result_ready',
  'medication_reminder',
  'prescription_ready',
  'follow_up',
  'billing_statement',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** FHIR request-priority codes (http://hl7.org/fhir/request-priority). */
export const PRIORITIES = ['routine', 'urgent', 'asap', 'stat'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const CHANNEL_KINDS = ['sms', 'email', 'webhook', 'push'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export const LANGUAGES = ['en', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

/**
 * The roles of people (auth/permissions.ts says what each may do): staff roles and `patient`, the
 * holder of a patient account.
 */
export const ROLES = [
  'admin',
  'physician',
  'nurse',
  'receptionist',
  'billing',
  'auditor',
  'privacy_officer',
  'patient',
  'archiver',
] as const;
export type Role = (typeof ROLES)[number];
/**
 * Staff roles (everything but `patient` and `archiver`): MFA is required for all of them. `archiver`
 * is the tenant's archive member (`sealpost archiver init`, docs/archiver.md): no person holds it,
 * nobody is invited to it and no identity provider grants it.
 */
export const STAFF_ROLES = ROLES.filter((r) => r !== 'patient' && r !== 'archiver') as Exclude<
  Role,
  'patient' | 'archiver'
>[];
/** Roles whose access to a patient's content needs the care-team relationship (or break-glass). */
export const CLINICAL_ROLES: readonly Role[] = ['physician', 'nurse'];

export const DELIVERY_STATUSES = [
  'scheduled', // run_at in the future
  'queued', // due, waiting for a worker
  'sending', // leased by a worker
  'sent', // provider accepted it
  'delivered', // provider confirmed delivery
  'read', // the patient opened it in the portal after verification
  'failed', // this channel gave up; fail-over moved on to the next channel
  'dead', // no channel left; reason in last_error_code
  'cancelled',
  'suppressed', // policy stopped it (opt-out, contact point removed, reminder time passed)
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface ContactPoint {
  system: ChannelKind;
  value: string;
  rank: number;
}

/** A patient identifier (MRN…): `system` is an assigning authority (HL7 CX-4), a URI or an OID. */
export interface PatientIdentifier {
  system: string;
  value: string;
}

export interface PatientRecord {
  id: string;
  name: { given?: string[]; family?: string; text?: string };
  birthDate: string;
  telecom: ContactPoint[];
  language: Language;
  timeZone: string;
  /** Identifiers from the EHR (HL7 PID-3, FHIR Patient.identifier); never the patient id itself. */
  identifiers: PatientIdentifier[];
}

export function isUrgent(p: Priority): boolean {
  return p !== 'routine';
}

/** What a consent decision (and a patient's preference) is about, besides the channel. */
export const PURPOSES = ['appointment', 'results', 'medication', 'billing', 'care_messages', 'alerts'] as const;
export type Purpose = (typeof PURPOSES)[number];

/** The purpose each notification type serves (consent and preferences are kept per purpose). */
export const PURPOSE_OF: Readonly<Record<NotificationType, Purpose>> = {
  appointment_reminder: 'appointment',
  test_result_ready: 'results',
  medication_reminder: 'medication',
  prescription_ready: 'medication',
  follow_up: 'care_messages',
  billing_statement: 'billing',
};
