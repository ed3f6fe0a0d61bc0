import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { selectIn, stmt } from '../sql.js';

export type AppointmentRow = Selectable<Database['appointments']>;

/** Appointments by the EHR's external id (details sealed); their reminders are notifications. */
export interface AppointmentRepository {
  get(tenantId: string, externalId: string): Promise<AppointmentRow | undefined>;
  /** The tenant's appointments among `externalIds`, any order; unknown ids are left out. */
  getMany(tenantId: string, externalIds: readonly string[]): Promise<AppointmentRow[]>;
  insert(row: Insertable<Database['appointments']>): Promise<void>;
  update(tenantId: string, externalId: string, set: Updateable<Database['appointments']>): Promise<void>;
  /** The patient's appointments (any status), by external id. */
  listForPatient(tenantId: string, patientId: string): Promise<AppointmentRow[]>;
}

const GET = stmt('select * from appointments where tenant_id = ? and external_id = ?');
const FOR_PATIENT = stmt('select * from appointments where tenant_id = ? and patient_id = ? order by external_id');

export class SqlAppointmentRepository implements AppointmentRepository {
  constructor(private readonly sql: Sql) {}

  get(tenantId: string, externalId: string): Promise<AppointmentRow | undefined> {
    return this.sql.get<AppointmentRow>(GET, [tenantId, externalId]);
  }

  getMany(tenantId: string, externalIds: readonly string[]): Promise<AppointmentRow[]> {
    return selectIn<AppointmentRow>(
      this.sql,
      'select * from appointments where tenant_id = ? and',
      'external_id',
      externalIds,
      [tenantId],
    );
  }

  async insert(row: Insertable<Database['appointments']>): Promise<void> {
    await this.sql.db.insertInto('appointments').values(row).execute();
  }

  async update(tenantId: string, externalId: string, set: Updateable<Database['appointments']>): Promise<void> {
    await this.sql.db
      .updateTable('appointments')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('external_id', '=', externalId)
      .execute();
  }

  listForPatient(tenantId: string, patientId: string): Promise<AppointmentRow[]> {
    return this.sql.all<AppointmentRow>(FOR_PATIENT, [tenantId, patientId]);
  }
}
