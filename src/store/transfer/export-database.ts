import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { AppError } from '../../core/errors.js';
import { migrationProvider } from '../migrations/index.js';
import {
  appliedMigrations,
  describeTables,
  openTransferDb,
  storeError,
  type TableInfo,
  type TransferDb,
} from './transfer-db.js';
import { FORMAT, VERSION, encodeValue, type Header, type Trailer } from './transfer-format.js';

export interface ExportOptions {
  /** SEALPOST_DATABASE_URL of the source. */
  url: string;
  out: string;
  /** Replace an existing file instead of refusing. */
  force?: boolean;
  /** Called after each table with the rows written (progress). */
  onTable?: (table: string, rows: number) => void;
  now?: () => Date;
}

export interface TransferSummary {
  tables: number;
  rows: number;
  sha256: string;
}

const PAGE = 1000;

/** The migrations this program knows, in order: an export and its import must both be at exactly these. */
export async function knownMigrations(): Promise<string[]> {
  return Object.keys(await migrationProvider.getMigrations()).sort();
}

/**
 * Writes every data table of the source database to `out` (format: transfer-format.ts), read in
 * one snapshot so the file is consistent even while a server writes: a read transaction on SQLite
 * (WAL keeps the snapshot), `repeatable read, read only` on PostgreSQL. The file is created 0600 under
 * a temporary name and renamed when complete, so a failed export never leaves a file that looks whole.
 */
export async function exportDatabase(opts: ExportOptions): Promise<TransferSummary> {
  if (existsSync(opts.out) && !opts.force)
    throw new AppError('SP_TRANSFER_OUTPUT_EXISTS', 'pass --force to replace it');
  const t = openTransferDb(opts.url, { mustExist: true });
  const temp = `${opts.out}.partial-${randomBytes(4).toString('hex')}`;
  let fd: number | null = null;
  try {
    fd = openFile(temp);
    const out = fd;
    const known = await knownMigrations();
    const tx =
      t.backend === 'postgres'
        ? t.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only')
        : t.db.transaction();
    const summary = await tx
      .execute((trx) => writeSnapshot(t, trx, out, known, opts))
      .catch((e: unknown) => storeError(e, 'reading the source database'));
    fsyncSync(out);
    closeSync(out);
    fd = null;
    renameSync(temp, opts.out);
    return summary;
  } finally {
    if (fd !== null) closeSync(fd);
    rmSync(temp, { force: true });
    await t.close();
  }
}

function openFile(path: string): number {
  try {
    // Exclusive create, owner-only: the file holds ciphertext and blind indexes (see docs/migrating-to-postgres.md).
    return openSync(path, 'wx', 0o600);
  } catch (e) {
    throw new AppError('SP_TRANSFER_FILE_UNREADABLE', 'the output file cannot be created', { cause: e });
  }
}

async function writeSnapshot(
  t: TransferDb,
  trx: Kysely<any>,
  fd: number,
  known: string[],
  opts: ExportOptions,
): Promise<TransferSummary> {
  const migrations = await appliedMigrations(t, trx);
  if (migrations.join() !== known.join()) {
    throw new AppError(
      'SP_TRANSFER_MIGRATIONS_MISMATCH',
      "the source database is not at this version's migrations (run `sealpost migrate` on it first)",
    );
  }
  const tables = await describeTables(t, trx);
  const counts: number[] = [];
  for (const info of tables) {
    const r = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(info.name)}`.execute(trx);
    counts.push(Number(r.rows[0]?.n ?? 0));
  }
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    source: t.backend,
    createdAt: (opts.now ?? (() => new Date()))().toISOString(),
    migrations,
    tables: tables.map((info, i) => ({
      name: info.name,
      columns: info.columns,
      binary: info.binary,
      rows: counts[i]!,
    })),
  };
  const hash = createHash('sha256');
  const write = (text: string) => {
    const buf = Buffer.from(text, 'utf8');
    hash.update(buf);
    writeSync(fd, buf);
  };
  write(`${JSON.stringify(header)}\n`);
  let total = 0;
  for (const info of tables) {
    let rows = 0;
    for await (const page of pages(trx, info)) {
      write(
        page
          .map((r) => `${JSON.stringify({ table: info.name, row: info.columns.map((c) => encodeValue(r[c])) })}\n`)
          .join(''),
      );
      rows += page.length;
    }
    total += rows;
    opts.onTable?.(info.name, rows);
  }
  const sha256 = hash.digest('hex');
  const trailer: Trailer = { end: FORMAT, rows: total, sha256 };
  writeSync(fd, `${JSON.stringify(trailer)}\n`);
  return { tables: tables.length, rows: total, sha256 };
}

/** Keyset pages in primary-key order (no OFFSET: each page is an index range scan). */
async function* pages(trx: Kysely<any>, info: TableInfo): AsyncGenerator<Record<string, unknown>[]> {
  const cols = sql.join(info.columns.map((c) => sql.ref(c)));
  if (info.primaryKey.length === 0) {
    // No migration creates a table without a primary key; read such a table in one piece.
    yield (await sql<Record<string, unknown>>`select ${cols} from ${sql.table(info.name)}`.execute(trx)).rows;
    return;
  }
  const pk = sql.join(info.primaryKey.map((c) => sql.ref(c)));
  let last: unknown[] | null = null;
  for (;;) {
    const after: RawBuilder<unknown> = last ? sql`where (${pk}) > (${sql.join(last)})` : sql``;
    const { rows } = await sql<
      Record<string, unknown>
    >`select ${cols} from ${sql.table(info.name)} ${after} order by ${pk} limit ${PAGE}`.execute(trx);
    if (rows.length) yield rows;
    if (rows.length < PAGE) return;
    const end: Record<string, unknown> = rows[rows.length - 1]!;
    last = info.primaryKey.map((c): unknown => end[c]);
  }
}
