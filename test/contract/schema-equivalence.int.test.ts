import { describe, expect, it } from 'vitest';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { BACKENDS, describeEachBackend, freshDatabases, migratedStore, type BackendName } from '../helpers/backends.js';
import { postgresTypeOf, readSchema, refusesNull, type Column } from './schema-reader.js';

/**
 * Spot checks of migrations 001–003 and 009, one row per deliberate choice:
 * [table, column, SQLite type, PostgreSQL type, NOT NULL].
 */
const MAPPING: [string, string, string, string, boolean][] = [
  ['tenants', 'created_at', 'bigint', 'bigint', true], // times: epoch milliseconds
  ['deliveries', 'run_at', 'bigint', 'bigint', true],
  ['deliveries', 'lease_until', 'bigint', 'bigint', false],
  ['deliveries', 'attempts', 'integer', 'integer', true],
  ['deliveries', 'link_ct', 'blob', 'bytea', false], // ciphertext: binary
  ['notifications', 'data_ct', 'blob', 'bytea', true],
  ['patients', 'name_ct', 'blob', 'bytea', true],
  ['idempotency_keys', 'response', 'text', 'text', true], // JSON: text
  ['audit_entries', 'seq', 'integer', 'bigint', true], // the key (009): rowid on SQLite, identity on PostgreSQL
  ['audit_entries', 'idx', 'bigint', 'bigint', false], // NULL until numbered (009)
  ['audit_entries', 'xid', 'bigint', 'xid8', false], // the writing transaction, PostgreSQL only (009)
  ['audit_entries', 'entry', 'text', 'text', true], // canonical JSON bytes, kept exactly
  ['audit_entries', 'leaf_hash', 'blob', 'bytea', true],
  ['audit_entries', 'patient_ref', 'text', 'text', false],
  ['audit_nodes', 'hash', 'blob', 'bytea', true],
  ['audit_log_state', 'value', 'bigint', 'bigint', true],
  ['audit_checkpoints', 'root', 'blob', 'bytea', true],
  ['dev_outbox', 'id', 'integer', 'bigint', true],
  ['leases', 'until', 'bigint', 'bigint', true],
  ['settings', 'value', 'text', 'text', true],
];

/** Native time, date, JSON and decimal types: none may appear (times are epoch ms, JSON is text). */
const FORBIDDEN = /^(json|jsonb|timestamp|date|time|datetime|interval|numeric|decimal|real|double|float)/;

const key = (c: Column) => `${c.table}.${c.column}`;

describeEachBackend('migrations', (backend) => {
  const fresh = freshDatabases(backend);

  it('apply every migration once, and a second run applies nothing and changes nothing', async () => {
    const db = await fresh();
    const store = db.open();
    const names = Object.keys(await migrationProvider.getMigrations()).sort();
    expect(await store.migrate()).toEqual(names);
    const schema = await readSchema(db);
    const rows = await db.rowCounts();
    expect(await store.migrate()).toEqual([]);
    expect(await readSchema(db)).toEqual(schema);
    expect(await db.rowCounts()).toEqual(rows);
  });

  it('use the deliberate column types of migrations 001–003 and 009', async () => {
    const db = await fresh({ migrated: true });
    await migratedStore(db);
    const cols = new Map((await readSchema(db)).columns.map((c) => [key(c), c]));
    const actual = MAPPING.map(([t, c]) => {
      const col = cols.get(`${t}.${c}`);
      return [t, c, col?.type ?? 'missing', refusesNull(col!)];
    });
    expect(actual).toEqual(MAPPING.map(([t, c, s, p, nn]) => [t, c, backend === 'sqlite' ? s : p, nn]));
  });

  it('store times as epoch-millisecond integers and JSON as text, never in native time or JSON types', async () => {
    const db = await fresh({ migrated: true });
    await migratedStore(db);
    const { columns } = await readSchema(db);
    expect(columns.filter((c) => FORBIDDEN.test(c.type)).map(key)).toEqual([]);
    const times = columns.filter((c) => /(^|_)(at|until)$/.test(c.column));
    expect(times.length).toBeGreaterThan(20);
    expect(times.filter((c) => c.type !== 'bigint').map((c) => `${key(c)}: ${c.type}`)).toEqual([]);
  });
});

const both = (['sqlite', 'postgres'] as BackendName[]).every((b) => BACKENDS.includes(b));

describe.skipIf(!both)(
  'schemas of the two backends (needs SEALPOST_TEST_BACKENDS to include sqlite and postgres)',
  () => {
    const sqlite = freshDatabases('sqlite');
    const postgres = freshDatabases('postgres');

    it('have the same tables, columns, nullability, keys and indexes, with only the deliberate type mapping', async () => {
      const [s, p] = await Promise.all([sqlite({ migrated: true }), postgres({ migrated: true })]);
      await Promise.all([migratedStore(s), migratedStore(p)]);
      const [ss, ps] = await Promise.all([readSchema(s), readSchema(p)]);

      expect(await p.tables()).toEqual(await s.tables());
      // Each column as the other backend should see it; a drifted type, nullability or key shows up by name.
      const expected = ss.columns
        .map((c) => `${key(c)} ${postgresTypeOf(c)}${refusesNull(c) ? ' not null' : ''}${c.pk ? ' pk' : ''}`)
        .sort();
      const actual = ps.columns
        .map((c) => `${key(c)} ${c.type}${refusesNull(c) ? ' not null' : ''}${c.pk ? ' pk' : ''}`)
        .sort();
      expect(actual).toEqual(expected);
      expect(ps.uniques).toEqual(ss.uniques);
      expect(ps.indexes).toEqual(ss.indexes);
      expect(ss.columns.length).toBeGreaterThan(100);
    });
  },
);
