import { sql, type Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Encrypted message attachments (end-to-end encrypted messaging): opaque ciphertext the client
 * uploaded, in the database for now (`data`). An attachment is unlinked (`message_seq` null) until a
 * message of its conversation names it; unlinked ones older than a day are swept, and the unlinked
 * bytes of a conversation, and of an uploading device, are capped (the upload quotas).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('message_attachments')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addColumn('uploader_device_id', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('data', blob(db), (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('message_seq', 'bigint')
    .addColumn('linked_at', 'bigint')
    .addPrimaryKeyConstraint('message_attachments_pk', ['tenant_id', 'id'])
    .execute();
  // A message's attachments (recall, lifespan purge) and a conversation's unlinked bytes (quota).
  await db.schema
    .createIndex('message_attachments_message')
    .on('message_attachments')
    .columns(['tenant_id', 'conversation_id', 'message_seq'])
    .execute();
  // The per-device quota: a device's unlinked bytes across conversations.
  await db.schema
    .createIndex('message_attachments_uploader')
    .on('message_attachments')
    .columns(['tenant_id', 'uploader_device_id', 'message_seq'])
    .execute();
  // The orphan sweep: unlinked attachments by age.
  await db.schema
    .createIndex('attachments_unlinked')
    .on('message_attachments')
    .columns(['created_at'])
    .where(sql.ref('message_seq'), 'is', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('message_attachments').execute();
}
