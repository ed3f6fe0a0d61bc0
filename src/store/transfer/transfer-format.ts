import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { AppError } from '../../core/errors.js';
import type { Backend } from './transfer-db.js';

/**
 * The export file: JSON lines, backend-neutral.
 *
 *   line 1      header  {"format":"sealpost-export","version":1,"source":…,"migrations":[…],"tables":[…]}
 *   lines 2..n  rows    {"table":"patients","row":[…values in the header's column order…]}
 *   last line   trailer {"end":"sealpost-export","rows":<total>,"sha256":"<hex>"}
 *
 * Rows come table by table in dependency order. Binary columns are base64 strings. The trailer's
 * SHA-256 covers every byte before it (header and row lines with their newlines), so a truncated or
 * altered file is refused before anything is written.
 */
export const FORMAT = 'sealpost-export';
export const VERSION = 1;

export interface HeaderTable {
  name: string;
  columns: string[];
  binary: string[];
  rows: number;
}

export interface Header {
  format: typeof FORMAT;
  version: typeof VERSION;
  source: Backend;
  createdAt: string;
  migrations: string[];
  tables: HeaderTable[];
}

export interface Trailer {
  end: typeof FORMAT;
  rows: number;
  sha256: string;
}

export interface RowLine {
  table: string;
  row: unknown[];
}

/** A value as it goes into the file: bytes as base64, dates as ISO strings, the rest as JSON has it. */
export function encodeValue(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/** A value as the target driver takes it; SQLite binds neither booleans nor objects. */
export function decodeValue(v: unknown, binary: boolean, target: Backend): unknown {
  if (v === null) return null;
  if (binary) return Buffer.from(v as string, 'base64');
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'boolean' && target === 'sqlite') return v ? 1 : 0;
  return v;
}

const MAX_LINE = 64 * 1024 * 1024;
const corrupt = (detail: string) => new AppError('SP_TRANSFER_FILE_CORRUPT', detail);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads the file line by line, hashing the raw bytes of every line before the trailer. Yields the
 * header first, then each row line; checks the trailer (hash, total) and the per-table counts at the
 * end, and yields the trailer last, once all of that holds. Throws SP_TRANSFER_FORMAT_UNKNOWN for a file that is not an export of a known version and
 * SP_TRANSFER_FILE_CORRUPT for a malformed, truncated or altered one.
 */
export async function* readExport(
  path: string,
): AsyncGenerator<{ header: Header } | { row: RowLine; info: HeaderTable } | { trailer: Trailer }> {
  const hash = createHash('sha256');
  let header: Header | null = null;
  let trailer: Trailer | null = null;
  let lineNo = 0;
  const counts = new Map<string, number>();
  let byName = new Map<string, HeaderTable>();
  let pending: Buffer = Buffer.alloc(0);

  const stream = createReadStream(path);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let start = 0;
      for (let nl = pending.indexOf(10, start); nl !== -1; nl = pending.indexOf(10, start)) {
        const raw = pending.subarray(start, nl + 1);
        start = nl + 1;
        lineNo++;
        if (trailer) throw corrupt(`data after the trailer (line ${lineNo})`);
        const value = parseLine(raw, lineNo, header === null);
        if (header === null) {
          header = checkHeader(value);
          byName = new Map(header.tables.map((t) => [t.name, t]));
          hash.update(raw);
          yield { header };
        } else if ((value as Partial<Trailer> | null)?.end === FORMAT) {
          trailer = value as Trailer;
        } else {
          const row = value as RowLine;
          const info = byName.get(row?.table);
          if (!info || !Array.isArray(row.row) || row.row.length !== info.columns.length)
            throw corrupt(`line ${lineNo} is not a row of a table in the header`);
          counts.set(info.name, (counts.get(info.name) ?? 0) + 1);
          hash.update(raw);
          yield { row, info };
        }
      }
      pending = pending.subarray(start);
      // No row comes near this; a file without newlines is not an export and must not fill memory.
      if (pending.length > MAX_LINE)
        throw header
          ? corrupt(`line ${lineNo + 1} is too long`)
          : new AppError('SP_TRANSFER_FORMAT_UNKNOWN', 'the first line is not a Sealpost export header');
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError('SP_TRANSFER_FILE_UNREADABLE', 'the export file cannot be read', { cause: e });
  } finally {
    stream.destroy();
  }
  if (!header)
    throw new AppError(
      'SP_TRANSFER_FORMAT_UNKNOWN',
      pending.length ? 'the first line is not a Sealpost export header' : 'the file is empty',
    );
  if (pending.length) throw corrupt('the last line is incomplete (truncated file)');
  if (!trailer) throw corrupt('no trailer line (truncated file)');
  if (trailer.sha256 !== hash.digest('hex')) throw corrupt('SHA-256 of the contents does not match the trailer');
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (trailer.rows !== total) throw corrupt('the row total does not match the trailer');
  for (const t of header.tables)
    if ((counts.get(t.name) ?? 0) !== t.rows) throw corrupt(`row count of table ${t.name} does not match the header`);
  yield { trailer };
}

function parseLine(raw: Buffer, lineNo: number, isHeader: boolean): unknown {
  try {
    return JSON.parse(utf8.decode(raw));
  } catch {
    if (isHeader) throw new AppError('SP_TRANSFER_FORMAT_UNKNOWN', 'the first line is not a Sealpost export header');
    throw corrupt(`line ${lineNo} is not valid JSON`);
  }
}

function checkHeader(v: unknown): Header {
  const h = v as Partial<Header>;
  if (h?.format !== FORMAT) throw new AppError('SP_TRANSFER_FORMAT_UNKNOWN', `the file is not a ${FORMAT} file`);
  if (h.version !== VERSION)
    throw new AppError(
      'SP_TRANSFER_FORMAT_UNKNOWN',
      `format version ${String(h.version)} is not supported (this program reads version ${VERSION})`,
    );
  const tablesOk =
    Array.isArray(h.tables) &&
    h.tables.every(
      (t) =>
        typeof t?.name === 'string' && Array.isArray(t.columns) && Array.isArray(t.binary) && Number.isInteger(t.rows),
    );
  if (!Array.isArray(h.migrations) || !tablesOk || (h.source !== 'sqlite' && h.source !== 'postgres'))
    throw corrupt('the header is incomplete');
  return h as Header;
}
