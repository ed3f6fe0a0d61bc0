import { Migrator, sql, type Kysely } from 'kysely';
import type { Config } from '../../config/config.js';
import { AppError } from '../../core/errors.js';
import { migrationProvider } from '../migrations/index.js';
import { sequencePending } from '../audit-sequencing.js';
import { openStore } from '../open-store.js';
import { knownMigrations, type TransferSummary } from './export-database.js';
import {
  appliedMigrations,
  describeTables,
  openTransferDb,
  storeError,
  type TableInfo,
  type TransferDb,
} from './transfer-db.js';
import { decodeValue, encodeValue, readExport, type Header, type HeaderTable } from './transfer-format.js';

export interface ImportOptions {
  /** The target database (SEALPOST_DATABASE_URL and its settings). */
  database: Config['database'];
  in: string;
  /** Called once per table, in file order, with the rows inserted (progress). */
  onTable?: (table: string, rows: number) => void;
}

// Bound parameters per statement stay under SQLite's 32766 and PostgreSQL's 65535.
const MAX_PARAMS = 30_000;

/**
 * Loads an export into an empty target. Order matters for "changes nothing on bad input":
 * 1. the whole file is read once and checked (format, hash, counts) before the target is touched;
 * 2. the file's migrations must be this program's; the target is migrated and must then match too;
 * 3. one transaction: the target must hold no data row (only what the migrations themselves seed),
 *    every row is inserted, the file is checked again while streaming, and sequences are moved past
 *    the imported ids. Any failure rolls the whole import back.
 */
export async function importDatabase(opts: ImportOptions): Promise<TransferSummary> {
  let header: Header | null = null;
  for await (const item of readExport(opts.in)) if ('header' in item) header = item.header;
  const file = header!;
  const known = await knownMigrations();
  if (file.migrations.join() !== known.join()) {
    throw new AppError(
      'SP_TRANSFER_MIGRATIONS_MISMATCH',
      `the file has ${file.migrations.length} migrations, this version has ${known.length}: export and import with the same version`,
    );
  }

  const t = openTransferDb(opts.database.url, { mustExist: false });
  try {
    // A target already migrated by a newer version is refused before the migrator sees it.
    const before = await appliedMigrations(t).catch((e: unknown) => storeError(e, 'reading the target database'));
    if (before.some((m) => !known.includes(m)))
      throw new AppError(
        'SP_TRANSFER_MIGRATIONS_MISMATCH',
        'the target database has migrations this version does not know',
      );
    const store = openStore(opts.database, { sqliteDurability: 'full' });
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
    const applied = await appliedMigrations(t).catch((e: unknown) => storeError(e, 'reading the target database'));
    if (applied.join() !== file.migrations.join())
      throw new AppError('SP_TRANSFER_MIGRATIONS_MISMATCH', 'the target database has other migrations than the file');
    const seeds = await seedRows();
    return await t.db
      .transaction()
      .execute((trx) => load(t, trx, file, seeds, opts))
      .catch((e: unknown) => storeError(e, 'writing the target database'));
  } finally {
    await t.close();
  }
}

async function load(
  t: TransferDb,
  trx: Kysely<any>,
  file: Header,
  seeds: Map<string, Set<string>>,
  opts: ImportOptions,
): Promise<TransferSummary> {
  const target = new Map((await describeTables(t, trx)).map((x) => [x.name, x]));
  const same = (a: string[], b: string[]) => [...a].sort().join() === [...b].sort().join();
  if (
    !same(
      [...target.keys()],
      file.tables.map((x) => x.name),
    ) ||
    file.tables.some((x) => !same(x.columns, target.get(x.name)!.columns))
  ) {
    throw new AppError('SP_TRANSFER_MIGRATIONS_MISMATCH', 'the tables or columns of the target differ from the file');
  }
  await refuseNonEmpty(trx, [...target.values()], seeds);
  if (t.backend === 'sqlite') await sql`pragma defer_foreign_keys = on`.execute(trx);

  let batch: unknown[][] = [];
  let current: HeaderTable | null = null;
  let reported = 0;
  let tableRows = 0;
  let total = 0;
  let sha256 = '';
  const flush = async () => {
    if (current && batch.length) await insertRows(t, trx, current, target.get(current.name)!, batch);
    total += batch.length;
    batch = [];
  };
  const position = (name: string) => file.tables.findIndex((x) => x.name === name);
  // Reports every table of the header before position `upTo` (tables without rows report 0).
  const report = (upTo: number) => {
    for (; reported < upTo; reported++)
      opts.onTable?.(file.tables[reported]!.name, file.tables[reported]!.name === current?.name ? tableRows : 0);
  };
  for await (const item of readExport(opts.in)) {
    if ('header' in item) {
      // The file changed between the check and now: refuse rather than load something unchecked.
      if (JSON.stringify(item.header) !== JSON.stringify(file))
        throw new AppError('SP_TRANSFER_FILE_CORRUPT', 'the file changed while importing');
    } else if ('trailer' in item) {
      sha256 = item.trailer.sha256;
    } else {
      if (item.info.name !== current?.name) {
        await flush();
        if (current) report(position(current.name) + 1);
        report(position(item.info.name));
        current = item.info;
        tableRows = 0;
      }
      batch.push(item.row.row);
      tableRows++;
      if (batch.length >= Math.max(1, Math.min(500, Math.floor(MAX_PARAMS / current.columns.length)))) await flush();
    }
  }
  await flush();
  if (current) report(position(current.name) + 1);
  report(file.tables.length);
  if (t.backend === 'postgres') {
    await advanceSequences(trx, [...target.values()]);
    await adoptTransactionIds(trx, [...target.values()]);
  }
  // SQLite writers number their audit entries as they write them: entries exported before the
  // source's integrator numbered them get their numbers now, ahead of anything written later.
  if (t.backend === 'sqlite' && target.has('audit_entries')) {
    const pending = await sql`select 1 from audit_entries where idx is null limit 1`.execute(trx);
    if (pending.rows.length) await sequencePending(trx, Number.MAX_SAFE_INTEGER);
  }
  return { tables: file.tables.length, rows: total, sha256 };
}

