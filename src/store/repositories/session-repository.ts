import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { PortOf } from './port-of.js';

export type SessionRow = Selectable<Database['sessions']>;
export type DeviceRow = Selectable<Database['devices']>;

/** Sessions of people and their devices (auth/session-service.ts holds the rules; this only reads and writes rows). */
export type SessionRepository = PortOf<SqlSessionRepository>;

export class SqlSessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<Database['sessions']>): Promise<void> {
    await this.db.insertInto('sessions').values(row).execute();
  }

  /** The fields a request needs of the user behind a session. */
  async user(
    tenantId: string,
    id: string,
  ): Promise<Pick<Selectable<Database['users']>, 'id' | 'tenant_id' | 'roles' | 'status'> | undefined> {
    return this.db
      .selectFrom('users')
      .select(['id', 'tenant_id', 'roles', 'status'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The fields a request needs of the patient account behind a session. */
  async patientAccount(
    tenantId: string,
    id: string,
  ): Promise<Pick<Selectable<Database['patient_accounts']>, 'id' | 'tenant_id' | 'patient_id' | 'status'> | undefined> {
    return this.db
      .selectFrom('patient_accounts')
      .select(['id', 'tenant_id', 'patient_id', 'status'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async byTokenHash(tokenHash: string): Promise<SessionRow | undefined> {
    return this.db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  async byId(tenantId: string, id: string): Promise<SessionRow | undefined> {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Marks activity; the caller throttles how often (idle timeout is minutes, not milliseconds). */
  async touch(id: string, now: number): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Revokes one live session; false when it was already revoked or unknown. */
  async revoke(tenantId: string, id: string, now: number, reason: string): Promise<boolean> {
    const r = await this.db
      .updateTable('sessions')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Revokes every live session of a subject; returns how many. */
  async revokeAllOf(
    tenantId: string,
    subjectType: string,
    subjectId: string,
    now: number,
    reason: string,
  ): Promise<number> {
    const r = await this.db
      .updateTable('sessions')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('tenant_id', '=', tenantId)
      .where('subject_type', '=', subjectType)
      .where('subject_id', '=', subjectId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Live (unrevoked, unexpired) sessions of a subject, newest first. */
  async listLive(tenantId: string, subjectType: string, subjectId: string, now: number): Promise<SessionRow[]> {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('subject_type', '=', subjectType)
      .where('subject_id', '=', subjectId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .execute();
  }

  /** Revokes every live device registration (and so its push token) of a subject; returns how many. */
  async revokeDevicesOf(tenantId: string, subjectType: string, subjectId: string, now: number): Promise<number> {
    const r = await this.db
      .updateTable('devices')
      .set({ revoked_at: now, push_token_ct: null })
      .where('tenant_id', '=', tenantId)
      .where('subject_type', '=', subjectType)
      .where('subject_id', '=', subjectId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  // --- devices -------------------------------------------------------------------------------
  async insertDevice(row: Insertable<Database['devices']>): Promise<void> {
    await this.db.insertInto('devices').values(row).execute();
  }

  /** Live (unrevoked) devices of a person, newest first. */
  async liveDevices(tenantId: string, subjectType: string, subjectId: string): Promise<DeviceRow[]> {
    return this.db
      .selectFrom('devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('subject_type', '=', subjectType)
      .where('subject_id', '=', subjectId)
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }

  /** Revokes one live device of this person and drops its push token; false when not theirs or already revoked. */
  async revokeDevice(
    tenantId: string,
    subjectType: string,
    subjectId: string,
    id: string,
    now: number,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('devices')
      .set({ revoked_at: now, push_token_ct: null })
      .where('tenant_id', '=', tenantId)
      .where('subject_type', '=', subjectType)
      .where('subject_id', '=', subjectId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
