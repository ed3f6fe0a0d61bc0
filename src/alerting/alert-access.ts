import type { StoreTx } from '../store/store.js';
import type { AlertEventRow, AlertRow } from '../store/repositories/alert-repository.js';
import { CLINICAL_ROLES } from '../core/domain.js';

/** A signed-in person acting on or reading an alert. */
export interface AlertPerson {
  userId: string;
  roles: readonly string[];
  /** Their session, for a live break-glass grant. */
  sessionId?: string;
}

/** The timeline kinds that say who was told (and who declined): all `respond()` reads of the timeline. */
export const TOLD_KINDS = ['notified', 'escalated', 'forwarded', 'priority_raised', 'declined'] as const;

export const isClinical = (roles: readonly string[]): boolean =>
  roles.some((r) => (CLINICAL_ROLES as readonly string[]).includes(r));

const dataOf = (e: AlertEventRow) => JSON.parse(e.data) as { recipients?: unknown; step?: unknown; userId?: unknown };

/**
 * Whether `userId` was actually told of the alert (a step or a forward reached them; a suppressed
 * or unreachable person is not recorded as a recipient), of step `step` only when given.
 */
export function wasTold(events: readonly AlertEventRow[], userId: string, step?: number): boolean {
  return events.some((e) => {
    if (e.kind === 'declined' || !(TOLD_KINDS as readonly string[]).includes(e.kind)) return false;
    const d = dataOf(e);
    if (step !== undefined && d.step !== step) return false;
    return Array.isArray(d.recipients) && d.recipients.includes(userId);
  });
}

/** Whether `userId` already declined step `step` (a double tap, a retry, a resent SMS reply). */
export function declined(events: readonly AlertEventRow[], userId: string, step: number): boolean {
  return events.some((e) => {
    if (e.kind !== 'declined') return false;
    const d = dataOf(e);
    return d.userId === userId && d.step === step;
  });
}

/** The patient relationship: a physician or nurse on the care team, or with a live break-glass grant. */
export async function hasRelationship(tx: StoreTx, a: AlertRow, p: AlertPerson, now: number): Promise<boolean> {
  if (!a.patient_id || !isClinical(p.roles)) return false;
  if (await tx.access.isCareTeamMember(a.tenant_id, a.patient_id, p.userId)) return true;
  return p.sessionId ? !!(await tx.access.liveGrant(a.tenant_id, p.userId, p.sessionId, a.patient_id, now)) : false;
}

/**
 * Who may acknowledge, decline, forward or resolve: a person who was told of the alert, a person with
 * the patient relationship, or (an alert without a patient) a clinician. Everyone else is answered
 * 404 SP_ALERT_NOT_FOUND, so the alert's existence is not revealed.
 */
export async function mayAct(
  tx: StoreTx,
  a: AlertRow,
  p: AlertPerson,
  events: readonly AlertEventRow[],
  now: number,
): Promise<boolean> {
  if (wasTold(events, p.userId)) return true;
  if (!a.patient_id) return isClinical(p.roles);
  return hasRelationship(tx, a, p, now);
}

/**
 * Who sees `details` and `patientId`: a person with the patient relationship, or a clinician who was
 * told of the alert. Administrators (no clinical content by design) and systems never do.
 */
export async function maySeeClinical(
  tx: StoreTx,
  a: AlertRow,
  p: AlertPerson | undefined,
  events: readonly AlertEventRow[],
  now: number,
): Promise<boolean> {
  if (!p || !isClinical(p.roles)) return false;
  if (wasTold(events, p.userId)) return true;
  return hasRelationship(tx, a, p, now);
}
