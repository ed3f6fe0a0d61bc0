import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type MedicalDeviceRow = Selectable<Database['medical_devices']>;
export type DeviceAlarmRow = Selectable<Database['device_alarms']>;

/**
 * Medical devices that raise alarms over MQTT, and the alarm ids each registration of one sent
 * (migrations 018, 019: `generation` numbers the registrations of a device id).
 */
export interface MedicalDeviceRepository {
  /** Inserts a device; rejects (unique violation) on a taken (tenant, id) or an active device's certificate. */
  insert(row: MedicalDeviceRow): Promise<void>;
  /** Registers a removed device's id again with `row`'s fields (its next `generation`); false when the id is not a removed device. */
  reRegister(row: MedicalDeviceRow): Promise<boolean>;
  /** A device of the tenant by id, removed or not. */
  get(tenantId: string, id: string): Promise<MedicalDeviceRow | undefined>;
  /** The device (not removed, any tenant) whose client certificate has this SHA-256 (lower-case hex). */
  findActiveByCert(certSha256: string): Promise<MedicalDeviceRow | undefined>;
  /** The tenant's devices not removed, by id, those after `after` (an id) first, at most `limit`. */
  listActive(tenantId: string, o: { after?: string; limit: number }): Promise<MedicalDeviceRow[]>;
  /** Changes an active device's location, patient and target; false when it is not active. */
  update(
    tenantId: string,
    id: string,
    patch: Pick<MedicalDeviceRow, 'location' | 'patient_id' | 'target' | 'updated_at'>,
  ): Promise<boolean>;
  /** Marks an active device removed; false when it was not active. */
  remove(tenantId: string, id: string, now: number): Promise<boolean>;
  /** Records what the device last said of itself (and the alert an `offline` raised, or null). */
  setStatus(tenantId: string, id: string, status: string, offlineAlertId: string | null, now: number): Promise<void>;
  /** The alarm a registration of a device sent with this id, if it was ever received. */
  getAlarm(
    tenantId: string,
    deviceId: string,
    generation: number,
    alarmId: string,
  ): Promise<DeviceAlarmRow | undefined>;
  /**
   * Records an alarm id, replacing a record of it received before `replaceBefore` (an alarm id
   * that old names a new alarm); false when a newer record exists (a QoS 1 repeat, or another node won).
   */
  insertAlarm(row: DeviceAlarmRow, replaceBefore: number): Promise<boolean>;
  /** Marks a recorded alarm cleared (the first clearing counts). */
  clearAlarm(tenantId: string, deviceId: string, generation: number, alarmId: string, now: number): Promise<void>;
}

export class SqlMedicalDeviceRepository implements MedicalDeviceRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: MedicalDeviceRow): Promise<void> {
    await this.sql.db.insertInto('medical_devices').values(row).execute();
  }

  async reRegister(row: MedicalDeviceRow): Promise<boolean> {
    const { tenant_id, id, ...rest } = row;
    const r = await this.sql.db
      .updateTable('medical_devices')
      .set(rest)
      .where('tenant_id', '=', tenant_id)
      .where('id', '=', id)
      .where('removed_at', 'is not', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  get(tenantId: string, id: string) {
    return this.sql.db
      .selectFrom('medical_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  findActiveByCert(certSha256: string) {
    return this.sql.db
      .selectFrom('medical_devices')
      .selectAll()
      .where('cert_sha256', '=', certSha256)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
  }

  listActive(tenantId: string, o: { after?: string; limit: number }) {
    let q = this.sql.db
      .selectFrom('medical_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('removed_at', 'is', null);
    if (o.after !== undefined) q = q.where('id', '>', o.after);
    return q.orderBy('id').limit(o.limit).execute();
  }

  async update(
    tenantId: string,
    id: string,
    patch: Pick<MedicalDeviceRow, 'location' | 'patient_id' | 'target' | 'updated_at'>,
  ): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('medical_devices')
      .set(patch)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async remove(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('medical_devices')
      .set({ removed_at: now, updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setStatus(tenantId: string, id: string, status: string, offlineAlertId: string | null, now: number) {
    await this.sql.db
      .updateTable('medical_devices')
      .set({ status, offline_alert_id: offlineAlertId, last_seen_at: now, updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  getAlarm(tenantId: string, deviceId: string, generation: number, alarmId: string) {
    return this.sql.db
      .selectFrom('device_alarms')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('generation', '=', generation)
      .where('alarm_id', '=', alarmId)
      .executeTakeFirst();
  }

  async insertAlarm(row: DeviceAlarmRow, replaceBefore: number): Promise<boolean> {
    const r = await this.sql.db
      .insertInto('device_alarms')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'device_id', 'generation', 'alarm_id'])
          .doUpdateSet({ alert_id: row.alert_id, received_at: row.received_at, cleared_at: row.cleared_at })
          .where('device_alarms.received_at', '<', replaceBefore),
      )
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async clearAlarm(
    tenantId: string,
    deviceId: string,
    generation: number,
    alarmId: string,
    now: number,
  ): Promise<void> {
    await this.sql.db
      .updateTable('device_alarms')
      .set({ cleared_at: now })
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('generation', '=', generation)
      .where('alarm_id', '=', alarmId)
      .where('cleared_at', 'is', null)
      .execute();
  }
}
