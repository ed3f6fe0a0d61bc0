import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../schema.js';

export type PrivacyAlertRow = Selectable<Database['privacy_alerts']>;
export type PrivacyAlertNoteRow = Selectable<Database['privacy_alert_notes']>;
export type PrivacySuppressionRow = Selectable<Database['privacy_suppressions']>;
export type SensitivePatientRow = Selectable<Database['privacy_sensitive_patients']>;
export type PrivacyAlertStatus = PrivacyAlertRow['status'];
export type PrivacyOutcome = NonNullable<PrivacyAlertRow['outcome']>;
export type SensitivityKind = SensitivePatientRow['kind'];

/** Where a ranked alert list stops: the last row's rank (status order, score) and id. */
export interface PrivacyAlertCursor {
  rank: number;
  score: number;
  id: string;
}

/** The monitor's saved progress: the last audit index it consumed and its engine's state (JSON). */
export interface PrivacyMonitorState {
  cursorIdx: number;
  state: string;
  updatedAt: number;
}

/** The fields a finding changes on an alert it updates (the same dedup key). */
export interface PrivacyAlertFindings {
  detectors: string;
  score_tenths: number;
  first_at: number;
  last_at: number;
  reasons: string;
  evidence: string;
}

/**
 * Privacy monitoring's storage (migration 031). Alerts are keyed per tenant by their dedup key;
 * status changes are conditional on the status they leave, so two officers (or two nodes) cannot
 * both close one alert. The monitor's progress is saved compare-and-set on its cursor, so a stale
 * holder of the lease cannot write a batch twice. Every method is tenant-scoped except those the
 * single monitor uses across tenants (`activeSuppressions`, `allSensitive`, `personRoles`,
 * `state`, `saveState`). Nothing here seals or opens: `text_ct`/`reason_ct` arrive sealed.
 */
export interface PrivacyRepository {
  /** The alert of a tenant with this dedup key, whatever its status; undefined when none. */
  alertByKey(tenantId: string, key: string): Promise<PrivacyAlertRow | undefined>;
  /** Inserts a new alert; the (tenant, dedup key) pair must be new (unique index). */
  insertAlert(row: Insertable<Database['privacy_alerts']>): Promise<void>;
  /** Replaces an alert's findings (score, detectors, evidence, times); false when it is closed or gone. */
  updateFindings(tenantId: string, id: string, f: PrivacyAlertFindings, now: number): Promise<boolean>;
  getAlert(tenantId: string, id: string): Promise<PrivacyAlertRow | undefined>;
  /**
   * Alerts ranked: open first, then investigating, then closed; within a status by score (highest
   * first), then id. `status` filters; `after` continues a list where its last page stopped.
   */
  listAlerts(
    tenantId: string,
    o: { status?: PrivacyAlertStatus; limit: number; after?: PrivacyAlertCursor },
  ): Promise<PrivacyAlertRow[]>;
  /**
   * Moves an alert from one of `from` to `to` (with the outcome, and the assignee when given);
   * false when its status is not one of `from` (a racing change won) or it does not exist.
   */
  setStatus(
    tenantId: string,
    id: string,
    from: readonly PrivacyAlertStatus[],
    to: { status: PrivacyAlertStatus; outcome?: PrivacyOutcome | null; assignee?: string | null },
    now: number,
  ): Promise<boolean>;
  addNote(row: Insertable<Database['privacy_alert_notes']>): Promise<void>;
  /** An alert's notes, oldest first. */
  notes(tenantId: string, alertId: string): Promise<PrivacyAlertNoteRow[]>;
  insertSuppression(row: Insertable<Database['privacy_suppressions']>): Promise<void>;
  getSuppression(tenantId: string, id: string): Promise<PrivacySuppressionRow | undefined>;
  /** A tenant's suppressions not removed, newest first; expired ones too when `includeExpired`. */
  listSuppressions(tenantId: string, now: number, includeExpired: boolean): Promise<PrivacySuppressionRow[]>;
  /** Every tenant's suppressions in force at `now` (not removed, not expired): the monitor's rules. */
  activeSuppressions(now: number): Promise<PrivacySuppressionRow[]>;
  /** Marks a suppression removed; false when it was already removed or does not exist. */
  removeSuppression(tenantId: string, id: string, now: number): Promise<boolean>;
  /** Flags a patient reference (replaces its kind); returns the previous kind, null when it was not flagged. */
  setSensitive(row: Insertable<Database['privacy_sensitive_patients']>): Promise<SensitivityKind | null>;
  /** Clears a flag; false when the reference was not flagged. */
  clearSensitive(tenantId: string, patientRef: string): Promise<boolean>;
  /** A tenant's flagged references, by reference. */
  listSensitive(tenantId: string): Promise<SensitivePatientRow[]>;
  /** Every tenant's flagged references (the monitor's DetectorContext). */
  allSensitive(): Promise<SensitivePatientRow[]>;
  /** Every staff user's roles, as `user:<id>` actors per tenant (the role baselines). */
  personRoles(): Promise<{ tenant_id: string; id: string; roles: string }[]>;
  /** The named monitor's progress; undefined before its first batch. */
  state(name: string): Promise<PrivacyMonitorState | undefined>;
  /**
   * Saves progress compare-and-set: only when the stored cursor is still `expectedCursor` (none
   * stored: `expectedCursor` 0). False when another writer moved it (the caller's batch is void).
   */
  saveState(
    name: string,
    expectedCursor: number,
    next: { cursorIdx: number; state: string },
    now: number,
  ): Promise<boolean>;
}

