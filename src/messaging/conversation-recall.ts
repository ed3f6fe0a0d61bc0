import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import type { ConversationMembership } from './messaging-types.js';
import {
  callerDevice,
  lockConversation,
  memberConversation,
  type Caller,
  type ConversationDeps,
} from './conversation-access.js';
import { appendEvents } from './conversation-log.js';
import { removeDevices } from './conversation-roster.js';

/**
 * Recall (the sender takes a message back: its ciphertext and attachments leave the server and a
 * `recall` event tells the other devices to delete their copy) and device revocation (the devices
 * part calls `deviceRevoked` in its own transaction).
 */
export class ConversationRecall implements ConversationMembership {
  constructor(private readonly deps: ConversationDeps) {}

  async recall(c: Caller, id: string, seq: number, deviceId: string): Promise<{ seq: number; recalledSeq: number }> {
    const { store, clock } = this.deps;
    const now = clock();
    const out = await store.transaction(async (tx) => {
      await callerDevice(tx, this.deps, c, deviceId);
      await memberConversation(tx, c, id);
      const conv = await lockConversation(tx, c.tenantId, id);
      const ev = await tx.conversationEvents.get(c.tenantId, id, seq);
      if (!ev || ev.kind !== 'application' || ev.recalled_at !== null)
        throw new AppError('SP_MESSAGING_MESSAGE_NOT_FOUND');
      const sender = ev.sender_device_id && (await this.deps.devices.device(tx, c.tenantId, ev.sender_device_id));
      if (!sender || sender.person.kind !== c.person.kind || sender.person.id !== c.person.id)
        throw new AppError('SP_MESSAGING_RECALL_FORBIDDEN');
      await tx.conversationEvents.recall(c.tenantId, id, seq, now.getTime());
      const removed = await this.deps.attachments.deleteForMessages(tx, c.tenantId, id, [seq]);
      const [recallSeq] = await appendEvents(
        tx,
        c.tenantId,
        id,
        [{ kind: 'recall', epoch: conv.epoch, senderDeviceId: deviceId, data: null, recalledSeq: seq }],
        now.getTime(),
      );
      await audit(tx, c, now, {
        action: 'message.recalled',
        targetType: 'conversation',
        targetId: id,
        patientRef: conv.patient_id ? this.deps.patientRef(c.tenantId, conv.patient_id) : null,
        details: { deviceId, seq: recallSeq, recalledSeq: seq, size: ev.size, attachments: removed },
      });
      return { seq: recallSeq, recalledSeq: seq };
    });
    await store.durable();
    this.deps.feed.published(c.tenantId, id, out.seq);
    return out;
  }

  /** In the caller's transaction: the device reads nothing more anywhere and its removal is proposed. */
  async deviceRevoked(tx: StoreTx, tenantId: string, deviceId: string): Promise<void> {
    const now = this.deps.clock();
    const published: [string, number][] = [];
    for (const row of await tx.conversations.conversationsOfDevice(tenantId, deviceId)) {
      if (row.until_seq !== null) continue;
      const conv = await lockConversation(tx, tenantId, row.conversation_id);
      const last = await removeDevices(tx, this.deps, conv, [deviceId], now.getTime());
      await tx.audit.append({
        tenantId,
        at: now,
        actor: 'system:messaging',
        action: 'conversation.device.removed',
        outcome: 'success',
        targetType: 'conversation',
        targetId: conv.id,
        details: { deviceId, reason: 'revoked' },
      });
      if (last !== null) published.push([conv.id, last]);
    }
    void this.publishOnceCommitted(tenantId, published);
  }

  /**
   * The port runs inside the caller's transaction, whose commit it does not see: the proposals are
   * told to live delivery once they are readable outside it (committed), or never (rolled back).
   */
  private async publishOnceCommitted(tenantId: string, items: [string, number][]): Promise<void> {
    for (let i = 0; i < 100 && items.length; i++) {
      await new Promise((r) => setTimeout(r, 100).unref?.());
      try {
        for (const [id, seq] of [...items])
          if (await this.deps.store.read.conversationEvents.get(tenantId, id, seq)) {
            this.deps.feed.published(tenantId, id, seq);
            items.splice(
              items.findIndex((x) => x[0] === id),
              1,
            );
          }
      } catch {
        return; // The store closed (shutdown): nothing left to tell.
      }
    }
  }
}
