import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type ConversationRow = Selectable<Database['conversations']>;
export type ConversationMemberRow = Selectable<Database['conversation_members']>;
export type ConversationDeviceRow = Selectable<Database['conversation_devices']>;

const num = <T extends Record<string, unknown>>(r: T, keys: (keyof T)[]): T => {
  // PostgreSQL returns BIGINT as a string; the rows speak numbers.
  for (const k of keys)
    if (r[k] !== null && r[k] !== undefined) (r as Record<string, unknown>)[k as string] = Number(r[k]);
  return r;
};
const conv = (r: ConversationRow) => num(r, ['epoch', 'latest_seq', 'lifespan_seconds', 'created_at']);
const dev = (r: ConversationDeviceRow) => num(r, ['from_seq', 'until_seq', 'cursor', 'leaf_index']);

/**
 * Conversations, their rosters and their member devices (migration 021). Writers that order the
 * log (`advance`) use one conditional UPDATE: on PostgreSQL the row lock makes concurrent callers
 * wait and re-check the epoch, so exactly one of two commits for the same epoch succeeds.
 */
export interface ConversationRepository {
  insert(row: ConversationRow): Promise<void>;
  get(tenantId: string, id: string): Promise<ConversationRow | undefined>;
  /**
   * Reserves `count` seqs: when `epoch` is given, only if the conversation is at that epoch (and
   * moves it to `newEpoch` with `groupInfo` when those are given). Returns the new latest seq, or
   * null when the epoch did not match (or the conversation is gone).
   */
  advance(
    tenantId: string,
    id: string,
    count: number,
    cond: { epoch?: number; newEpoch?: number; groupInfo?: Uint8Array },
  ): Promise<number | null>;
  /** Conversations with a live roster entry for the person, newest first, those created before `before`. */
  listForPerson(
    tenantId: string,
    kind: string,
    personId: string,
    o: { before?: { createdAt: number; id: string }; limit: number },
  ): Promise<ConversationRow[]>;
  /** Patient conversations of a patient record. */
  listForPatient(tenantId: string, patientId: string): Promise<ConversationRow[]>;
  members(tenantId: string, conversationId: string): Promise<ConversationMemberRow[]>;
  /** Adds (or re-adds) a person; false when they are already a live member. */
  addMember(row: ConversationMemberRow): Promise<boolean>;
  /** Marks a live member removed; false when they were not one. */
  removeMember(tenantId: string, conversationId: string, kind: string, personId: string, now: number): Promise<boolean>;
  /** Every device row (past and present) of the conversation. */
  devices(tenantId: string, conversationId: string): Promise<ConversationDeviceRow[]>;
  device(tenantId: string, conversationId: string, deviceId: string): Promise<ConversationDeviceRow | undefined>;
  /** Rows of a device in every conversation. */
  conversationsOfDevice(tenantId: string, deviceId: string): Promise<ConversationDeviceRow[]>;
  /** Inserts or re-opens a device's window (a device added again starts a new window). */
  upsertDevice(row: ConversationDeviceRow): Promise<void>;
  setLeaf(tenantId: string, conversationId: string, deviceId: string, leafIndex: number | null): Promise<void>;
  /** Closes a device's window at `untilSeq` (no later event is served); no-op when already closed. */
  closeDevice(tenantId: string, conversationId: string, deviceId: string, untilSeq: number): Promise<void>;
  /** Raises a device's cursor (never lowers it); true when it moved. */
  raiseCursor(tenantId: string, conversationId: string, deviceId: string, seq: number): Promise<boolean>;
  /** Lifespans of the tenant's conversations (for the purge sweep). */
  listAll(tenantId: string): Promise<ConversationRow[]>;
}

