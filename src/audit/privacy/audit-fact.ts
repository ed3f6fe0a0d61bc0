/**
 * The privacy detectors' view of one audit entry: the fields of the canonical entry
 * (src/audit/audit-entry.ts) flattened, with the time as epoch milliseconds. Entries hold ids, codes
 * and hashes only (`patient` is the keyed pseudonymous reference), so nothing here is PHI.
 */
export interface AuditFact {
  /** The entry's log index. */
  idx: number;
  tenant: string;
  /** Epoch ms. */
  at: number;
  actor: string;
  action: string;
  outcome: 'success' | 'failure';
  targetType: string | null;
  targetId: string | null;
  /** Pseudonymous patient reference, never the patient id. */
  patient: string | null;
  ip: string | null;
  details: Record<string, unknown> | null;
}

/** Thrown on an entry that is not a canonical audit entry. The monitor skips it (`sealpost audit verify` is what finds a damaged log) and keeps the order. */
export class AuditFactError extends Error {
  constructor(
    readonly idx: number,
    why: string,
  ) {
    super(`audit entry ${idx} is not a canonical entry: ${why}`);
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Parses one stored entry (its canonical JSON text) into a fact. Throws `AuditFactError` when the
 * text is not JSON or lacks the fields every entry has (`at`, `tenant`, `actor`, `action`, `outcome`).
 */
export function parseFact(idx: number, entryJson: string): AuditFact {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(entryJson) as Record<string, unknown>;
  } catch {
    throw new AuditFactError(idx, 'not JSON');
  }
  if (e === null || typeof e !== 'object') throw new AuditFactError(idx, 'not an object');
  const at = typeof e.at === 'string' ? Date.parse(e.at) : NaN;
  const { tenant, actor, action, outcome } = e;
  if (!Number.isFinite(at)) throw new AuditFactError(idx, 'bad time');
  if (typeof tenant !== 'string' || typeof actor !== 'string' || typeof action !== 'string')
    throw new AuditFactError(idx, 'missing tenant, actor or action');
  if (outcome !== 'success' && outcome !== 'failure') throw new AuditFactError(idx, 'bad outcome');
  const target = e.target as { type?: unknown; id?: unknown } | null | undefined;
  const details = e.details;
  return {
    idx,
    tenant,
    at,
    actor,
    action,
    outcome,
    targetType: target ? str(target.type) : null,
    targetId: target ? str(target.id) : null,
    patient: str(e.patient),
    ip: str(e.ip),
    details: details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : null,
  };
}

/**
 * A person's or a credential's access to one patient's PHI (content, contact points, messages,
 * alert details). Read from the code that writes them: patient-service (read), contact-point-reveal
 * (looked_up, contact_points_read, contact_point_revealed), proof-service (proof_read),
 * notification reads, fhir-appointments (appointment.read), alert-service (details_read, notes_read),
 * patient-replies (inbound_messages.read), patient-access and break-glass (break_glass_used).
 * It counts only when the entry names a patient and the actor is a person or a system credential
 * (`isAccessor`): a patient reading their own notification (`patient-link:`, `patient-account:`) is not.
 */
export const PHI_ACCESS: ReadonlySet<string> = new Set([
  'patient.read',
  'patient.looked_up',
  'patient.contact_points_read',
  'patient.contact_point_revealed',
  'notification.accessed',
  'notification.read',
  'notification.proof_read',
  'appointment.read',
  'alert.details_read',
  'alert.notes_read',
  'inbound_messages.read',
  'access.break_glass_used',
]);

/** Bulk disclosure: a conversation archive export, a notification search (its `resultCount`). */
export const EXPORT_ACTIONS: ReadonlySet<string> = new Set(['archive.exported', 'notification.searched']);

/** Crypto-shredding of a patient (the request; `patient.erasure_completed` is the worker finishing it). */
export const ERASURE_ACTIONS: ReadonlySet<string> = new Set(['patient.erased']);

/** A break-glass grant taken (outcome success) or refused (failure: wrong second factor). */
export const BREAK_GLASS_GRANT = 'access.break_glass';

/** The refused-access entry (403: no relationship, missing permission), written by the error path. */
export const ACCESS_DENIED = 'access.denied';

/**
 * Failed password sign-ins of staff (sign-in-service: target `user:<id>` for a known account,
 * `login:<keyed hash of the login name>` for an unknown one) and of patients (patient-account-service).
 * Throttled and locked-out attempts are attempts too: an attacker keeps trying through them.
 */
export const SIGN_IN_FAILURE: ReadonlySet<string> = new Set([
  'auth.login_failed',
  'auth.login_locked_out',
  'auth.login_throttled',
  'patient_auth.sign_in_failed',
]);

/** Successful sign-ins (the password step or SSO). */
export const SIGN_IN_SUCCESS: ReadonlySet<string> = new Set([
  'auth.login_succeeded',
  'user.sso_login',
  'patient_auth.signed_in',
]);

/**
 * A person's or credential's workflow with a patient (what explains their access to a flagged
 * patient): appointments they booked, rescheduled or cancelled, notifications they created. The care
 * team is `CARE_TEAM_ADDED`, whose member is the target user, not the actor.
 */
export const WORKFLOW_ACTIONS: ReadonlySet<string> = new Set([
  'appointment.booked',
  'appointment.rescheduled',
  'appointment.cancelled',
  'notification.created',
]);

/** The patient is on the schedule: an appointment of theirs booked or moved (by anyone). */
export const SCHEDULE_ACTIONS: ReadonlySet<string> = new Set(['appointment.booked', 'appointment.rescheduled']);

/** A member added to a patient's care team (target `user:<id>`, by the ADT feed or an administrator). */
export const CARE_TEAM_ADDED = 'care_team.member_added';

/** The monitor's own entries (`privacy_alert.*`, `privacy_suppression.*`) never feed back. */
export function isMonitorOwn(action: string): boolean {
  return action.startsWith('privacy_');
}

export type ActorKind = 'person' | 'api-key' | 'client' | 'other';

/** `user:` is a person; `api-key:` and `client:` (SMART backend services) are system credentials. */
export function actorKind(actor: string): ActorKind {
  if (actor.startsWith('user:')) return 'person';
  if (actor.startsWith('api-key:')) return 'api-key';
  if (actor.startsWith('client:')) return 'client';
  return 'other';
}

/** Whose access the detectors count: people and system credentials, not patients, workers or the CLI. */
export function isAccessor(actor: string): boolean {
  return actorKind(actor) !== 'other';
}

/** A successful access to a patient's PHI by a person or credential. */
export function isPhiAccess(f: AuditFact): boolean {
  return f.patient !== null && f.outcome === 'success' && PHI_ACCESS.has(f.action) && isAccessor(f.actor);
}

/**
 * The account a failed sign-in was aimed at, as `<targetType>:<targetId>` (`user:<id>`,
 * `login:<keyed hash>`, `patient_account:<id>`…); null when the entry names none.
 */
export function signInAccount(f: AuditFact): string | null {
  if (f.targetType && f.targetId) return `${f.targetType}:${f.targetId}`;
  if (f.actor.startsWith('user:') || f.actor.startsWith('patient-account:')) return f.actor;
  return null;
}
