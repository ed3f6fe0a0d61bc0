import type { Insertable, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type Hl7SenderRow = Selectable<Database['hl7_senders']>;

/** Registered HL7 v2 senders (an interface engine's MSH-3 application and MSH-4 facility). */
export interface Hl7SenderRepository {
  /** Inserts a sender; rejects (unique violation) when an active one of the tenant has the same (app, facility). */
  insert(row: Insertable<Database['hl7_senders']>): Promise<void>;
  /** The tenant's active sender with this MSH-3 and MSH-4. */
  findActive(tenantId: string, app: string, facility: string): Promise<Hl7SenderRow | undefined>;
  /**
   * Routing candidates: the active senders with this MSH-3 and MSH-4 in every tenant (the connection's
   * certificate, or its absence, picks one of them: Hl7Service.admit).
   */
  findActiveCandidates(app: string, facility: string): Promise<Hl7SenderRow[]>;
  /** A sender of the tenant by id, removed or not. */
  get(tenantId: string, id: string): Promise<Hl7SenderRow | undefined>;
  /** The tenant's active senders, oldest first. */
  listActive(tenantId: string): Promise<Hl7SenderRow[]>;
  /** Marks an active sender removed; false when it was not active. */
  remove(tenantId: string, id: string, now: number): Promise<boolean>;
}

export class SqlHl7SenderRepository implements Hl7SenderRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: Insertable<Database['hl7_senders']>): Promise<void> {
    await this.sql.db.insertInto('hl7_senders').values(row).execute();
  }

  findActive(tenantId: string, app: string, facility: string) {
    return this.sql.db
      .selectFrom('hl7_senders')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('app', '=', app)
      .where('facility', '=', facility)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
  }

  findActiveCandidates(app: string, facility: string) {
    return this.sql.db
      .selectFrom('hl7_senders')
      .selectAll()
      .where('app', '=', app)
      .where('facility', '=', facility)
      .where('removed_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .limit(1000)
      .execute();
  }

  get(tenantId: string, id: string) {
    return this.sql.db
      .selectFrom('hl7_senders')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  listActive(tenantId: string) {
    return this.sql.db
      .selectFrom('hl7_senders')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('removed_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async remove(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('hl7_senders')
      .set({ removed_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
