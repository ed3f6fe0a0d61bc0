import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import { revokeOnce } from './revoke-once.js';
import type { PortOf } from './port-of.js';

export type OAuthClientRow = Selectable<Database['oauth_clients']>;

/**
 * SMART backend-services clients and the ids of their client assertions (replay protection).
 * auth/oauth-client-service.ts holds the rules; this only reads and writes rows.
 */
export type OAuthRepository = PortOf<SqlOAuthRepository>;

export class SqlOAuthRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertClient(row: Insertable<Database['oauth_clients']>): Promise<void> {
    await this.db.insertInto('oauth_clients').values(row).execute();
  }

  /** A client by id, any tenant (the token endpoint learns the tenant from the client row). */
  async client(id: string): Promise<OAuthClientRow | undefined> {
    return this.db.selectFrom('oauth_clients').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** A client of one tenant (management routes never see another tenant's clients). */
  async clientOf(tenantId: string, id: string): Promise<OAuthClientRow | undefined> {
    return this.db
      .selectFrom('oauth_clients')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** One page of a tenant's clients in id order after `afterId`. */
  async listClients(tenantId: string, afterId: string, limit: number): Promise<OAuthClientRow[]> {
    return this.db
      .selectFrom('oauth_clients')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Marks a live client revoked; false when unknown or already revoked. */
  revokeClient(tenantId: string, id: string, now: number): Promise<boolean> {
    return revokeOnce(this.db, 'oauth_clients', tenantId, id, now);
  }

  async touchClient(id: string, now: number): Promise<void> {
    await this.db.updateTable('oauth_clients').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  /**
   * Records a client assertion id; false when this client already used it (a replay). The primary
   * key (client_id, jti) decides, so two nodes racing with the same assertion cannot both win, and
   * ON CONFLICT DO NOTHING keeps a PostgreSQL transaction usable after the conflict.
   */
  async insertJti(clientId: string, jti: string, expiresAt: number): Promise<boolean> {
    const r = await this.db
      .insertInto('oauth_jti')
      .values({ client_id: clientId, jti, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['client_id', 'jti']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Deletes assertion ids whose assertions can no longer be accepted anyway; returns how many. */
  async purgeExpiredJti(now: number): Promise<number> {
    const r = await this.db.deleteFrom('oauth_jti').where('expires_at', '<', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
