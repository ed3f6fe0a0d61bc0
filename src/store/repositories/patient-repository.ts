import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { selectIn, stmt } from '../sql.js';
import type { ContactPointRow } from './contact-point-repository.js';
import type { IdempotencyRow } from './idempotency-repository.js';
import type { NotificationRow } from './notification-repository.js';

export type PatientRow = Selectable<Database['patients']>;

/** A patient with what sending to them needs: language, zone and the wrapped data key. */
export interface PatientWithKey {
  id: string;
  language: string;
  time_zone: string;
  key_id: string;
  wrapped: Uint8Array;
  /** The survivor's id when a merge retired this patient (migration 011), else null. */
  merged_into: string | null;
}

/** Patients (names and birth dates are ciphertext under the patient's data key). */
export interface PatientRepository {
  get(tenantId: string, id: string): Promise<PatientRow | undefined>;
  insert(row: Insertable<Database['patients']>): Promise<void>;
  update(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<void>;
  /**
   * Updates the patient only if no merge has retired it (`merged_into` is null, as seen by the
   * statement itself, after any concurrent merge committed); true if it did. Merges use it on both
   * rows, so two merges of the same patients cannot both commit (no A→B and B→A cycle).
   */
  updateUnlessMerged(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<boolean>;
  /**
   * The tenant's patients among `ids` that have a data key, with that key, in one query (the hot
   * path of every send). Unknown ids are left out; order is unspecified.
   */
  getWithKeys(tenantId: string, ids: readonly string[]): Promise<PatientWithKey[]>;
  /**
   * What creating a notification reads, in one query: the patient with its data key (undefined for
   * an unknown patient or one without a key), its contact points by rank, then id (opted-out ones
   * included), and the tenant's record of `idempotencyKey` when one is given and exists.
   */
  getForSending(tenantId: string, id: string, idempotencyKey?: string | null): Promise<SendingContext>;
  /**
   * The patient's notifications that are neither cancelled nor erased (any delivery state), by
   * creation time then id: what a merge looks through for reminders still to go out.
   */
  listLiveNotifications(tenantId: string, patientId: string): Promise<NotificationRow[]>;
}

export interface SendingContext {
  patient: PatientWithKey | undefined;
  contacts: ContactPointRow[];
  idempotency: IdempotencyRow | undefined;
}

const GET = stmt('select * from patients where tenant_id = ? and id = ?');
// One row at least (the idempotency record must be found even when the patient is gone since).
const FOR_SENDING = stmt(
  'select p.id as p_id, p.language, p.time_zone, p.merged_into, k.key_id, k.wrapped, c.id, c.tenant_id, c.patient_id, c.system, c.value_ct, c.value_bidx, c.rank, c.opted_out_at, ' +
    'i.key as i_key, i.request_hash as i_request_hash, i.status_code as i_status_code, i.response as i_response, i.created_at as i_created_at ' +
    'from (select 1 as one) as x ' +
    'left join patients p on p.tenant_id = ? and p.id = ? ' +
    'left join data_keys k on k.tenant_id = p.tenant_id and k.patient_id = p.id ' +
    'left join contact_points c on c.tenant_id = p.tenant_id and c.patient_id = p.id ' +
    'left join idempotency_keys i on i.tenant_id = ? and i.key = ? ' +
    'order by c.rank, c.id',
);
type Nullable<T> = { [K in keyof T]: T[K] | null };
type ForSendingRow = Nullable<Omit<PatientWithKey, 'id'> & { p_id: string } & ContactPointRow> & {
  i_key: string | null;
  i_request_hash: string;
  i_status_code: number;
  i_response: string;
  i_created_at: number;
};
const LIVE_NOTIFICATIONS = stmt(
  'select * from notifications where tenant_id = ? and patient_id = ? and cancelled_at is null order by created_at, id',
);
const WITH_KEYS =
  'select p.id, p.language, p.time_zone, p.merged_into, k.key_id, k.wrapped from patients p join data_keys k on k.tenant_id = p.tenant_id and k.patient_id = p.id where p.tenant_id = ? and';

export class SqlPatientRepository implements PatientRepository {
  constructor(private readonly sql: Sql) {}

  get(tenantId: string, id: string): Promise<PatientRow | undefined> {
    return this.sql.get<PatientRow>(GET, [tenantId, id]);
  }

  async insert(row: Insertable<Database['patients']>): Promise<void> {
    await this.sql.db.insertInto('patients').values(row).execute();
  }

  async update(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<void> {
    await this.sql.db.updateTable('patients').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  async updateUnlessMerged(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('patients')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('merged_into', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  getWithKeys(tenantId: string, ids: readonly string[]): Promise<PatientWithKey[]> {
    return selectIn<PatientWithKey>(this.sql, WITH_KEYS, 'p.id', ids, [tenantId]);
  }

  async getForSending(tenantId: string, id: string, idempotencyKey: string | null = null): Promise<SendingContext> {
    const rows = await this.sql.all<ForSendingRow>(FOR_SENDING, [tenantId, id, tenantId, idempotencyKey]);
    const first = rows[0];
    const patient =
      first.p_id !== null && first.key_id !== null
        ? {
            id: first.p_id,
            language: first.language!,
            time_zone: first.time_zone!,
            key_id: first.key_id,
            wrapped: first.wrapped!,
            merged_into: first.merged_into,
          }
        : undefined;
    const contacts: ContactPointRow[] = [];
    for (const r of patient ? rows : []) {
      if (r.id === null) continue; // the patient has no contact point (left join)
      contacts.push({
        id: r.id,
        tenant_id: r.tenant_id!,
        patient_id: r.patient_id!,
        system: r.system!,
        value_ct: r.value_ct!,
        value_bidx: r.value_bidx!,
        rank: r.rank!,
        opted_out_at: r.opted_out_at,
      });
    }
    const idempotency =
      first.i_key !== null
        ? {
            tenant_id: tenantId,
            key: first.i_key,
            request_hash: first.i_request_hash,
            status_code: first.i_status_code,
            response: first.i_response,
            created_at: first.i_created_at,
          }
        : undefined;
    return { patient, contacts, idempotency };
  }

  async listLiveNotifications(tenantId: string, patientId: string): Promise<NotificationRow[]> {
    const rows = await this.sql.all<NotificationRow>(LIVE_NOTIFICATIONS, [tenantId, patientId]);
    return rows.filter((n) => n.data_ct.length > 0);
  }
}