async function insertRows(
  t: TransferDb,
  trx: Kysely<any>,
  info: HeaderTable,
  target: TableInfo,
  rows: unknown[][],
): Promise<void> {
  const binary = info.columns.map((c) => target.binary.includes(c));
  const values = rows.map((r) => sql`(${sql.join(r.map((v, i) => decodeValue(v, binary[i]!, t.backend)))})`);
  // Identity columns are GENERATED ALWAYS on PostgreSQL: the imported ids must be kept as they are.
  const overriding = target.identity.length && t.backend === 'postgres' ? sql`overriding system value` : sql``;
  await sql`insert into ${sql.table(info.name)} (${sql.join(info.columns.map((c) => sql.ref(c)))}) ${overriding} values ${sql.join(values)}`.execute(
    trx,
  );
}

/** New rows continue after the imported ids (setval; the sequence is untouched by explicit inserts). */
async function advanceSequences(trx: Kysely<any>, tables: TableInfo[]): Promise<void> {
  for (const info of tables) {
    for (const col of info.identity) {
      await sql`select setval(pg_get_serial_sequence(quote_ident(${info.name}), ${col}), coalesce(max(${sql.ref(col)}), 1), max(${sql.ref(col)}) is not null) from ${sql.table(info.name)}`.execute(
        trx,
      );
    }
  }
}

/**
 * A transaction id from the file names a transaction of the source cluster; here it would name an
 * unrelated one, or one not yet started (then an audit entry would wait for the horizon for a long
 * time). The rows carrying one (audit entries not yet numbered when exported) were all committed by
 * this import, so their ids are moved just below this transaction's own: they order before anything
 * written after the import, in their original order among themselves (see audit-sequencing.ts).
 */
async function adoptTransactionIds(trx: Kysely<any>, tables: TableInfo[]): Promise<void> {
  for (const info of tables) {
    for (const col of info.transactionIds) {
      const c = sql.ref(col);
      await sql`
        update ${sql.table(info.name)} set ${c} = greatest((pg_current_xact_id()::text)::numeric - r.d, 0)::text::xid8
        from (select ${c} as old, dense_rank() over (order by ${c} desc) - 1 as d from ${sql.table(info.name)} where ${c} is not null group by ${c}) as r
        where ${sql.table(info.name)}.${c} = r.old`.execute(trx);
    }
  }
}

/**
 * Any row the migrations did not put there makes the target non-empty. Seeded rows (such as the
 * audit counter at 0) are removed so the file's own values take their place.
 */
async function refuseNonEmpty(trx: Kysely<any>, tables: TableInfo[], seeds: Map<string, Set<string>>): Promise<void> {
  const seeded: string[] = [];
  for (const info of tables) {
    const n = Number(
      (await sql<{ n: number | string }>`select count(*) as n from ${sql.table(info.name)}`.execute(trx)).rows[0]?.n ??
        0,
    );
    if (n === 0) continue;
    const allowed = seeds.get(info.name) ?? new Set<string>();
    const rows =
      n <= allowed.size
        ? (await sql<Record<string, unknown>>`select * from ${sql.table(info.name)}`.execute(trx)).rows
        : null;
    if (!rows || rows.some((r) => !allowed.has(canonical(r)))) {
      throw new AppError(
        'SP_TRANSFER_TARGET_NOT_EMPTY',
        `table ${info.name} already holds data: import only into a new, empty database`,
      );
    }
    seeded.push(info.name);
  }
  for (const name of seeded) await sql`delete from ${sql.table(name)}`.execute(trx);
}

const canonical = (row: Record<string, unknown>) =>
  JSON.stringify(
    Object.keys(row)
      .sort()
      .map((k) => [k, encodeValue(row[k])]),
  );

/** The rows a fresh migration run inserts, found by running the migrations on an in-memory database. */
async function seedRows(): Promise<Map<string, Set<string>>> {
  const mem = openTransferDb('sqlite::memory:', { mustExist: false });
  try {
    const { error } = await new Migrator({ db: mem.db, provider: migrationProvider }).migrateToLatest();
    if (error) throw error;
    const out = new Map<string, Set<string>>();
    for (const info of await describeTables(mem)) {
      const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(info.name)}`.execute(mem.db)).rows;
      if (rows.length) out.set(info.name, new Set(rows.map(canonical)));
    }
    return out;
  } finally {
    await mem.close();
  }
}
