import type { Insertable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

/** Each patient's data key, wrapped by a version of the tenant's key-encryption key (crypto-shredding deletes it). */
export interface DataKeyRepository {
  get(tenantId: string, patientId: string): Promise<{ key_id: string; wrapped: Uint8Array } | undefined>;
  insert(row: Insertable<Database['data_keys']>): Promise<void>;
  /** Data keys of `tenantId` not wrapped by `keyId`, in patient-id order after `afterPatientId` (rotation). */
  listNotUnder(
    tenantId: string,
    keyId: string,
    afterPatientId: string,
    limit: number,
  ): Promise<{ patient_id: string; key_id: string; wrapped: Uint8Array }[]>;
  /** Number of data keys of `tenantId` not wrapped by `keyId` (rotation progress). */
  countNotUnder(tenantId: string, keyId: string): Promise<number>;
  /** Replaces a wrapped key only if it is still wrapped by `fromKeyId` (a concurrent erasure wins); true if replaced. */
  rewrap(
    tenantId: string,
    patientId: string,
    fromKeyId: string,
    toKeyId: string,
    wrapped: Uint8Array,
  ): Promise<boolean>;
  /** Number of data keys (any tenant) wrapped by `keyId`. */
  countUsing(keyId: string): Promise<number>;
}

const GET = stmt('select key_id, wrapped from data_keys where tenant_id = ? and patient_id = ?');

export class SqlDataKeyRepository implements DataKeyRepository {
  constructor(private readonly sql: Sql) {}

  get(tenantId: string, patientId: string) {
    return this.sql.get<{ key_id: string; wrapped: Uint8Array }>(GET, [tenantId, patientId]);
  }

  async insert(row: Insertable<Database['data_keys']>): Promise<void> {
    await this.sql.db.insertInto('data_keys').values(row).execute();
  }

  listNotUnder(tenantId: string, keyId: string, afterPatientId: string, limit: number) {
    return this.sql.db
      .selectFrom('data_keys')
      .select(['patient_id', 'key_id', 'wrapped'])
      .where('tenant_id', '=', tenantId)
      .where('key_id', '!=', keyId)
      .where('patient_id', '>', afterPatientId)
      .orderBy('patient_id')
      .limit(limit)
      .execute();
  }

  async countNotUnder(tenantId: string, keyId: string): Promise<number> {
    const r = await this.sql.db
      .selectFrom('data_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('key_id', '!=', keyId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async rewrap(
    tenantId: string,
    patientId: string,
    fromKeyId: string,
    toKeyId: string,
    wrapped: Uint8Array,
  ): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('data_keys')
      .set({ key_id: toKeyId, wrapped })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('key_id', '=', fromKeyId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async countUsing(keyId: string): Promise<number> {
    const r = await this.sql.db
      .selectFrom('data_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('key_id', '=', keyId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
