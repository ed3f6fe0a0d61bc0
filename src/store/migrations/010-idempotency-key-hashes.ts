import { sql, type Kysely } from 'kysely';
import { isSqlite } from './column-types.js';

/**
 * Idempotency keys are stored as keyed hashes. Clients put order numbers and the like in their
 * `Idempotency-Key`s, so `idempotency_keys.key` now holds an HMAC of the key under the keyring's
 * stable reference key (core/context.ts `idempotencyKeyRef`), never the key itself.
 *
 * A migration cannot reach the key provider, so this one only sets the records written before it
 * aside: they move, unchanged, to `idempotency_keys_unhashed`, and `idempotency_keys` holds hashed
 * keys only. Every start of the server (app/startup.ts), after the keyring check and before it takes
 * traffic, moves them back under their hash (`IdempotencyRepository.hashClearKeys`) in small
 * transactions, so a key used before the upgrade still de-duplicates after it and no clear key is
 * left once a server has started. The table stays, empty, for the exports of older versions.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const move = async (trx: Kysely<any>) => {
    await trx.schema
      .createTable('idempotency_keys_unhashed')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('status_code', 'integer', (c) => c.notNull())
      .addColumn('response', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_unhashed_pk', ['tenant_id', 'key'])
      .execute();
    await sql`insert into idempotency_keys_unhashed (tenant_id, key, request_hash, status_code, response, created_at)
              select tenant_id, key, request_hash, status_code, response, created_at from idempotency_keys`.execute(
      trx,
    );
    await sql`delete from idempotency_keys`.execute(trx);
  };
  // Kysely runs SQLite migrations outside a transaction: a crash must leave the rows in one place.
  if (isSqlite(db)) await db.transaction().execute(move);
  else await move(db);
}
