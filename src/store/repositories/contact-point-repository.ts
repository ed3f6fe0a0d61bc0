import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { selectIn, stmt } from '../sql.js';

export type ContactPointRow = Selectable<Database['contact_points']>;

/** Patients' contact points: value sealed, found by a keyed blind index (`value_bidx`). */
export interface ContactPointRepository {
  /** The patient's contact points by rank, then id (the order of fail-over). */
  list(tenantId: string, patientId: string): Promise<ContactPointRow[]>;
  /** Contact points by id, any order; unknown ids are left out. */
  getMany(ids: readonly string[]): Promise<ContactPointRow[]>;
  get(id: string): Promise<ContactPointRow | undefined>;
  insert(row: Insertable<Database['contact_points']>): Promise<void>;
  update(id: string, set: Updateable<Database['contact_points']>): Promise<void>;
  /** Sets or clears the opt-out of every contact point of `system` whose blind index matches; returns them. */
  setOptOutByIndex(
    tenantId: string,
    system: string,
    bidx: string,
    optedOutAt: number | null,
  ): Promise<ContactPointRow[]>;
  delete(ids: readonly string[]): Promise<void>;
}

const LIST = stmt('select * from contact_points where tenant_id = ? and patient_id = ? order by rank, id');
const GET = stmt('select * from contact_points where id = ?');

export class SqlContactPointRepository implements ContactPointRepository {
  constructor(private readonly sql: Sql) {}

  list(tenantId: string, patientId: string): Promise<ContactPointRow[]> {
    return this.sql.all<ContactPointRow>(LIST, [tenantId, patientId]);
  }

  getMany(ids: readonly string[]): Promise<ContactPointRow[]> {
    return selectIn<ContactPointRow>(this.sql, 'select * from contact_points where', 'id', ids);
  }

  get(id: string): Promise<ContactPointRow | undefined> {
    return this.sql.get<ContactPointRow>(GET, [id]);
  }

  async insert(row: Insertable<Database['contact_points']>): Promise<void> {
    await this.sql.db.insertInto('contact_points').values(row).execute();
  }

  async update(id: string, set: Updateable<Database['contact_points']>): Promise<void> {
    await this.sql.db.updateTable('contact_points').set(set).where('id', '=', id).execute();
  }

  setOptOutByIndex(
    tenantId: string,
    system: string,
    bidx: string,
    optedOutAt: number | null,
  ): Promise<ContactPointRow[]> {
    return this.sql.db
      .updateTable('contact_points')
      .set({ opted_out_at: optedOutAt })
      .where('tenant_id', '=', tenantId)
      .where('system', '=', system)
      .where('value_bidx', '=', bidx)
      .returningAll()
      .execute();
  }

  async delete(ids: readonly string[]): Promise<void> {
    if (ids.length) await this.sql.db.deleteFrom('contact_points').where('id', 'in', ids).execute();
  }
}
