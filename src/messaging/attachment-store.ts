import type { Store, StoreTx } from '../store/store.js';
import type { AttachmentMeta } from '../store/repositories/attachment-repository.js';
import { AppError } from '../core/errors.js';
import { audit, type RequestContext } from '../core/context.js';
import type { AttachmentStore, ConversationReader, DeviceDirectory, Person } from './messaging-types.js';
import { samePerson } from './messaging-types.js';

/** Unlinked attachments older than this are deleted by the sweep (the contract's 24 hours). */
export const ATTACHMENT_ORPHAN_TTL_MS = 24 * 3_600_000;
const SYSTEM_ACTOR = 'system:attachments';

/** A person acting through the API (people only: the routes refuse systems before calling). */
export interface AttachmentCaller extends RequestContext {
  person: Person;
}

export interface AttachmentLimits {
  /** Largest ciphertext of one upload (the route refuses larger bodies while reading). */
  maxBytes: number;
  /** Most unlinked bytes a device may have uploaded (across conversations; per device, so one member cannot block the others). */
  quotaBytes: number;
  /** Most bytes of attachments, named or not, one conversation may store. */
  conversationBytes: number;
}

export interface AttachmentDeps {
  store: Store;
  clock: () => Date;
  newId: () => string;
  devices: DeviceDirectory;
  /**
   * Membership and device windows (the conversations part). Only `memberDevices` and `eventsFor`
   * are read, so the composition root can pass a forwarder before the conversations part (which
   * needs this store) exists.
   */
  conversations: Pick<ConversationReader, 'memberDevices' | 'eventsFor'>;
  limits: AttachmentLimits;
}

/**
 * Encrypted attachments: opaque ciphertext a member device uploads, linked to the message that
 * names it (`attach`, called by conversations in the message's transaction), deleted with it
 * (`deleteForMessages`: recall, lifespan purge) or, when no message named it within a day, by the
 * sweep. The server never sees a key: the client encrypts (sdk/src/attachments.ts). Membership is
 * the conversations part's (`ConversationReader.memberDevices`); a caller who is not a member, or a
 * conversation of another tenant, is answered 404 SP_CONVERSATION_NOT_FOUND, never 403.
 */
export class AttachmentService implements AttachmentStore {
  constructor(private readonly d: AttachmentDeps) {}

  get limits(): AttachmentLimits {
    return this.d.limits;
  }

  /**
   * Stores an upload of `deviceId` (an active messaging device of the caller, else 403
   * SP_MESSAGING_DEVICE_FORBIDDEN, and a member of the conversation, else 404). Refuses a body past
   * the limit and an upload past the conversation's quota of unlinked bytes; audited with its size.
   */
  async upload(
    caller: AttachmentCaller,
    conversationId: string,
    deviceId: string,
    data: Uint8Array,
  ): Promise<{ id: string; size: number }> {
    if (data.length > this.d.limits.maxBytes) throw new AppError('SP_MESSAGING_ATTACHMENT_TOO_LARGE');
    const device = await this.d.devices.device(this.d.store.read, caller.tenantId, deviceId);
    if (!device || device.status !== 'active' || !samePerson(device.person, caller.person))
      throw new AppError('SP_MESSAGING_DEVICE_FORBIDDEN');
    const members = await this.d.conversations.memberDevices(caller.tenantId, conversationId);
    if (!members.includes(deviceId)) throw new AppError('SP_CONVERSATION_NOT_FOUND');
    const id = this.d.newId();
    const now = this.d.clock();
    await this.d.store.transaction(async (tx) => {
      // Uploads to one conversation take turns (across nodes), so two racing uploads cannot both
      // pass the quota check; SQLite has one writer already.
      // Always conversation first, then device: no two uploads wait for each other in a cycle.
      await tx.leases.lockExclusive(`attachment-quota:${caller.tenantId}:${conversationId}`);
      await tx.leases.lockExclusive(`attachment-quota-device:${caller.tenantId}:${deviceId}`);
      // Unsent bytes per device across conversations (a member cannot multiply the cap by opening
      // conversations, nor use up another member's room), and every stored byte per conversation
      // (sending them does not free the room: only recall and purge do).
      if (
        (await tx.attachments.unlinkedBytesOfDevice(caller.tenantId, deviceId)) + data.length >
        this.d.limits.quotaBytes
      )
        throw new AppError('SP_MESSAGING_ATTACHMENT_QUOTA');
      if (
        (await tx.attachments.storedBytes(caller.tenantId, conversationId)) + data.length >
        this.d.limits.conversationBytes
      )
        throw new AppError('SP_MESSAGING_ATTACHMENT_QUOTA');
      await tx.attachments.insert({
        tenant_id: caller.tenantId,
        id,
        conversation_id: conversationId,
        uploader_device_id: deviceId,
        size: data.length,
        data,
        created_at: now.getTime(),
        message_seq: null,
        linked_at: null,
      });
      await audit(tx, caller, now, {
        action: 'attachment.stored',
        targetType: 'attachment',
        targetId: id,
        details: { conversationId, deviceId, size: data.length },
      });
    });
    await this.d.store.durable();
    return { id, size: data.length };
  }

