/**
 * The vocabulary of clinical alerting and the ports between its parts: alerts and their escalation
 * (alert-service.ts, alert-timers.ts), who a target names at a given time (the directory: groups,
 * unit roles, on-call schedules, care teams) and how recipients are told (alert-notifier.ts).
 *
 * Sealpost is a secondary alarm system: the device or the EHR that raised a condition stays the
 * primary alarm; Sealpost makes sure a responsible person hears of it and records who knew what when.
 */
import type { StoreTx } from '../store/store.js';
import type { RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';

/** IEC 60601-1-8 alarm priorities: high (immediate response), medium (prompt), low (awareness). */
export const ALERT_PRIORITIES = ['high', 'medium', 'low'] as const;
export type AlertPriority = (typeof ALERT_PRIORITIES)[number];

/** Channels an alert nudge travels on (all PHI-free: a summary and a link to the details). */
export const ALERT_CHANNELS = ['sms', 'email', 'webhook', 'paging'] as const;
export type AlertChannel = (typeof ALERT_CHANNELS)[number];

/**
 * An alert's lifecycle: `triggered` (stored, first step not yet fired) → `notified` (first step
 * fired) → `escalated` (a later step fired) → `acknowledged` | `resolved` | `expired` (the final
 * step passed unanswered). An acknowledged alert may still be resolved.
 */
export const ALERT_STATES = ['triggered', 'notified', 'escalated', 'acknowledged', 'resolved', 'expired'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
/** States in which an alert is open: it folds repeats of its dedup key and its timers may fire. */
export const OPEN_ALERT_STATES: readonly AlertState[] = ['triggered', 'notified', 'escalated', 'acknowledged'];

/** How a response reached Sealpost. */
export const RESPONSE_VIAS = ['api', 'page', 'sms', 'paging', 'mqtt'] as const;
export type ResponseVia = (typeof RESPONSE_VIAS)[number];

/**
 * Whom an alert or a policy step addresses, resolved to people each time a step fires:
 * - `user:<userId>`: one staff user;
 * - `<role>@<unit>`: whoever holds that role in that unit now (e.g. `charge_nurse@4-west`);
 * - `group:<groupId>`: every member of a group;
 * - `schedule:<scheduleId>`: whoever is on call on that schedule now;
 * - `careteam:<patientId>`: the patient's care team (device alarms of a monitored patient).
 */
export type Target =
  | { kind: 'user'; userId: string }
  | { kind: 'role'; role: string; unit: string }
  | { kind: 'group'; groupId: string }
  | { kind: 'schedule'; scheduleId: string }
  | { kind: 'careteam'; patientId: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
const ROLE = /^[a-z][a-z0-9_-]{0,49}$/;

/** Parses a target string; 400 SP_ALERT_TARGET_INVALID (the text is never echoed). */
export function parseTarget(s: string): Target {
  const colon = s.indexOf(':');
  const at = s.indexOf('@');
  if (colon > 0 && (at < 0 || colon < at)) {
    const kind = s.slice(0, colon);
    const id = s.slice(colon + 1);
    if (NAME.test(id)) {
      if (kind === 'user') return { kind, userId: id };
      if (kind === 'group') return { kind, groupId: id };
      if (kind === 'schedule') return { kind, scheduleId: id };
      if (kind === 'careteam') return { kind, patientId: id };
    }
  } else if (at > 0) {
    const role = s.slice(0, at);
    const unit = s.slice(at + 1);
    if (ROLE.test(role) && NAME.test(unit)) return { kind: 'role', role, unit };
  }
  throw new AppError('SP_ALERT_TARGET_INVALID');
}

export function formatTarget(t: Target): string {
  switch (t.kind) {
    case 'user':
      return `user:${t.userId}`;
    case 'role':
      return `${t.role}@${t.unit}`;
    case 'group':
      return `group:${t.groupId}`;
    case 'schedule':
      return `schedule:${t.scheduleId}`;
    case 'careteam':
      return `careteam:${t.patientId}`;
  }
}

/** The people a target named at one instant. */
export interface ResolvedTarget {
  /** Staff user ids (active users only), without duplicates. */
  userIds: string[];
  /**
   * Why nobody was found, when `userIds` is empty: `no_one_on_call` (a schedule gap),
   * `empty_group`, `no_role_holder`, `no_care_team`, `user_inactive`.
   */
  empty?: string;
}

/**
 * The directory: who a target names at a given time. Implemented over groups, unit role
 * assignments, on-call schedules and care teams (src/alerting/directory/).
 */
export interface TargetResolver {
  /**
   * The people `target` names at `at`, read inside `tx`. Never throws for a target that names
   * nobody (that is `empty`); a target whose group or schedule no longer exists resolves empty.
   */
  resolveInTx(tx: StoreTx, tenantId: string, target: Target, at: Date): Promise<ResolvedTarget>;
  /**
   * Checks that what `target` refers to exists in the tenant (a user, group, schedule or patient;
   * any `<role>@<unit>` is accepted): 404 SP_ALERT_TARGET_NOT_FOUND otherwise. Used when a policy
   * or an alert is written, so a typo is refused at once instead of at 3 a.m.
   */
  checkInTx(tx: StoreTx, tenantId: string, target: Target): Promise<void>;
}

/** What the notifier needs to know of an alert (no PHI: the summary is PHI-free by validation). */
export interface AlertForNotify {
  id: string;
  tenantId: string;
  priority: AlertPriority;
  summary: string;
  /** The policy step (0-based) and repeat (0 = first notification of the step) being fired. */
  step: number;
  repeat: number;
  /** `patientRef(...)` of the alert's patient, for audit entries. */
  patientRef?: string;
}

export interface PlannedRecipient {
  userId: string;
  /** The target (as text) that named this person, kept on the notification for the timeline. */
  target: string;
}

/** One nudge to hand to a channel once the transaction that planned it is durable. */
export interface PlannedSend {
  notificationId: string;
  tenantId: string;
  channel: AlertChannel;
}

/**
 * How recipients are told (src/alerting/alert-notifier.ts). Planning writes one notification row
 * per recipient and channel (the recipient's contact method for it), each audited, inside the
 * caller's transaction and already leased to this node, so the sends start right after the commit
 * without another query; a node that dies before sending leaves leases that expire and another
 * node's sweep sends them (at least once).
 */
export interface AlertNotifier {
  /**
   * Plans nudges to `recipients` on `channels` in `tx`. `bypassQuiet` (priority high) ignores the
   * recipients' quiet hours and do-not-disturb; otherwise a recipient in quiet hours is recorded as
   * suppressed for that step. Resolves with the sends to dispatch after commit, and how many
   * recipients will actually be told (0: nobody could be reached; the caller escalates at once),
   * and (`told`) which of them: the alert core records only those as recipients.
   */
  planInTx(
    tx: StoreTx,
    ctx: RequestContext,
    alert: AlertForNotify,
    recipients: readonly PlannedRecipient[],
    channels: readonly AlertChannel[],
    at: Date,
    bypassQuiet: boolean,
  ): Promise<{ sends: PlannedSend[]; reached: number; told?: string[] }>;
  /**
   * Hands planned sends to their channels after the planning transaction is durable. Never
   * throws; failures are recorded on the notification rows (retried by the sweep).
   */
  dispatch(sends: readonly PlannedSend[]): void;
  /** Cancels the unsent nudges of an alert (acknowledged, resolved) inside `tx`. */
  cancelPendingInTx(tx: StoreTx, tenantId: string, alertId: string, at: Date): Promise<void>;
  /**
   * Read receipt: `userId` opened the alert (its details), inside `tx`; that person's sent or
   * delivered nudges of it become `read`. Resolves with how many changed (0 for a non-recipient).
   */
  markRead?(tx: StoreTx, tenantId: string, alertId: string, userId: string, at: Date): Promise<number>;
}

/** A responder (a person, or a paging gateway answering for one). */
export interface Responder {
  userId: string;
  via: ResponseVia;
}

/** The alert actions other parts (SMS replies, the signed-in page, MQTT, paging) call. */
export interface AlertResponder {
  /** 404 SP_ALERT_NOT_FOUND; 409 SP_ALERT_CLOSED when resolved or expired; acknowledging twice is a no-op. */
  acknowledge(ctx: RequestContext, alertId: string, by: Responder): Promise<void>;
  /** Passes the alert on at once (the next step fires now). */
  decline(ctx: RequestContext, alertId: string, by: Responder): Promise<void>;
  /** Resolves (the condition cleared or a person closed it); timers and unsent nudges are cancelled. */
  resolve(ctx: RequestContext, alertId: string, by: { userId?: string; via: ResponseVia | 'device' }): Promise<void>;
}

/** What raises an alert: `POST /v1/alerts`, a device alarm over MQTT, a schedule gap. */
export interface TriggerInput {
  priority: AlertPriority;
  /** A target string (see `Target`). */
  target: string;
  patientId?: string;
  /** PHI-free (may appear on a lock screen or a pager); checked, 400 SP_ALERT_SUMMARY_PHI. */
  summary: string;
  /** PHI: sealed (under the patient's data key when there is a patient, else the tenant's), shown after sign-in. */
  details?: string;
  /** Free-form PHI-free origin, e.g. `device:mon-4w-12` or `lab`. */
  source?: string;
  /** Repeats of the same condition fold into the one open alert with this key (its count grows). */
  dedupKey?: string;
  /** The escalation policy; the tenant's default when absent. */
  policyId?: string;
}

export interface TriggerResult {
  alertId: string;
  /** False when the trigger folded into an open alert with the same dedup key. */
  created: boolean;
  /** How many triggers the alert has folded (1 for a new alert). */
  count: number;
}

/** Raises alerts (src/alerting/alert-service.ts). */
export interface AlertTrigger {
  /**
   * Stores the alert (or folds it into the open one with the same dedup key), fires its first step
   * and schedules the next, all in one transaction with their audit entries; resolves once that is
   * durable, after handing the first nudges to their channels (not waiting for the providers).
   */
  trigger(ctx: RequestContext, input: TriggerInput): Promise<TriggerResult>;
}
