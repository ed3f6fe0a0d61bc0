import { sql } from 'kysely';
import type { Sql } from '../sql.js';
import { indexForm } from '../index-form.js';

/** The tables holding keyed blind indexes of sealed contact values and patient identifiers. */
export type IndexedTable = 'contact_points' | 'patient_accounts' | 'patient_identifiers';

/** One sealed contact value and its blind index, whatever table holds it. */
export interface IndexedValue {
  id: string;
  tenant_id: string;
  patient_id: string;
  system: string;
  ct: Uint8Array;
  bidx: string;
}

/**
 * The columns of each table (its names differ, the re-indexing does not). `live`: the rows that
 * rotate; an erased patient's identifier tombstones keep a reference-key index and no value.
 */
const COLUMNS: Record<IndexedTable, { system: string; ct: string; bidx: string; live?: string }> = {
  contact_points: { system: 'system', ct: 'value_ct', bidx: 'value_bidx' },
  patient_accounts: { system: 'contact_system', ct: 'contact_ct', bidx: 'contact_bidx' },
  patient_identifiers: { system: 'system', ct: 'value_ct', bidx: 'lookup_bidx', live: 'erased_at is null' },
};
const live = (table: IndexedTable) => sql.raw(COLUMNS[table].live ? ` and ${COLUMNS[table].live}` : '');

/**
 * Blind-index re-indexing after a key rotation, the same for every table that holds blind indexes.
 * A version-1 index is bare hex; version n is `v<n>:<hex>` (hex never starts with "v").
 */
export interface BlindIndexRepository {
  /** Values whose index is not in the stored form of `version`, in id order after `afterId`. */
  listNotAt(table: IndexedTable, version: number, afterId: string, limit: number): Promise<IndexedValue[]>;
  /** Number of values whose index is in the form of `version` (or, with `not`, any other). */
  count(table: IndexedTable, version: number, not?: boolean): Promise<number>;
  /** Replaces a value's index only if it is still `from`; true if replaced. */
  set(table: IndexedTable, id: string, from: string, to: string): Promise<boolean>;
}

export class SqlBlindIndexRepository implements BlindIndexRepository {
  constructor(private readonly sql: Sql) {}

  async listNotAt(table: IndexedTable, version: number, afterId: string, limit: number): Promise<IndexedValue[]> {
    const c = COLUMNS[table];
    const [op, pattern] = indexForm(version, false);
    const r =
      await sql<IndexedValue>`select id, tenant_id, patient_id, ${sql.ref(c.system)} as system, ${sql.ref(c.ct)} as ct, ${sql.ref(c.bidx)} as bidx
      from ${sql.table(table)} where ${sql.ref(c.bidx)} ${sql.raw(op)} ${pattern}${live(table)} and id > ${afterId} order by id limit ${limit}`.execute(
        this.sql.db,
      );
    return r.rows;
  }

  async count(table: IndexedTable, version: number, not = false): Promise<number> {
    const [op, pattern] = indexForm(version, !not);
    const r = await sql<{
      n: number | string;
    }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(COLUMNS[table].bidx)} ${sql.raw(op)} ${pattern}${live(table)}`.execute(
      this.sql.db,
    );
    return Number(r.rows[0].n);
  }

  async set(table: IndexedTable, id: string, from: string, to: string): Promise<boolean> {
    const b = sql.ref(COLUMNS[table].bidx);
    const r =
      await sql`update ${sql.table(table)} set ${b} = ${to} where id = ${id} and ${b} = ${from}${live(table)}`.execute(
        this.sql.db,
      );
    return Number(r.numAffectedRows ?? 0n) === 1;
  }
}
