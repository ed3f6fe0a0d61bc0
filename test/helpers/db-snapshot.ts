import Sqlite from 'better-sqlite3';
import { join } from 'node:path';

const TABLES = [
  'patients',
  'contact_points',
  'data_keys',
  'notifications',
  'deliveries',
  'appointments',
  'idempotency_keys',
  'audit_entries',
  'access_links',
];

/** Row counts of every data table, read through a second (read-only) connection to the live file. */
export function rowCounts(dataDir: string): Record<string, number> {
  const db = new Sqlite(join(dataDir, 'sealpost.db'), { readonly: true });
  try {
    return Object.fromEntries(
      TABLES.map((t) => [t, (db.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n]),
    );
  } finally {
    db.close();
  }
}

export function query<T = any>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Sqlite(join(dataDir, 'sealpost.db'), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
