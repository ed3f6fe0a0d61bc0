import { sql, type Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * End-to-end encrypted conversations (src/messaging): the server is the MLS Delivery Service.
 * - `conversations`: one row per conversation; `epoch` is the MLS epoch the server accepts commits
 *   and messages for, `latest_seq` the last event's number (both advanced by one conditional UPDATE,
 *   which orders concurrent writers); `group_info` the latest GroupInfo (with its ratchet tree) the
 *   server's external proposals are built on.
 * - `conversation_members`: the roster (people); `removed_at` set on removal (kept for the record).
 * - `conversation_devices`: which device sits at which leaf, and the window of events it may read
 *   (`from_seq` ≤ seq ≤ `until_seq`, `until_seq` null while it is a member); `cursor` its receipt.
 * - `conversation_events`: the ordered log: ciphertext only (`data`, null once recalled or purged),
 *   its size and SHA-256 (replay refusal), the sender device (null: the external sender),
 *   `recipients` (JSON device ids) for welcomes, which only the added devices see.
 * - `messaging_external_senders`: the tenant's MLS external sender key per cipher suite (private part sealed).
 * - `messaging_policies`: the tenant's messaging policy.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('conversations')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('cipher_suite', 'text', (c) => c.notNull())
    .addColumn('epoch', 'bigint', (c) => c.notNull())
    .addColumn('latest_seq', 'bigint', (c) => c.notNull())
    .addColumn('creator_kind', 'text', (c) => c.notNull())
    .addColumn('creator_id', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text')
    .addColumn('lifespan_seconds', 'bigint')
    .addColumn('group_info', blob(db))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('conversations_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('conversations_patient')
    .on('conversations')
    .columns(['tenant_id', 'patient_id'])
    .execute();

  await db.schema
    .createTable('conversation_members')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addColumn('person_kind', 'text', (c) => c.notNull())
    .addColumn('person_id', 'text', (c) => c.notNull())
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addColumn('removed_at', 'bigint')
    .addPrimaryKeyConstraint('conversation_members_pk', ['tenant_id', 'conversation_id', 'person_kind', 'person_id'])
    .execute();
  await db.schema
    .createIndex('conversation_members_person')
    .on('conversation_members')
    .columns(['tenant_id', 'person_kind', 'person_id'])
    .execute();

  await db.schema
    .createTable('conversation_devices')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('person_kind', 'text', (c) => c.notNull())
    .addColumn('person_id', 'text', (c) => c.notNull())
    .addColumn('leaf_index', 'integer')
    .addColumn('from_seq', 'bigint', (c) => c.notNull())
    .addColumn('until_seq', 'bigint')
    .addColumn('cursor', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('conversation_devices_pk', ['tenant_id', 'conversation_id', 'device_id'])
    .execute();
  await db.schema
    .createIndex('conversation_devices_device')
    .on('conversation_devices')
    .columns(['tenant_id', 'device_id'])
    .execute();

  await db.schema
    .createTable('conversation_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('epoch', 'bigint', (c) => c.notNull())
    .addColumn('sender_device_id', 'text')
    .addColumn('data', blob(db))
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('data_hash', 'text')
    .addColumn('client_message_id', 'text')
    .addColumn('urgent', 'integer', (c) => c.notNull())
    .addColumn('attachments', 'text', (c) => c.notNull())
    .addColumn('recipients', 'text')
    .addColumn('recalled_seq', 'bigint')
    .addColumn('recalled_at', 'bigint')
    .addColumn('purged_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('conversation_events_pk', ['tenant_id', 'conversation_id', 'seq'])
    .execute();
  // Replay refusal: one ciphertext is stored once per conversation (kept after purge: the hash is not content).
  await db.schema
    .createIndex('conversation_events_hash')
    .on('conversation_events')
    .columns(['tenant_id', 'conversation_id', 'data_hash'])
    .unique()
    .where(sql.ref('data_hash'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('conversation_events_client_id')
    .on('conversation_events')
    .columns(['tenant_id', 'conversation_id', 'sender_device_id', 'client_message_id'])
    .unique()
    .where(sql.ref('client_message_id'), 'is not', null)
    .execute();
  // The purge sweep: events still holding data, oldest first.
  await db.schema
    .createIndex('conversation_events_live')
    .on('conversation_events')
    .columns(['created_at'])
    .where(sql.ref('purged_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('messaging_external_senders')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('cipher_suite', 'text', (c) => c.notNull())
    .addColumn('public_key', blob(db), (c) => c.notNull())
    .addColumn('private_ct', blob(db), (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('messaging_external_senders_pk', ['tenant_id', 'cipher_suite'])
    .execute();

  await db.schema
    .createTable('messaging_policies')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('require_post_quantum', 'integer', (c) => c.notNull())
    .addColumn('default_lifespan_seconds', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'messaging_policies',
    'messaging_external_senders',
    'conversation_events',
    'conversation_devices',
    'conversation_members',
    'conversations',
  ])
    await db.schema.dropTable(t).execute();
}
