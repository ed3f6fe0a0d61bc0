import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import { revokeOnce } from './revoke-once.js';
import type { PortOf } from './port-of.js';

export type CareTeamRow = Selectable<Database['care_team_members']>;
export type BreakGlassRow = Selectable<Database['break_glass_grants']>;
export type AdminAlertRow = Selectable<Database['admin_alerts']>;

/**
 * The patient relationship (care teams, break-glass grants) and administrator alerts. Every query is
 * scoped by tenant: an id of another tenant finds nothing (ASVS 8.4.1). The rules live in
 * auth/patient-access.ts, core/care-team-service.ts and core/break-glass-service.ts.
 */
export type AccessRepository = PortOf<SqlAccessRepository>;

export class SqlAccessRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Whether the user is on the patient's care team. */
  async isCareTeamMember(tenantId: string, patientId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('care_team_members')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Adds a member; false when the user already was one (nothing written). */
  async addCareTeamMember(row: Insertable<Database['care_team_members']>): Promise<boolean> {
    const r = await this.db
      .insertInto('care_team_members')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'patient_id', 'user_id']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Removes a member; false when the user was not one. */
  async removeCareTeamMember(tenantId: string, patientId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('care_team_members')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listCareTeam(tenantId: string, patientId: string): Promise<CareTeamRow[]> {
    return this.db
      .selectFrom('care_team_members')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .orderBy('created_at')
      .orderBy('user_id')
      .execute();
  }

  /** The fields the care-team rules need of a user (no e-mail, no password hash). */
  async userForAccess(
    tenantId: string,
    userId: string,
  ): Promise<Pick<Selectable<Database['users']>, 'id' | 'roles' | 'status'> | undefined> {
    return this.db
      .selectFrom('users')
      .select(['id', 'roles', 'status'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', userId)
      .executeTakeFirst();
  }

  /** Whether the patient is registered (a row exists); reads no ciphertext. */
  async patientExists(tenantId: string, patientId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('patients')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', patientId)
      .executeTakeFirst();
    return r !== undefined;
  }

  /** The patient and type of a notification, without its (encrypted) content. */
  async notificationSubject(tenantId: string, id: string): Promise<{ patient_id: string; type: string } | undefined> {
    return this.db
      .selectFrom('notifications')
      .select(['patient_id', 'type'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The patient of an appointment, without its (encrypted) content. */
  async appointmentPatient(tenantId: string, externalId: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('appointments')
      .select('patient_id')
      .where('tenant_id', '=', tenantId)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
    return r?.patient_id;
  }

  /**
   * The newest live grant of a user for a patient (not expired at `now`, not revoked) made in this
   * session: a grant dies with the session that re-authenticated for it (sign-out, remote wipe,
   * disabling, a role change).
   */
  async liveGrant(
    tenantId: string,
    userId: string,
    sessionId: string,
    patientId: string,
    now: number,
  ): Promise<{ id: string; expires_at: number } | undefined> {
    return this.db
      .selectFrom('break_glass_grants')
      .select(['id', 'expires_at'])
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('session_id', '=', sessionId)
      .where('patient_id', '=', patientId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('expires_at', 'desc')
      .executeTakeFirst();
  }

  async getGrant(tenantId: string, id: string): Promise<BreakGlassRow | undefined> {
    return this.db
      .selectFrom('break_glass_grants')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Ends a live grant (an administrator judged it unjustified); false when unknown, expired or already ended. */
  revokeGrant(tenantId: string, id: string, now: number): Promise<boolean> {
    return revokeOnce(this.db, 'break_glass_grants', tenantId, id, now, now);
  }

  /**
   * Erasure: the patient's care team goes and its live grants end (an id registered again later is
   * another person, whom nobody's old membership or grant may reach). Returns the counts.
   */
  async eraseOfPatient(
    tenantId: string,
    patientId: string,
    now: number,
  ): Promise<{ careTeam: number; grants: number }> {
    const team = await this.db
      .deleteFrom('care_team_members')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    const grants = await this.db
      .updateTable('break_glass_grants')
      .set({ revoked_at: now })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return { careTeam: Number(team.numDeletedRows), grants: Number(grants.numUpdatedRows) };
  }

  async insertGrant(row: Insertable<Database['break_glass_grants']>): Promise<void> {
    await this.db.insertInto('break_glass_grants').values(row).execute();
  }

  /** Grants of a tenant, newest first, before the cursor (`created_at:id`). */
  async listGrants(
    tenantId: string,
    before: { at: number; id: string } | null,
    limit: number,
  ): Promise<BreakGlassRow[]> {
    let q = this.db.selectFrom('break_glass_grants').selectAll().where('tenant_id', '=', tenantId);
    if (before)
      q = q.where((eb) =>
        eb.or([eb('created_at', '<', before.at), eb.and([eb('created_at', '=', before.at), eb('id', '<', before.id)])]),
      );
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async insertAlert(row: Insertable<Database['admin_alerts']>): Promise<void> {
    await this.db.insertInto('admin_alerts').values(row).execute();
  }

  async getAlert(tenantId: string, id: string): Promise<AdminAlertRow | undefined> {
    return this.db
      .selectFrom('admin_alerts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Alerts of a tenant, newest first, before the cursor; only unacknowledged ones with `openOnly`. */
  async listAlerts(
    tenantId: string,
    before: { at: number; id: string } | null,
    limit: number,
    openOnly: boolean,
  ): Promise<AdminAlertRow[]> {
    let q = this.db.selectFrom('admin_alerts').selectAll().where('tenant_id', '=', tenantId);
    if (openOnly) q = q.where('acknowledged_at', 'is', null);
    if (before)
      q = q.where((eb) =>
        eb.or([eb('created_at', '<', before.at), eb.and([eb('created_at', '=', before.at), eb('id', '<', before.id)])]),
      );
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  /** Acknowledges an open alert; false when it was already acknowledged (or is unknown). */
  async acknowledgeAlert(tenantId: string, id: string, now: number, by: string): Promise<boolean> {
    const r = await this.db
      .updateTable('admin_alerts')
      .set({ acknowledged_at: now, acknowledged_by: by })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('acknowledged_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Records the one review of a grant; false when it was already reviewed (or is unknown). */
  async reviewGrant(
    tenantId: string,
    id: string,
    r: { at: number; by: string; outcome: string; noteCt: Uint8Array | null },
  ): Promise<boolean> {
    const u = await this.db
      .updateTable('break_glass_grants')
      .set({ reviewed_at: r.at, reviewed_by: r.by, review_outcome: r.outcome, review_note_ct: r.noteCt })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('reviewed_at', 'is', null)
      .executeTakeFirst();
    return Number(u.numUpdatedRows) > 0;
  }

  /**
   * Closes an open alert (acknowledging it too when nobody had); false when it was already closed
   * (or is unknown). With `target` instead of an id: every open alert about that target.
   */
  async closeAlerts(
    tenantId: string,
    which: { id: string } | { targetType: string; targetId: string },
    c: { at: number; by: string; noteCt: Uint8Array | null },
  ): Promise<number> {
    const where = <Q extends { where: (...a: any[]) => Q }>(q: Q): Q =>
      'id' in which
        ? q.where('id', '=', which.id)
        : q.where('target_type', '=', which.targetType).where('target_id', '=', which.targetId);
    await where(
      this.db
        .updateTable('admin_alerts')
        .set({ acknowledged_at: c.at, acknowledged_by: c.by })
        .where('tenant_id', '=', tenantId)
        .where('closed_at', 'is', null)
        .where('acknowledged_at', 'is', null),
    ).execute();
    const r = await where(
      this.db
        .updateTable('admin_alerts')
        .set({ closed_at: c.at, closed_by: c.by, close_note_ct: c.noteCt })
        .where('tenant_id', '=', tenantId)
        .where('closed_at', 'is', null),
    ).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async insertTenant(id: string, name: string, now: number): Promise<void> {
    await this.db.insertInto('tenants').values({ id, name, created_at: now }).execute();
  }
}
