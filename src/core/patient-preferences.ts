import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { AppError } from './errors.js';
import {
  CHANNEL_KINDS,
  LANGUAGES,
  NOTIFICATION_TYPES,
  type ChannelKind,
  type Language,
  type NotificationType,
} from './domain.js';
import type { StoreTx } from '../store/store.js';
import type { ContactPointRow } from '../store/rows.js';
import type { PreferenceRow } from '../store/repositories/preference-repository.js';

/**
 * A patient's delivery preferences, as the API shows and takes them. Times are the patient's local
 * wall-clock `HH:MM` (their record's time zone).
 */
export interface Preferences {
  /** Per notification type, channel kinds in the patient's order: the first one they have a contact point for is used. */
  channels: Partial<Record<NotificationType, ChannelKind[]>>;
  /** Language of nudges and portal pages; null: the patient record's language. */
  language: Language | null;
  /** Routine messages wait until `end`; may cross midnight. Null: only the installation's quiet hours. */
  quietHours: { start: string; end: string } | null;
  /** No routine SMS after this local time; it waits for the next morning (the end of the quiet hours, else 08:00). */
  noTextAfter: string | null;
}

export interface PreferencesView extends Preferences {
  patientId: string;
  /** Null while the patient never set any (the view then shows the defaults). */
  updatedAt: string | null;
}

/** Input as callers send it: anything; checked here (a caller other than the HTTP API may pass anything). */
export interface PreferencesInput {
  channels?: unknown;
  language?: unknown;
  quietHours?: unknown;
  noTextAfter?: unknown;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

const minute = (s: unknown, field: string): number => {
  const m = typeof s === 'string' ? HHMM.exec(s) : null;
  if (!m) throw new AppError('SP_PREFERENCE_INVALID_TIME', field);
  return Number(m[1]) * 60 + Number(m[2]);
};
const hhmm = (n: number | null): string | null =>
  n == null ? null : `${String(Math.floor(n / 60)).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}`;

/** Checks `input` and makes the row's values; throws the first problem (nothing is written then). */
export function parsePreferences(
  input: PreferencesInput,
): Omit<PreferenceRow, 'tenant_id' | 'patient_id' | 'updated_at'> {
  const channels: Partial<Record<NotificationType, ChannelKind[]>> = {};
  if (input.channels != null) {
    if (typeof input.channels !== 'object' || Array.isArray(input.channels))
      throw new AppError('SP_PREFERENCE_UNKNOWN_TYPE', 'channels must be an object keyed by notification type');
    for (const [type, list] of Object.entries(input.channels as Record<string, unknown>)) {
      if (!NOTIFICATION_TYPES.includes(type as NotificationType))
        throw new AppError('SP_PREFERENCE_UNKNOWN_TYPE', `channels.${type.slice(0, 40)}`);
      if (
        !Array.isArray(list) ||
        !list.length ||
        list.some((c) => !CHANNEL_KINDS.includes(c as ChannelKind)) ||
        new Set(list).size !== list.length
      )
        throw new AppError('SP_PREFERENCE_UNKNOWN_CHANNEL', `channels.${type}`);
      channels[type as NotificationType] = list as ChannelKind[];
    }
  }
  if (input.language != null && !LANGUAGES.includes(input.language as Language))
    throw new AppError('SP_PREFERENCE_INVALID_LANGUAGE', `language: one of ${LANGUAGES.join(', ')}`);
  let quietStart: number | null = null;
  let quietEnd: number | null = null;
  if (input.quietHours != null) {
    const q = input.quietHours as { start?: unknown; end?: unknown };
    if (typeof q !== 'object') throw new AppError('SP_PREFERENCE_INVALID_TIME', 'quietHours');
    quietStart = minute(q.start, 'quietHours.start');
    quietEnd = minute(q.end, 'quietHours.end');
    if (quietStart === quietEnd) throw new AppError('SP_PREFERENCE_INVALID_TIME', 'quietHours: start equals end');
  }
  const noTextAfter = input.noTextAfter == null ? null : minute(input.noTextAfter, 'noTextAfter');
  return {
    channels: JSON.stringify(channels),
    language: (input.language as Language | null | undefined) ?? null,
    quiet_start: quietStart,
    quiet_end: quietEnd,
    no_text_after: noTextAfter,
  };
}

export function preferencesView(patientId: string, row: PreferenceRow | undefined): PreferencesView {
  return {
    patientId,
    channels: row ? (JSON.parse(row.channels) as Preferences['channels']) : {},
    language: (row?.language as Language | null | undefined) ?? null,
    quietHours:
      row && row.quiet_start != null && row.quiet_end != null
        ? { start: hhmm(row.quiet_start)!, end: hhmm(row.quiet_end)! }
        : null,
    noTextAfter: hhmm(row?.no_text_after ?? null),
    updatedAt: row ? new Date(Number(row.updated_at)).toISOString() : null,
  };
}

/**
 * `contacts` (usable, by rank) reordered by the patient's preference for `type`: contact points of
 * the preferred channels first, in the preferred order, then the others by rank.
 */
export function inPreferredOrder<C extends Pick<ContactPointRow, 'system'>>(
  contacts: readonly C[],
  row: PreferenceRow | undefined,
  type: NotificationType,
): C[] {
  if (!row) return [...contacts];
  const order = (JSON.parse(row.channels) as Preferences['channels'])[type];
  if (!order?.length) return [...contacts];
  const rank = (c: C) => {
    const i = order.indexOf(c.system as ChannelKind);
    return i < 0 ? order.length : i;
  };
  return contacts
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i)
    .map((x) => x.c);
}

