import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Non-repudiation:
 * - `notification_signatures`: the notary's Ed25519 signature of each notification header, the exact
 *   canonical text it signed, and `secret_ct` (AES-256-GCM under the patient's data key) holding the
 *   content-commitment salt and, when the request carried one, the person's detached signature and
 *   the canonical request it covers. Erasing the patient makes `secret_ct` unreadable; the header
 *   and its signature (identifiers and a hiding commitment, no PHI) stay verifiable.
 * - `signers`: device-held public keys of people (SPKI DER), by opaque person id.
 * A signed request is accepted once per signer: `sender_request_bidx` is a keyed hash of the
 * canonical request (never a plain hash of PHI) under a unique index.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('signers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('person_id', 'text', (c) => c.notNull())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_key', blob(db), (c) => c.notNull())
    .addColumn('thumbprint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('signers_tenant_thumbprint')
    .on('signers')
    .columns(['tenant_id', 'thumbprint'])
    .unique()
    .execute();

  await db.schema
    .createTable('notification_signatures')
    .addColumn('notification_id', 'text', (c) => c.primaryKey().references('notifications.id'))
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('signed', 'text', (c) => c.notNull())
    .addColumn('signature', blob(db), (c) => c.notNull())
    .addColumn('secret_ct', blob(db), (c) => c.notNull())
    .addColumn('sender_signer_id', 'text')
    .addColumn('sender_request_bidx', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  // NULLs are distinct in unique indexes on SQLite and PostgreSQL alike: unsigned rows never collide.
  await db.schema
    .createIndex('notification_signatures_sender_request')
    .on('notification_signatures')
    .columns(['tenant_id', 'sender_signer_id', 'sender_request_bidx'])
    .unique()
    .execute();
}
