import { placeholders, rowParams } from './sql.js';
import {
  IDEMPOTENCY_COLUMNS,
  NOTIFICATION_COLUMNS,
  DELIVERY_COLUMNS,
  OUTBOX_COLUMNS,
  SIGNATURE_COLUMNS,
} from './repositories/columns.js';
import { AUDIT_COLUMNS, type PendingAudit } from './audit-sequencing.js';
import type { PendingInserts } from './repositories/commit-buffer.js';

/** Above this many parameters the rows are written statement by statement instead (PostgreSQL takes 65,535). */
const MAX_PARAMS = 30_000;

interface Part {
  table: string;
  columns: readonly string[];
  rows: readonly Record<string, unknown>[];
  tail?: string;
}

/**
 * PostgreSQL: a shared transaction's handed-over rows and its audit entries (written without an
 * index) as ONE statement: the inserts as data-modifying CTEs, the audit insert last. One round
 * trip instead of one per table. Foreign keys between them (a signature's notification) are checked
 * at the end of the statement, when every part has run. Null when there is nothing to write or the
 * rows are too many for one statement (the caller then writes them one table at a time).
 */
export function commitStatement(
  inserts: readonly PendingInserts[],
  audit: readonly PendingAudit[],
): { text: string; params: unknown[] } | null {
  const all = <T>(pick: (p: PendingInserts) => T[]) => inserts.flatMap(pick) as unknown as Record<string, unknown>[];
  const parts: Part[] = [
    { table: 'notifications', columns: NOTIFICATION_COLUMNS, rows: all((p) => p.n) },
    { table: 'notification_signatures', columns: SIGNATURE_COLUMNS, rows: all((p) => p.s) },
    { table: 'deliveries', columns: DELIVERY_COLUMNS, rows: all((p) => p.d) },
    { table: 'idempotency_keys', columns: IDEMPOTENCY_COLUMNS, rows: all((p) => p.i) },
    {
      table: 'dev_outbox',
      columns: OUTBOX_COLUMNS,
      rows: all((p) => p.o),
      tail: 'on conflict (delivery_id) do nothing',
    },
    { table: 'audit_entries', columns: AUDIT_COLUMNS, rows: audit as unknown as Record<string, unknown>[] },
  ].filter((p) => p.rows.length);
  if (!parts.length) return null;
  if (parts.reduce((n, p) => n + p.rows.length * p.columns.length, 0) > MAX_PARAMS) return null;
  let n = 0;
  const numbered = (text: string) => text.replace(/\?/g, () => `$${++n}`);
  const insert = (p: Part) => {
    const row = placeholders(p.columns.length);
    return numbered(
      `insert into ${p.table} (${p.columns.join(', ')}) values ${p.rows.map(() => row).join(', ')}${p.tail ? ` ${p.tail}` : ''}`,
    );
  };
  const ctes = parts.slice(0, -1).map((p, i) => `w${i} as (${insert(p)})`);
  const text = `${ctes.length ? `with ${ctes.join(', ')} ` : ''}${insert(parts[parts.length - 1])}`;
  return { text, params: parts.flatMap((p) => rowParams(p.columns, p.rows)) };
}
