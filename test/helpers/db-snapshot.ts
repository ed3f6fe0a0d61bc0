import Sqlite from 'better-sqlite3';
import { createHash } from 'node:crypto';
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

/** A digest of every row of every table (read-only connection): equal snapshots mean nothing was written. */
export function tableSnapshot(dataDir: string): Record<string, string> {
  const db = new Sqlite(join(dataDir, 'sealpost.db'), { readonly: true });
  try {
    const tables = db
      .prepare(`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`)
      .all() as { name: string }[];
    return Object.fromEntries(
      tables.map(({ name }) => {
        const rows = db.prepare(`select * from "${name}"`).all();
        const digest = createHash('sha256')
          .update(JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v)))
          .digest('hex');
        return [name, `${rows.length}:${digest.slice(0, 16)}`];
      }),
    );
  } finally {
    db.close();
  }
}