const STATUS_RANK = sql<number>`case status when 'open' then 0 when 'investigating' then 1 else 2 end`;

export class SqlPrivacyRepository implements PrivacyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async alertByKey(tenantId: string, key: string): Promise<PrivacyAlertRow | undefined> {
    return this.alertRow(
      await this.db
        .selectFrom('privacy_alerts')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('dedup_key', '=', key)
        .executeTakeFirst(),
    );
  }

  async insertAlert(row: Insertable<Database['privacy_alerts']>): Promise<void> {
    await this.db.insertInto('privacy_alerts').values(row).execute();
  }

  async updateFindings(tenantId: string, id: string, f: PrivacyAlertFindings, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('privacy_alerts')
      .set({ ...f, updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', '!=', 'closed')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async getAlert(tenantId: string, id: string): Promise<PrivacyAlertRow | undefined> {
    return this.alertRow(
      await this.db
        .selectFrom('privacy_alerts')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
  }

  async listAlerts(
    tenantId: string,
    o: { status?: PrivacyAlertStatus; limit: number; after?: PrivacyAlertCursor },
  ): Promise<PrivacyAlertRow[]> {
    let q = this.db.selectFrom('privacy_alerts').selectAll().where('tenant_id', '=', tenantId);
    if (o.status) q = q.where('status', '=', o.status);
    const a = o.after;
    if (a)
      q = q.where(
        (eb) =>
          sql<boolean>`(${STATUS_RANK} > ${a.rank} or (${STATUS_RANK} = ${a.rank} and (score_tenths < ${a.score} or (score_tenths = ${a.score} and ${eb.ref('id')} > ${a.id}))))`,
      );
    const rows = await q.orderBy(STATUS_RANK).orderBy('score_tenths', 'desc').orderBy('id').limit(o.limit).execute();
    return rows.map((r) => this.alertRow(r)!);
  }

  async setStatus(
    tenantId: string,
    id: string,
    from: readonly PrivacyAlertStatus[],
    to: { status: PrivacyAlertStatus; outcome?: PrivacyOutcome | null; assignee?: string | null },
    now: number,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('privacy_alerts')
      .set({
        status: to.status,
        ...(to.outcome !== undefined ? { outcome: to.outcome } : {}),
        ...(to.assignee !== undefined ? { assignee: to.assignee } : {}),
        updated_at: now,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async addNote(row: Insertable<Database['privacy_alert_notes']>): Promise<void> {
    await this.db.insertInto('privacy_alert_notes').values(row).execute();
  }

  async notes(tenantId: string, alertId: string): Promise<PrivacyAlertNoteRow[]> {
    const rows = await this.db
      .selectFrom('privacy_alert_notes')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('alert_id', '=', alertId)
      .orderBy('at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ ...r, at: Number(r.at) }));
  }

  async insertSuppression(row: Insertable<Database['privacy_suppressions']>): Promise<void> {
    await this.db.insertInto('privacy_suppressions').values(row).execute();
  }

  async getSuppression(tenantId: string, id: string): Promise<PrivacySuppressionRow | undefined> {
    const r = await this.db
      .selectFrom('privacy_suppressions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r && suppressionRow(r);
  }

  async listSuppressions(tenantId: string, now: number, includeExpired: boolean): Promise<PrivacySuppressionRow[]> {
    let q = this.db
      .selectFrom('privacy_suppressions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('removed_at', 'is', null);
    if (!includeExpired) q = q.where('expires_at', '>', now);
    return (await q.orderBy('created_at', 'desc').orderBy('id', 'desc').execute()).map(suppressionRow);
  }

  async activeSuppressions(now: number): Promise<PrivacySuppressionRow[]> {
    const rows = await this.db
      .selectFrom('privacy_suppressions')
      .selectAll()
      .where('removed_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('id')
      .execute();
    return rows.map(suppressionRow);
  }

  async removeSuppression(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('privacy_suppressions')
      .set({ removed_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setSensitive(row: Insertable<Database['privacy_sensitive_patients']>): Promise<SensitivityKind | null> {
    const prev = await this.db
      .selectFrom('privacy_sensitive_patients')
      .select('kind')
      .where('tenant_id', '=', row.tenant_id)
      .where('patient_ref', '=', row.patient_ref)
      .executeTakeFirst();
    await this.db
      .insertInto('privacy_sensitive_patients')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'patient_ref'])
          .doUpdateSet({ kind: row.kind, set_by: row.set_by, set_at: row.set_at }),
      )
      .execute();
    return prev?.kind ?? null;
  }

  async clearSensitive(tenantId: string, patientRef: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('privacy_sensitive_patients')
      .where('tenant_id', '=', tenantId)
      .where('patient_ref', '=', patientRef)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listSensitive(tenantId: string): Promise<SensitivePatientRow[]> {
    const rows = await this.db
      .selectFrom('privacy_sensitive_patients')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('patient_ref')
      .execute();
    return rows.map((r) => ({ ...r, set_at: Number(r.set_at) }));
  }

  async allSensitive(): Promise<SensitivePatientRow[]> {
    const rows = await this.db.selectFrom('privacy_sensitive_patients').selectAll().execute();
    return rows.map((r) => ({ ...r, set_at: Number(r.set_at) }));
  }

  async personRoles(): Promise<{ tenant_id: string; id: string; roles: string }[]> {
    return this.db.selectFrom('users').select(['tenant_id', 'id', 'roles']).execute();
  }

  async state(name: string): Promise<PrivacyMonitorState | undefined> {
    const r = await this.db.selectFrom('privacy_monitor_state').selectAll().where('name', '=', name).executeTakeFirst();
    return r && { cursorIdx: Number(r.cursor_idx), state: r.state, updatedAt: Number(r.updated_at) };
  }

  async saveState(
    name: string,
    expectedCursor: number,
    next: { cursorIdx: number; state: string },
    now: number,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('privacy_monitor_state')
      .set({ cursor_idx: next.cursorIdx, state: next.state, updated_at: now })
      .where('name', '=', name)
      .where('cursor_idx', '=', expectedCursor)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return true;
    if (expectedCursor !== 0) return false;
    // First save: the row does not exist yet (a racing first save loses on the primary key).
    if (await this.state(name)) return false;
    await this.db
      .insertInto('privacy_monitor_state')
      .values({ name, cursor_idx: next.cursorIdx, state: next.state, updated_at: now })
      .execute();
    return true;
  }

  /** PostgreSQL returns bigint columns as strings: times and scores back to numbers. */
  private alertRow(r: PrivacyAlertRow | undefined): PrivacyAlertRow | undefined {
    return (
      r && {
        ...r,
        score_tenths: Number(r.score_tenths),
        first_at: Number(r.first_at),
        last_at: Number(r.last_at),
        created_at: Number(r.created_at),
        updated_at: Number(r.updated_at),
      }
    );
  }
}

function suppressionRow(r: PrivacySuppressionRow): PrivacySuppressionRow {
  return {
    ...r,
    created_at: Number(r.created_at),
    expires_at: Number(r.expires_at),
    removed_at: r.removed_at == null ? null : Number(r.removed_at),
  };
}
