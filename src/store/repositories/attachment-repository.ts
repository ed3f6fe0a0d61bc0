import type { Selectable, SelectQueryBuilder } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type AttachmentRow = Selectable<Database['message_attachments']>;
/** An attachment without its bytes. */
export type AttachmentMeta = Omit<AttachmentRow, 'data'>;

const META = [
  'tenant_id',
  'id',
  'conversation_id',
  'uploader_device_id',
  'size',
  'created_at',
  'message_seq',
  'linked_at',
] as const;

// Both drivers return int8 as a number here (the PostgreSQL backend parses it), but SUM() is numeric.
const meta = (r: AttachmentMeta): AttachmentMeta => ({
  ...r,
  size: Number(r.size),
  created_at: Number(r.created_at),
  message_seq: r.message_seq === null ? null : Number(r.message_seq),
  linked_at: r.linked_at === null ? null : Number(r.linked_at),
});

/**
 * Encrypted message attachments (migration 022): opaque ciphertext, unlinked until a message of its
 * conversation names it (`message_seq`). Every method is scoped by tenant and, but for the sweep,
 * by conversation: an id of another tenant or conversation is simply not found.
 */
export interface AttachmentRepository {
  insert(row: AttachmentRow): Promise<void>;
  /** An attachment's metadata; undefined when the conversation has no such attachment. */
  meta(tenantId: string, conversationId: string, id: string): Promise<AttachmentMeta | undefined>;
  /** An attachment's ciphertext; undefined when the conversation has no such attachment. */
  data(tenantId: string, conversationId: string, id: string): Promise<Uint8Array | undefined>;
  /** Total bytes of all the conversation's attachments, named or not (its storage cap). */
  storedBytes(tenantId: string, conversationId: string): Promise<number>;
  /** Total bytes a device uploaded that no message names yet, in any conversation (the per-device quota). */
  unlinkedBytesOfDevice(tenantId: string, deviceId: string): Promise<number>;
  /**
   * Links unlinked attachments that `uploaderDeviceId` uploaded to message `seq`; returns how many
   * were linked (ids already linked, or uploaded by another device, are not).
   */
  link(
    tenantId: string,
    conversationId: string,
    uploaderDeviceId: string,
    ids: readonly string[],
    seq: number,
    now: number,
  ): Promise<number>;
  /** Deletes the attachments of these messages; returns their count and bytes. */
  deleteForMessages(
    tenantId: string,
    conversationId: string,
    seqs: readonly number[],
  ): Promise<{ count: number; bytes: number }>;
  /** Deletes every attachment of a conversation (linked or not); returns their count and bytes. */
  deleteForConversation(tenantId: string, conversationId: string): Promise<{ count: number; bytes: number }>;
  /** Unlinked attachments created before `before` (any tenant), oldest first, at most `limit`. */
  listUnlinkedBefore(before: number, limit: number): Promise<AttachmentMeta[]>;
  /** Deletes these attachments of a tenant if still unlinked; returns the ones deleted. */
  deleteUnlinked(tenantId: string, ids: readonly string[]): Promise<AttachmentMeta[]>;
}

const SLICE = 200;

export class SqlAttachmentRepository implements AttachmentRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: AttachmentRow): Promise<void> {
    await this.sql.db.insertInto('message_attachments').values(row).execute();
  }

  async meta(tenantId: string, conversationId: string, id: string): Promise<AttachmentMeta | undefined> {
    const r = await this.sql.db
      .selectFrom('message_attachments')
      .select(META)
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r && meta(r);
  }

  async data(tenantId: string, conversationId: string, id: string): Promise<Uint8Array | undefined> {
    const r = await this.sql.db
      .selectFrom('message_attachments')
      .select('data')
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r?.data;
  }

  async storedBytes(tenantId: string, conversationId: string): Promise<number> {
    return this.totalSize(
      this.sql.db.selectFrom('message_attachments').where('conversation_id', '=', conversationId),
      tenantId,
    );
  }

  async unlinkedBytesOfDevice(tenantId: string, deviceId: string): Promise<number> {
    const q = this.sql.db
      .selectFrom('message_attachments')
      .where('uploader_device_id', '=', deviceId)
      .where('message_seq', 'is', null);
    return this.totalSize(q, tenantId);
  }

  /** The sum of `size` over the rows `q` selects in the tenant (0 when none). */
  private async totalSize(
    q: SelectQueryBuilder<Database, 'message_attachments', object>,
    tenantId: string,
  ): Promise<number> {
    const r = await q
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('size'), eb.lit(0)).as('total'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return Number(r?.total ?? 0);
  }

  async link(
    tenantId: string,
    conversationId: string,
    uploaderDeviceId: string,
    ids: readonly string[],
    seq: number,
    now: number,
  ) {
    let n = 0;
    for (let i = 0; i < ids.length; i += SLICE) {
      const r = await this.sql.db
        .updateTable('message_attachments')
        .set({ message_seq: seq, linked_at: now })
        .where('tenant_id', '=', tenantId)
        .where('conversation_id', '=', conversationId)
        .where('id', 'in', ids.slice(i, i + SLICE))
        .where('uploader_device_id', '=', uploaderDeviceId)
        .where('message_seq', 'is', null)
        .executeTakeFirst();
      n += Number(r.numUpdatedRows);
    }
    return n;
  }

  async deleteForMessages(tenantId: string, conversationId: string, seqs: readonly number[]) {
    let count = 0;
    let bytes = 0;
    for (let i = 0; i < seqs.length; i += SLICE) {
      const rows = await this.sql.db
        .deleteFrom('message_attachments')
        .where('tenant_id', '=', tenantId)
        .where('conversation_id', '=', conversationId)
        .where('message_seq', 'in', seqs.slice(i, i + SLICE))
        .returning('size')
        .execute();
      count += rows.length;
      for (const r of rows) bytes += Number(r.size);
    }
    return { count, bytes };
  }

  async deleteForConversation(tenantId: string, conversationId: string) {
    const rows = await this.sql.db
      .deleteFrom('message_attachments')
      .where('tenant_id', '=', tenantId)
      .where('conversation_id', '=', conversationId)
      .returning('size')
      .execute();
    return { count: rows.length, bytes: rows.reduce((n, r) => n + Number(r.size), 0) };
  }

  async listUnlinkedBefore(before: number, limit: number): Promise<AttachmentMeta[]> {
    const rows = await this.sql.db
      .selectFrom('message_attachments')
      .select(META)
      .where('message_seq', 'is', null)
      .where('created_at', '<', before)
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(meta);
  }

  async deleteUnlinked(tenantId: string, ids: readonly string[]): Promise<AttachmentMeta[]> {
    const out: AttachmentMeta[] = [];
    for (let i = 0; i < ids.length; i += SLICE) {
      const rows = await this.sql.db
        .deleteFrom('message_attachments')
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids.slice(i, i + SLICE))
        .where('message_seq', 'is', null)
        .returning(META)
        .execute();
      out.push(...rows.map(meta));
    }
    return out;
  }
}
