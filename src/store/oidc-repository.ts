import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';

export type AuthChallengeRow = Selectable<Database['auth_challenges']>;

/**
 * Rows of OIDC single sign-on: the pending authorization requests (`auth_challenges` with purpose
 * `oidc`, keyed by the hash of their `state`) and the users' links to the identity provider.
 * auth/oidc-service.ts holds the rules.
 */
export class OidcRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertChallenge(row: Insertable<Database['auth_challenges']>): Promise<void> {
    await this.db.insertInto('auth_challenges').values(row).execute();
  }

  /**
   * Takes a pending challenge once: marks it used and blanks its secret (code verifier, nonce) so a
   * used row keeps nothing worth stealing. Returns it as it was, or undefined when it is unknown,
   * expired or already used. Compare-and-set on `used_at`: of two concurrent callbacks with the same
   * `state`, exactly one gets the row.
   */
  async takeChallenge(id: string, purpose: string, now: number): Promise<AuthChallengeRow | undefined> {
    const row = await this.db.selectFrom('auth_challenges').selectAll().where('id', '=', id).where('purpose', '=', purpose).executeTakeFirst();
    if (!row || row.used_at != null || Number(row.expires_at) <= now) return undefined;
    const r = await this.db
      .updateTable('auth_challenges')
      .set({ used_at: now, challenge: '' })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? row : undefined;
  }

  /** Deletes challenges of `purpose` that expired before `before` (they are useless, and anyone can create them). */
  async purgeChallenges(purpose: string, before: number): Promise<number> {
    const r = await this.db.deleteFrom('auth_challenges').where('purpose', '=', purpose).where('expires_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** The user linked to this identity-provider subject in this tenant. */
  async userBySso(tenantId: string, issuer: string, subject: string): Promise<Selectable<Database['users']> | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('sso_issuer', '=', issuer)
      .where('sso_subject', '=', subject)
      .executeTakeFirst();
  }

  /** Links a user to an identity-provider subject, only while the user has no link (compare-and-set). */
  async linkSso(tenantId: string, userId: string, issuer: string, subject: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('users')
      .set({ sso_issuer: issuer, sso_subject: subject, updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', userId)
      .where('sso_subject', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
