import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type ConversationEventRow = Selectable<Database['conversation_events']>;

const ev = (r: ConversationEventRow): ConversationEventRow => ({
  ...r,
  // PostgreSQL returns BIGINT as a string.
  seq: Number(r.seq),
  epoch: Number(r.epoch),
  created_at: Number(r.created_at),
  recalled_seq: r.recalled_seq === null ? null : Number(r.recalled_seq),
  recalled_at: r.recalled_at === null ? null : Number(r.recalled_at),
  purged_at: r.purged_at === null ? null : Number(r.purged_at),
  urgent: Number(r.urgent),
  size: Number(r.size),
});

/** The ordered event log of conversations (migration 021): ciphertext, never content. */
export interface ConversationEventRepository {
  insert(rows: ConversationEventRow[]): Promise<void>;
  get(tenantId: string, conversationId: string, seq: number): Promise<ConversationEventRow | undefined>;
  /** Events with from < seq ≤ to (to null: no bound), oldest first, at most `limit`. */
  range(
    tenantId: string,
    conversationId: string,
    after: number,
    upTo: number | null,
    limit: number,
  ): Promise<ConversationEventRow[]>;
  /** The event a device stored under a client message id, if any. */
  byClientId(
    tenantId: string,
    conversationId: string,
    deviceId: string,
    clientMessageId: string,
  ): Promise<ConversationEventRow | undefined>;
  /** Whether this ciphertext (SHA-256 hex) was stored before in the conversation. */
  hasHash(tenantId: string, conversationId: string, hash: string): Promise<boolean>;
  /** Drops the ciphertext of one event (recall); false when it had none. */
  recall(tenantId: string, conversationId: string, seq: number, now: number): Promise<boolean>;
  /** Seqs of events holding data created before `before` (the purge sweep), at most `limit`. */
  purgeable(tenantId: string, conversationId: string, before: number, limit: number): Promise<number[]>;
  /** Drops the ciphertext of these events; returns how many. */
  purge(tenantId: string, conversationId: string, seqs: readonly number[], now: number): Promise<number>;
}

export class SqlConversationEventRepository implements ConversationEventRepository {
  constructor(private readonly sql: Sql) {}

  async insert(rows: ConversationEventRow[]): Promise<void> {
    if (rows.length) await this.sql.db.insertInto('conversation_events').values(rows).execute();
  }

  async get(tenantId: string, conversationId: string, seq: number) {
    const r = await this.sql.db
      .selectFrom('conversation_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('seq', '=', seq)
      .executeTakeFirst();
    return r && ev(r);
  }

  async range(tenantId: string, conversationId: string, after: number, upTo: number | null, limit: number) {
    let q = this.sql.db
      .selectFrom('conversation_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('seq', '>', after);
    if (upTo !== null) q = q.where('seq', '<=', upTo);
    return (await q.orderBy('seq').limit(limit).execute()).map(ev);
  }

  async byClientId(tenantId: string, conversationId: string, deviceId: string, clientMessageId: string) {
    const r = await this.sql.db
      .selectFrom('conversation_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('sender_device_id', '=', deviceId)
      .where('client_message_id', '=', clientMessageId)
      .executeTakeFirst();
    return r && ev(r);
  }

  async hasHash(tenantId: string, conversationId: string, hash: string) {
    const r = await this.sql.db
      .selectFrom('conversation_events')
      .select('seq')
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('data_hash', '=', hash)
      .executeTakeFirst();
    return r !== undefined;
  }

  async recall(tenantId: string, conversationId: string, seq: number, now: number) {
    const r = await this.sql.db
      .updateTable('conversation_events')
      .set({ data: null, recalled_at: now })
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('seq', '=', seq)
      .where('recalled_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async purgeable(tenantId: string, conversationId: string, before: number, limit: number) {
    const rows = await this.sql.db
      .selectFrom('conversation_events')
      .select('seq')
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('purged_at', 'is', null)
      .where('data', 'is not', null)
      .where('created_at', '<', before)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => Number(r.seq));
  }

  async purge(tenantId: string, conversationId: string, seqs: readonly number[], now: number) {
    if (!seqs.length) return 0;
    const r = await this.sql.db
      .updateTable('conversation_events')
      .set({ data: null, purged_at: now })
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('seq', 'in', [...seqs])
      .where('purged_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
