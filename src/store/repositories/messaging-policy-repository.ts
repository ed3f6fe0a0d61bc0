import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type MessagingPolicyRow = Selectable<Database['messaging_policies']>;
export type ExternalSenderRow = Selectable<Database['messaging_external_senders']>;

/** A tenant's messaging policy and its MLS external sender keys (migration 021). */
export interface MessagingPolicyRepository {
  policy(tenantId: string): Promise<MessagingPolicyRow | undefined>;
  putPolicy(row: MessagingPolicyRow): Promise<void>;
  externalSender(tenantId: string, suite: string): Promise<ExternalSenderRow | undefined>;
  /** Inserts the key unless one exists (a concurrent creator won); returns the row that is kept. */
  insertExternalSender(row: ExternalSenderRow): Promise<ExternalSenderRow>;
}

export class SqlMessagingPolicyRepository implements MessagingPolicyRepository {
  constructor(private readonly sql: Sql) {}

  async policy(tenantId: string) {
    const r = await this.sql.db
      .selectFrom('messaging_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return (
      r && {
        ...r,
        require_post_quantum: Number(r.require_post_quantum),
        default_lifespan_seconds: r.default_lifespan_seconds === null ? null : Number(r.default_lifespan_seconds),
        updated_at: Number(r.updated_at),
      }
    );
  }

  async putPolicy(row: MessagingPolicyRow): Promise<void> {
    await this.sql.db
      .insertInto('messaging_policies')
      .values(row)
      .onConflict((oc) =>
        oc.column('tenant_id').doUpdateSet({
          require_post_quantum: row.require_post_quantum,
          default_lifespan_seconds: row.default_lifespan_seconds,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  externalSender(tenantId: string, suite: string) {
    return this.sql.db
      .selectFrom('messaging_external_senders')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('cipher_suite', '=', suite)
      .executeTakeFirst();
  }

  async insertExternalSender(row: ExternalSenderRow): Promise<ExternalSenderRow> {
    await this.sql.db
      .insertInto('messaging_external_senders')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'cipher_suite']).doNothing())
      .execute();
    return (await this.externalSender(row.tenant_id, row.cipher_suite))!;
  }
}
