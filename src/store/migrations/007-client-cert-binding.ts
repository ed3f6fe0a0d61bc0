import type { Kysely } from 'kysely';

/**
 * mTLS binding of API keys (system clients). Additive: both columns null means "unbound", which is
 * what every key created before this migration is.
 * - `client_cert_sha256`: SHA-256 of the one client certificate's DER encoding, lower-case hex;
 * - `client_ca_pem`: the CA certificate (PEM) whose directly issued certificates are accepted.
 * Public certificates only: nothing here is secret or PHI.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('client_cert_sha256', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('client_ca_pem', 'text').execute();
}
