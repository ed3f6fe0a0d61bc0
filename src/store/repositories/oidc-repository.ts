import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { PortOf } from './port-of.js';

/**
 * Rows of OIDC single sign-on: the pending authorization requests (`auth_challenges` with purpose
 * `oidc`, keyed by the hash of their `state`) and the users' links to the identity provider.
 * auth/oidc-service.ts holds the rules.
 */
export type OidcRepository = PortOf<SqlOidcRepository>;

export class SqlOidcRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The user linked to this identity-provider subject in this tenant. */
  async userBySso(
    tenantId: string,
    issuer: string,
    subject: string,
  ): Promise<Selectable<Database['users']> | undefined> {
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