  /**
   * The ciphertext, for a caller with an active member device in the conversation (else 404
   * SP_CONVERSATION_NOT_FOUND) that uploaded it or may read the message naming it (its window
   * holds that event: a member added later, or removed before, does not); else 404
   * SP_MESSAGING_ATTACHMENT_NOT_FOUND, as for an unknown one.
   */
  async download(caller: AttachmentCaller, conversationId: string, attachmentId: string): Promise<Uint8Array> {
    const { tenantId } = caller;
    const [mine, members] = await Promise.all([
      this.d.devices.activeDevices(this.d.store.read, tenantId, caller.person),
      this.d.conversations.memberDevices(tenantId, conversationId),
    ]);
    const devices = mine.map((m) => m.deviceId).filter((id) => members.includes(id));
    if (!devices.length) throw new AppError('SP_CONVERSATION_NOT_FOUND');
    const meta = await this.d.store.read.attachments.meta(tenantId, conversationId, attachmentId);
    if (!meta || !(await this.mayRead(tenantId, conversationId, devices, meta)))
      throw new AppError('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
    const data = await this.d.store.read.attachments.data(tenantId, conversationId, attachmentId);
    if (!data) throw new AppError('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
    return data;
  }

  /** Whether one of `devices` uploaded the attachment or is served the message that names it. */
  private async mayRead(tenantId: string, conversationId: string, devices: string[], meta: AttachmentMeta) {
    if (devices.includes(meta.uploader_device_id)) return true;
    const seq = meta.message_seq;
    if (seq === null) return false;
    for (const d of devices) {
      const [e] = await this.d.conversations.eventsFor(tenantId, conversationId, d, seq - 1, 1);
      if (e?.seq === seq) return true;
    }
    return false;
  }

  async attach(
    tx: StoreTx,
    tenantId: string,
    conversationId: string,
    seq: number,
    ids: readonly string[],
  ): Promise<void> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return;
    // Only the sending device's own uploads: a member cannot name (and so claim, or make readable
    // to others) an attachment another device uploaded. The message is already in `tx`'s log.
    const sender = (await tx.conversationEvents.get(tenantId, conversationId, seq))?.sender_device_id;
    if (!sender) throw new AppError('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
    const linked = await tx.attachments.link(tenantId, conversationId, sender, unique, seq, this.d.clock().getTime());
    // Unknown, of another conversation or device, or already named: the caller's transaction rolls back.
    if (linked !== unique.length) throw new AppError('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
  }

  async deleteForMessages(
    tx: StoreTx,
    tenantId: string,
    conversationId: string,
    seqs: readonly number[],
  ): Promise<number> {
    if (seqs.length === 0) return 0;
    const { count, bytes } = await tx.attachments.deleteForMessages(tenantId, conversationId, seqs);
    if (count > 0) await this.audited(tx, tenantId, conversationId, 'message', count, bytes);
    return count;
  }

  /** Deletes every attachment of a conversation (its deletion), in `tx`; returns how many. */
  async deleteForConversation(tx: StoreTx, tenantId: string, conversationId: string): Promise<number> {
    const { count, bytes } = await tx.attachments.deleteForConversation(tenantId, conversationId);
    if (count > 0) await this.audited(tx, tenantId, conversationId, 'conversation', count, bytes);
    return count;
  }

  /**
   * Deletes attachments no message named within `ATTACHMENT_ORPHAN_TTL_MS`, a batch per tenant per
   * transaction, one audit entry per conversation; returns how many. Safe on several nodes at once:
   * each delete is conditional on the attachment still being unlinked.
   */
  async sweepOrphans(batch = 500): Promise<number> {
    let total = 0;
    for (;;) {
      const before = this.d.clock().getTime() - ATTACHMENT_ORPHAN_TTL_MS;
      const rows = await this.d.store.read.attachments.listUnlinkedBefore(before, batch);
      const byTenant = new Map<string, string[]>();
      for (const r of rows) byTenant.set(r.tenant_id, [...(byTenant.get(r.tenant_id) ?? []), r.id]);
      for (const [tenantId, ids] of byTenant)
        total += await this.d.store.transaction(async (tx) => {
          const gone = await tx.attachments.deleteUnlinked(tenantId, ids);
          for (const [conversationId, of] of groupBy(gone))
            await this.audited(
              tx,
              tenantId,
              conversationId,
              'unlinked',
              of.length,
              of.reduce((n, r) => n + r.size, 0),
            );
          return gone.length;
        });
      if (rows.length < batch) break;
    }
    if (total > 0) await this.d.store.durable();
    return total;
  }

  private audited(
    tx: StoreTx,
    tenantId: string,
    conversationId: string,
    reason: 'message' | 'conversation' | 'unlinked',
    count: number,
    bytes: number,
  ): Promise<void> {
    return audit(tx, { tenantId, actor: SYSTEM_ACTOR }, this.d.clock(), {
      action: 'attachment.deleted',
      targetType: 'conversation',
      targetId: conversationId,
      details: { reason, count, bytes },
    });
  }
}

function groupBy(rows: readonly AttachmentMeta[]): Map<string, AttachmentMeta[]> {
  const m = new Map<string, AttachmentMeta[]>();
  for (const r of rows) m.set(r.conversation_id, [...(m.get(r.conversation_id) ?? []), r]);
  return m;
}
