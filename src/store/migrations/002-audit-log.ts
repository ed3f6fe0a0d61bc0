import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * The Merkle log over `audit_entries` (RFC 9162): perfect subtree hashes above the leaves, the
 * integrator's progress, and signed checkpoints. Leaves themselves are `audit_entries.leaf_hash`
 * (RFC 9162 leaf index = idx - 1).
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Hash of the perfect subtree at `level` (>= 1) covering leaves [idx * 2^level, (idx + 1) * 2^level).
  await db.schema
    .createTable('audit_nodes')
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('idx', 'bigint', (c) => c.notNull())
    .addColumn('hash', blob(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_nodes_pk', ['level', 'idx'])
    .execute();

  // name = 'integrated_size': number of leaves whose subtree hashes are in audit_nodes.
  await db.schema
    .createTable('audit_log_state')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();

  // One row per signed checkpoint (C2SP tlog-checkpoint as a C2SP signed note).
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('size', 'bigint', (c) => c.primaryKey())
    .addColumn('root', blob(db), (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}
