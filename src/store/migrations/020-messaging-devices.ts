import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * End-to-end encrypted messaging, devices part (src/messaging/device-registry.ts, key-packages.ts):
 * - `messaging_devices`: the MLS binding of a `devices` row (same tenant and id): the person it is
 *   bound to, the device's raw Ed25519 signature public key, the binding text (RFC 8785 JSON) and the
 *   notary key's signature over it. Revocation keeps the row (its audit entries name it) and sets
 *   `revoked_at`; a binding is never changed after registration.
 * - `messaging_key_packages`: uploaded MLS key packages (public data: encoded `MLSMessage`s), single
 *   use, claimed by deletion. `ref` is the SHA-256 (hex) of the bytes, so a re-upload is ignored;
 *   `last_resort` (0/1) marks the one package per device and suite that is handed out again.
 * - `audit_messaging`: finds a device's registration and revocation entries (the key-transparency
 *   anchors) by tenant, action and time, which the patient-reference index cannot (their
 *   `patient_ref` is null).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('messaging_devices')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('person_kind', 'text', (c) => c.notNull())
    .addColumn('person_id', 'text', (c) => c.notNull())
    .addColumn('signature_key', blob(db), (c) => c.notNull())
    .addColumn('binding', 'text', (c) => c.notNull())
    .addColumn('signature', blob(db), (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('binding_hash', 'text', (c) => c.notNull())
    .addColumn('registered_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addPrimaryKeyConstraint('messaging_devices_pk', ['tenant_id', 'device_id'])
    .execute();
  await db.schema
    .createIndex('messaging_devices_person')
    .on('messaging_devices')
    .columns(['tenant_id', 'person_kind', 'person_id'])
    .execute();

  await db.schema
    .createTable('messaging_key_packages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('cipher_suite', 'text', (c) => c.notNull())
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('data', blob(db), (c) => c.notNull())
    .addColumn('last_resort', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('messaging_key_packages_ref')
    .on('messaging_key_packages')
    .columns(['tenant_id', 'device_id', 'ref'])
    .unique()
    .execute();
  await db.schema
    .createIndex('messaging_key_packages_claim')
    .on('messaging_key_packages')
    .columns(['tenant_id', 'device_id', 'cipher_suite', 'last_resort', 'created_at'])
    .execute();

  await db.schema.createIndex('audit_messaging').on('audit_entries').columns(['tenant_id', 'action', 'at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('audit_messaging').execute();
  await db.schema.dropTable('messaging_key_packages').execute();
  await db.schema.dropTable('messaging_devices').execute();
}
