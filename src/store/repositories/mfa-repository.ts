import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { PortOf } from './port-of.js';

export type TotpRow = Selectable<Database['mfa_totp']>;
export type WebAuthnCredentialRow = Selectable<Database['webauthn_credentials']>;

/**
 * Second factors of people: TOTP seeds (ciphertext), recovery codes (hashes), WebAuthn credentials,
 * short-lived challenges and per-session failure counts. The rules live in auth/mfa-service.ts and
 * auth/webauthn-service.ts; every conditional write here returns whether it took effect, so a
 * single-use value stays single-use when two requests race.
 */
export type MfaRepository = PortOf<SqlMfaRepository>;

export class SqlMfaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Staff data needed to label a factor (authenticator app, passkey): not PHI. */
  async userLabel(tenantId: string, userId: string): Promise<{ email: string; display_name: string } | undefined> {
    return this.db
      .selectFrom('users')
      .select(['email', 'display_name'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', userId)
      .executeTakeFirst();
  }

  /**
   * Takes the user's row lock for the rest of the transaction (PostgreSQL: a no-op UPDATE locks the
   * row; SQLite: transactions already run one at a time). Two enrolments of one user then run one
   * after the other, so the second sees the factor the first committed.
   */
  async lockUser(tenantId: string, userId: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', userId)
      .execute();
  }

  // --- TOTP ----------------------------------------------------------------------------------
  async totp(tenantId: string, userId: string): Promise<TotpRow | undefined> {
    return this.db
      .selectFrom('mfa_totp')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  /** Replaces the user's TOTP seed by a confirmed one (re-enrolment voids the old seed). */
  async putTotp(row: Insertable<Database['mfa_totp']>): Promise<void> {
    await this.db
      .deleteFrom('mfa_totp')
      .where('tenant_id', '=', row.tenant_id)
      .where('user_id', '=', row.user_id)
      .execute();
    await this.db.insertInto('mfa_totp').values(row).execute();
  }

  /** Records `step` as the last accepted one, only if it is later than the last; false when a racing request won. */
  async advanceTotpStep(tenantId: string, userId: string, step: number): Promise<boolean> {
    const r = await this.db
      .updateTable('mfa_totp')
      .set({ last_step: step })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  // --- recovery codes ------------------------------------------------------------------------
  /** Voids every earlier code of the user and stores the new hashes. */
  async replaceRecoveryCodes(
    tenantId: string,
    userId: string,
    rows: { id: string; code_hash: string }[],
    now: number,
  ): Promise<void> {
    await this.db
      .deleteFrom('recovery_codes')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .execute();
    await this.db
      .insertInto('recovery_codes')
      .values(rows.map((r) => ({ ...r, tenant_id: tenantId, user_id: userId, created_at: now, used_at: null })))
      .execute();
  }

  /** Burns an unused code; false when it is unknown or already used. */
  async burnRecoveryCode(tenantId: string, userId: string, codeHash: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('code_hash', '=', codeHash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async unusedRecoveryCodes(tenantId: string, userId: string): Promise<number> {
    const r = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  // --- WebAuthn ------------------------------------------------------------------------------
  async credentials(tenantId: string, userId: string): Promise<WebAuthnCredentialRow[]> {
    return this.db
      .selectFrom('webauthn_credentials')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
  }

  /** Whether this credential id is registered to anyone (ids are global: one authenticator key, one account). */
  async credentialExists(id: string): Promise<boolean> {
    return (
      (await this.db.selectFrom('webauthn_credentials').select('id').where('id', '=', id).executeTakeFirst()) !==
      undefined
    );
  }

  /**
   * Stores a new credential; false when its id is already registered (to anyone). ON CONFLICT DO
   * NOTHING rather than a caught unique violation: a failed statement would abort the PostgreSQL
   * transaction, and two registrations of one authenticator racing must answer "not accepted", not 500.
   */
  async insertCredential(row: Insertable<Database['webauthn_credentials']>): Promise<boolean> {
    const r = await this.db
      .insertInto('webauthn_credentials')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Moves the signature counter forward from `from`; false when another request moved it first. */
  async advanceCounter(tenantId: string, id: string, from: number, to: number, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('webauthn_credentials')
      .set({ counter: to, last_used_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('counter', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  // --- challenges ----------------------------------------------------------------------------
  /**
   * Counts one more failed second-factor attempt of a session (one row of purpose `mfa_failures`
   * per session, keyed by the session id, whose `attempts` column is the count); returns the new
   * count. One upsert, so two racing failures both count.
   */
  async countFailure(tenantId: string, sessionId: string, now: number, expiresAt: number): Promise<number> {
    const r = await this.db
      .insertInto('auth_challenges')
      .values({
        id: `mfa-failures:${sessionId}`,
        tenant_id: tenantId,
        purpose: 'mfa_failures',
        subject: sessionId,
        challenge: '',
        attempts: 1,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ attempts: eb('auth_challenges.attempts', '+', 1) })))
      .returning('attempts')
      .executeTakeFirstOrThrow();
    return Number(r.attempts);
  }

  /** Gives back one counted attempt of a session (a success, or an attempt that was never checked). */
  async releaseFailure(tenantId: string, sessionId: string): Promise<void> {
    await this.db
      .updateTable('auth_challenges')
      .set((eb) => ({ attempts: eb('attempts', '-', 1) }))
      .where('id', '=', `mfa-failures:${sessionId}`)
      .where('tenant_id', '=', tenantId)
      .where('attempts', '>', 0)
      .execute();
  }

  // --- alerts --------------------------------------------------------------------------------
}