export class SqlConversationRepository implements ConversationRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: ConversationRow): Promise<void> {
    await this.sql.db.insertInto('conversations').values(row).execute();
  }

  async get(tenantId: string, id: string) {
    const r = await this.sql.db
      .selectFrom('conversations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r && conv(r);
  }

  async advance(
    tenantId: string,
    id: string,
    count: number,
    cond: { epoch?: number; newEpoch?: number; groupInfo?: Uint8Array },
  ): Promise<number | null> {
    let q = this.sql.db
      .updateTable('conversations')
      .set((eb) => ({
        latest_seq: eb('latest_seq', '+', count),
        ...(cond.newEpoch !== undefined ? { epoch: cond.newEpoch } : {}),
        ...(cond.groupInfo !== undefined ? { group_info: cond.groupInfo } : {}),
      }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id);
    if (cond.epoch !== undefined) q = q.where('epoch', '=', cond.epoch);
    const r = await q.returning('latest_seq').executeTakeFirst();
    return r ? Number(r.latest_seq) : null;
  }

  async listForPerson(
    tenantId: string,
    kind: string,
    personId: string,
    o: { before?: { createdAt: number; id: string }; limit: number },
  ) {
    let q = this.sql.db
      .selectFrom('conversations as c')
      .innerJoin('conversation_members as m', (j) =>
        j.onRef('m.tenant_id', '=', 'c.tenant_id').onRef('m.conversation_id', '=', 'c.id'),
      )
      .selectAll('c')
      .where('c.tenant_id', '=', tenantId)
      .where('m.person_kind', '=', kind)
      .where('m.person_id', '=', personId)
      .where('m.removed_at', 'is', null);
    const b = o.before;
    if (b)
      q = q.where((eb) =>
        eb.or([
          eb('c.created_at', '<', b.createdAt),
          eb.and([eb('c.created_at', '=', b.createdAt), eb('c.id', '<', b.id)]),
        ]),
      );
    const rows = await q.orderBy('c.created_at', 'desc').orderBy('c.id', 'desc').limit(o.limit).execute();
    return rows.map(conv);
  }

  async listForPatient(tenantId: string, patientId: string) {
    const rows = await this.sql.db
      .selectFrom('conversations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('kind', '=', 'patient')
      .execute();
    return rows.map(conv);
  }

  async listAll(tenantId: string) {
    const rows = await this.sql.db.selectFrom('conversations').selectAll().where('tenant_id', '=', tenantId).execute();
    return rows.map(conv);
  }

  async members(tenantId: string, conversationId: string) {
    const rows = await this.sql.db
      .selectFrom('conversation_members')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .orderBy('added_at')
      .orderBy('person_id')
      .execute();
    return rows.map((r) => num(r, ['added_at', 'removed_at']));
  }

  async addMember(row: ConversationMemberRow): Promise<boolean> {
    const existing = await this.sql.db
      .selectFrom('conversation_members')
      .select('removed_at')
      .where('tenant_id', '=', row.tenant_id)
      .where('conversation_id', '=', row.conversation_id)
      .where('person_kind', '=', row.person_kind)
      .where('person_id', '=', row.person_id)
      .executeTakeFirst();
    if (existing && existing.removed_at === null) return false;
    if (existing)
      await this.sql.db
        .updateTable('conversation_members')
        .set({ added_at: row.added_at, removed_at: null })
        .where('tenant_id', '=', row.tenant_id)
        .where('conversation_id', '=', row.conversation_id)
        .where('person_kind', '=', row.person_kind)
        .where('person_id', '=', row.person_id)
        .execute();
    else await this.sql.db.insertInto('conversation_members').values(row).execute();
    return true;
  }

  async removeMember(tenantId: string, conversationId: string, kind: string, personId: string, now: number) {
    const r = await this.sql.db
      .updateTable('conversation_members')
      .set({ removed_at: now })
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('person_kind', '=', kind)
      .where('person_id', '=', personId)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async devices(tenantId: string, conversationId: string) {
    const rows = await this.sql.db
      .selectFrom('conversation_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .orderBy('device_id')
      .execute();
    return rows.map(dev);
  }

  async device(tenantId: string, conversationId: string, deviceId: string) {
    const r = await this.sql.db
      .selectFrom('conversation_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return r && dev(r);
  }

  async conversationsOfDevice(tenantId: string, deviceId: string) {
    const rows = await this.sql.db
      .selectFrom('conversation_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .orderBy('conversation_id')
      .execute();
    return rows.map(dev);
  }

  async upsertDevice(row: ConversationDeviceRow): Promise<void> {
    const r = await this.sql.db
      .updateTable('conversation_devices')
      .set({ leaf_index: row.leaf_index, from_seq: row.from_seq, until_seq: row.until_seq, cursor: row.cursor })
      .where('tenant_id', '=', row.tenant_id)
      .where('conversation_id', '=', row.conversation_id)
      .where('device_id', '=', row.device_id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) await this.sql.db.insertInto('conversation_devices').values(row).execute();
  }

  async setLeaf(tenantId: string, conversationId: string, deviceId: string, leafIndex: number | null) {
    await this.sql.db
      .updateTable('conversation_devices')
      .set({ leaf_index: leafIndex })
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  async closeDevice(tenantId: string, conversationId: string, deviceId: string, untilSeq: number) {
    await this.sql.db
      .updateTable('conversation_devices')
      .set({ until_seq: untilSeq, leaf_index: null })
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('device_id', '=', deviceId)
      .where('until_seq', 'is', null)
      .execute();
  }

  async raiseCursor(tenantId: string, conversationId: string, deviceId: string, seq: number) {
    const r = await this.sql.db
      .updateTable('conversation_devices')
      .set({ cursor: seq })
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('device_id', '=', deviceId)
      .where('cursor', '<', seq)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
