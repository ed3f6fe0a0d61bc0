import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Identity and access (people, sessions, MFA, care teams, break-glass, system clients).
 * Secrets are never stored as given: passwords as argon2id PHC strings, session/enrolment/reset
 * tokens and recovery codes as SHA-256 hashes of high-entropy values, TOTP seeds as AES-256-GCM
 * ciphertext under a per-user data key (`data_keys` row with `patient_id` = `user:<id>`, so KEK
 * rotation re-wraps it like every other data key). Staff e-mail addresses are not PHI; patient
 * contact points used for patient sign-in are blind indexes only.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const b = blob(db);
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'bigint')
    .addColumn('sso_issuer', 'text')
    .addColumn('sso_subject', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('users_tenant_email').on('users').columns(['tenant_id', 'email']).unique().execute();
  await db.schema
    .createIndex('users_sso')
    .on('users')
    .columns(['tenant_id', 'sso_issuer', 'sso_subject'])
    .unique()
    .execute();

  // One-time tokens of people: enrolment (invitation) links and password resets.
  await db.schema
    .createTable('user_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();

  // Sessions of people (staff users and patient accounts). `stage` is `active`, or a step of sign-in
  // still to take (`mfa`: second factor due; `mfa_enrol`: no factor enrolled yet).
  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('subject_type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('transport', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('mfa_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoked_reason', 'text')
    .execute();
  await db.schema
    .createIndex('sessions_subject')
    .on('sessions')
    .columns(['tenant_id', 'subject_type', 'subject_id'])
    .execute();

  await db.schema
    .createTable('mfa_totp')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id'))
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('secret_ct', b, (c) => c.notNull())
    .addColumn('confirmed_at', 'bigint')
    .addColumn('last_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('recovery_codes_user').on('recovery_codes').columns(['tenant_id', 'user_id']).execute();

  await db.schema
    .createTable('webauthn_credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('public_key', b, (c) => c.notNull())
    .addColumn('counter', 'bigint', (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('webauthn_credentials_user')
    .on('webauthn_credentials')
    .columns(['tenant_id', 'user_id'])
    .execute();

  // Short-lived challenges (WebAuthn, patient one-time codes), bound to a session or a subject.
  await db.schema
    .createTable('auth_challenges')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('challenge', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('auth_challenges_subject')
    .on('auth_challenges')
    .columns(['tenant_id', 'purpose', 'subject'])
    .execute();

  // Brute-force throttling: one row per key (`user:<id>`, `ip:<address>`, `contact:<bidx>`).
  await db.schema
    .createTable('auth_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('first_failure_at', 'bigint', (c) => c.notNull())
    .addColumn('blocked_until', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('care_team_members')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('added_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('care_team_members_pk', ['tenant_id', 'patient_id', 'user_id'])
    .execute();
  await db.schema
    .createIndex('care_team_members_user')
    .on('care_team_members')
    .columns(['tenant_id', 'user_id'])
    .execute();

  // Break-glass grants: time-limited access outside the care team. The stated reason is free text a
  // person typed (it may name the patient), so it is encrypted under the patient's data key.
  await db.schema
    .createTable('break_glass_grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('reason_ct', b, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('break_glass_grants_user')
    .on('break_glass_grants')
    .columns(['tenant_id', 'user_id', 'patient_id'])
    .execute();

  // Alerts for administrators (break-glass use, lockouts): identifiers only, no PHI.
  await db.schema
    .createTable('admin_alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('acknowledged_at', 'bigint')
    .addColumn('acknowledged_by', 'text')
    .execute();
  await db.schema.createIndex('admin_alerts_tenant').on('admin_alerts').columns(['tenant_id', 'created_at']).execute();

  // SMART Backend Services clients (private_key_jwt): inline JWKS (JSON text) or a JWKS URL.
  await db.schema
    .createTable('oauth_clients')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('jwks', 'text')
    .addColumn('jwks_url', 'text')
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();

  // Client assertion ids seen, kept until the assertion expires (replay protection, RFC 7523 §3).
  await db.schema
    .createTable('oauth_jti')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('jti', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('oauth_jti_pk', ['client_id', 'jti'])
    .execute();

  // Optional patient accounts: sign-in by a contact point (blind index) and a one-time code.
  await db.schema
    .createTable('patient_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('contact_system', 'text', (c) => c.notNull())
    .addColumn('contact_bidx', 'text', (c) => c.notNull())
    .addColumn('contact_ct', b, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('patient_accounts_contact')
    .on('patient_accounts')
    .columns(['tenant_id', 'contact_bidx'])
    .unique()
    .execute();
  await db.schema
    .createIndex('patient_accounts_patient')
    .on('patient_accounts')
    .columns(['tenant_id', 'patient_id'])
    .execute();

  // Devices of people (apps) and their push tokens; revoked by "remote wipe".
  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('subject_type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('push_token_ct', b)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('devices_subject')
    .on('devices')
    .columns(['tenant_id', 'subject_type', 'subject_id'])
    .execute();

  // API keys: rotation keeps the predecessor for a grace period (`rotated_from` names it).
  await db.schema.alterTable('api_keys').addColumn('rotated_from', 'text').execute();
}
