import { audit, type RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { ConversationDeviceRow, ConversationRow } from '../store/repositories/conversation-repository.js';
import type { StoreTx } from '../store/store.js';
import type { ConversationReader, ConversationEvent, Person } from './messaging-types.js';
import { callerDevice, memberConversation, type Caller, type ConversationDeps } from './conversation-access.js';
import { eventView, visibleTo } from './conversation-log.js';
import { syncPatientConversation } from './conversation-roster.js';

export const MAX_EVENTS_PAGE = 500;

/**
 * What devices read: each device sees the events of its window (from the welcome that added it to
 * the event that removed it), welcomes only when addressed to it. Also the `ConversationReader`
 * live delivery reads through.
 */
export class ConversationEvents implements ConversationReader {
  constructor(private readonly deps: ConversationDeps) {}

  /** The caller's device's events after `after`; 404 when the device was never in the conversation. */
  async pull(c: Caller, id: string, deviceId: string, after: number, limit: number) {
    await syncPatientConversation(this.deps, c, c.tenantId, id, c.person);
    return this.deps.store.transaction(async (tx) => {
      await callerDevice(tx, this.deps, c, deviceId);
      const conv = await tx.conversations.get(c.tenantId, id);
      const row = conv && (await tx.conversations.device(c.tenantId, id, deviceId));
      if (!row) throw new AppError('SP_CONVERSATION_NOT_FOUND');
      const page = await this.window(tx, c.tenantId, id, deviceId, after, limit);
      return page;
    });
  }

  /** Delivery receipt: the device stored everything up to `seq` (monotonic, at most the latest seq). */
  async cursor(c: Caller, id: string, deviceId: string, seq: number): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      await callerDevice(tx, this.deps, c, deviceId);
      const conv = await memberConversation(tx, c, id);
      const row = await tx.conversations.device(c.tenantId, id, deviceId);
      if (!row) throw new AppError('SP_CONVERSATION_NOT_FOUND');
      await this.advance(tx, c, conv, row, deviceId, seq);
    });
    // Answered 204: the receipt and its audit entry survive a crash from here on.
    await this.deps.store.durable();
  }

  /** The devices (and their people) whose cursor reached `seq`. */
  async receipts(c: Caller, id: string, seq: number) {
    return this.deps.store.transaction(async (tx) => {
      await memberConversation(tx, c, id);
      const rows = await tx.conversations.devices(c.tenantId, id);
      return {
        delivered: rows
          .filter((d) => d.cursor >= seq && d.from_seq <= seq)
          .map((d) => ({ deviceId: d.device_id, person: { kind: d.person_kind as Person['kind'], id: d.person_id } })),
      };
    });
  }

  /** Where the caller's device has something to read. */
  async ofDevice(c: Caller, deviceId: string) {
    const items = await this.deps.store.transaction(async (tx) => {
      await callerDevice(tx, this.deps, c, deviceId);
      return this.list(tx, c.tenantId, deviceId);
    });
    return { items };
  }

  // ConversationReader (live delivery)

  async memberDevices(tenantId: string, conversationId: string): Promise<string[]> {
    const rows = await this.deps.store.read.conversations.devices(tenantId, conversationId);
    return rows.filter((d) => d.until_seq === null).map((d) => d.device_id);
  }

  async eventsFor(tenantId: string, conversationId: string, deviceId: string, afterSeq: number, limit: number) {
    const page = await this.window(this.deps.store.read, tenantId, conversationId, deviceId, afterSeq, limit);
    return page.items;
  }

  conversationsOf(tenantId: string, deviceId: string) {
    return this.list(this.deps.store.read, tenantId, deviceId);
  }

  async acknowledge(tenantId: string, conversationId: string, deviceId: string, seq: number): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      const conv = await tx.conversations.get(tenantId, conversationId);
      const row = conv && (await tx.conversations.device(tenantId, conversationId, deviceId));
      if (!conv || !row) return;
      // Acks arrive on the device's authenticated live connection: the device is the actor.
      await this.advance(tx, { tenantId, actor: `device:${deviceId}` }, conv, row, deviceId, seq);
    });
  }

  /**
   * Raises the device's cursor to `seq` (at most the end of its window) and, when it moved, audits
   * the delivery in the same transaction (ids and seqs only). One entry per acknowledgement, not per
   * event: a device that acks up to seq 40 at once writes one.
   */
  private async advance(
    tx: StoreTx,
    ctx: RequestContext,
    conv: ConversationRow,
    row: ConversationDeviceRow,
    deviceId: string,
    seq: number,
  ): Promise<void> {
    const to = Math.min(seq, row.until_seq ?? conv.latest_seq);
    if (!(await tx.conversations.raiseCursor(ctx.tenantId, conv.id, deviceId, to))) return;
    await audit(tx, ctx, this.deps.clock(), {
      action: 'message.delivered',
      targetType: 'conversation',
      targetId: conv.id,
      patientRef: conv.patient_id ? this.deps.patientRef(ctx.tenantId, conv.patient_id) : null,
      details: { deviceId, from: row.cursor, to },
    });
  }

  private async list(tx: StoreTx, tenantId: string, deviceId: string) {
    const out: { conversationId: string; latestSeq: number; cursor: number; epoch: number }[] = [];
    for (const d of await tx.conversations.conversationsOfDevice(tenantId, deviceId)) {
      const conv = await tx.conversations.get(tenantId, d.conversation_id);
      if (!conv) continue;
      const latest = Math.min(conv.latest_seq, d.until_seq ?? conv.latest_seq);
      // A closed window with nothing left to read is no longer this device's business.
      if (d.until_seq !== null && d.cursor >= latest) continue;
      out.push({ conversationId: conv.id, latestSeq: latest, cursor: d.cursor, epoch: conv.epoch });
    }
    return out;
  }

  private async window(
    tx: StoreTx,
    tenantId: string,
    id: string,
    deviceId: string,
    after: number,
    limit: number,
  ): Promise<{ items: ConversationEvent[]; nextCursor: number }> {
    const d = await tx.conversations.device(tenantId, id, deviceId);
    if (!d) return { items: [], nextCursor: after };
    const from = Math.max(after, d.from_seq - 1);
    const rows = await tx.conversationEvents.range(tenantId, id, from, d.until_seq, Math.min(limit, MAX_EVENTS_PAGE));
    const items = rows.filter((r) => visibleTo(r, deviceId)).map(eventView);
    return { items, nextCursor: rows.length ? rows[rows.length - 1].seq : Math.max(after, from) };
  }
}