/**
 * Reads and replaces patients' preferences: staff (their route checks the patient relationship) and
 * the signed-in patient (their own only). Every change is audited in its transaction; reading is not
 * (the preferences hold no PHI).
 */
export class PatientPreferencesService {
  constructor(private readonly deps: CoreDeps) {}

  async get(ctx: RequestContext, patientId: string): Promise<PreferencesView> {
    const tx = this.deps.store.read;
    await this.requirePatient(tx, ctx.tenantId, patientId);
    return preferencesView(patientId, await tx.preferences.get(ctx.tenantId, patientId));
  }

  /** Replaces the patient's preferences (fields left out are cleared). `source`: who changed them, for the audit. */
  async put(
    ctx: RequestContext,
    patientId: string,
    input: PreferencesInput,
    source: 'staff' | 'portal' | 'api',
  ): Promise<PreferencesView> {
    const values = parsePreferences(input);
    const { store, clock } = this.deps;
    const view = await store.transaction(async (tx) => {
      await this.requirePatient(tx, ctx.tenantId, patientId);
      const before = await tx.preferences.get(ctx.tenantId, patientId);
      const now = clock();
      const row: PreferenceRow = {
        tenant_id: ctx.tenantId,
        patient_id: patientId,
        ...values,
        updated_at: now.getTime(),
      };
      await tx.preferences.put(row);
      await audit(tx, ctx, now, {
        action: 'patient.preferences_updated',
        targetType: 'patient',
        targetId: patientRef(this.deps, ctx.tenantId, patientId),
        patientRef: patientRef(this.deps, ctx.tenantId, patientId),
        details: { source, changed: changedFields(before, row).join(',') },
      });
      return preferencesView(patientId, row);
    });
    await store.durable();
    return view;
  }

  private async requirePatient(tx: StoreTx, tenantId: string, patientId: string): Promise<void> {
    const p = await tx.patients.get(tenantId, patientId);
    if (!p) throw new AppError('SP_PATIENT_NOT_FOUND');
    if (p.merged_into) throw new AppError('SP_PATIENT_MERGED', `mergedInto: ${p.merged_into}`);
    // Erasure destroys the data key: the patient is gone for every purpose.
    if (!(await tx.dataKeys.get(tenantId, patientId))) throw new AppError('SP_PATIENT_ERASED');
  }
}

function changedFields(before: PreferenceRow | undefined, after: PreferenceRow): string[] {
  const fields: (keyof PreferenceRow)[] = ['channels', 'language', 'quiet_start', 'quiet_end', 'no_text_after'];
  return fields.filter(
    (f) => (before?.[f] ?? null) !== after[f] && !(f === 'channels' && !before && after[f] === '{}'),
  );
}
