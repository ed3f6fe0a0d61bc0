/**
 * Sending: text with replies, the urgent flag and attachments (encrypted with `encryptAttachment`,
 * uploaded as opaque blobs, their keys inside the MLS message), end-to-end read receipts, and
 * recall. Each send first catches up and commits pending proposals, so it encrypts to the current
 * membership; a 409 stale epoch makes it catch up and encrypt again.
 */
import { createApplicationMessage } from 'ts-mls';
import { decryptAttachment, encryptAttachment } from '../attachments.js';
import type { CipherSuiteName } from '../cipher-suites.js';
import { fromBase64, randomBytes, toBase64, toHex } from '../encoding.js';
import type { ClientContext } from './context.js';
import type { ConversationSync } from './conversation-sync.js';
import { encodePayload, type AttachmentRef, type Payload, type StoredMessage } from './events.js';
import { SealpostApiError, seg } from './http.js';
import { encodeMessage, suiteImpl } from './mls.js';

/** A file to send: its name, media type and bytes. */
export interface OutgoingAttachment {
  name: string;
  type: string;
  data: Uint8Array;
}

export interface SendOptions {
  /** The seq of the message this one answers. */
  replyTo?: number;
  /** Push priority (metadata the server sees; never the content). */
  urgent?: boolean;
  attachments?: OutgoingAttachment[];
}

const MAX_ATTEMPTS = 6;

export class MessageSender {
  constructor(
    private readonly ctx: ClientContext,
    private readonly sync: ConversationSync,
  ) {}

  /** Encrypts and posts one payload; returns its seq. */
  private async post(
    conversationId: string,
    payload: Payload,
    urgent: boolean,
    attachmentIds: string[],
  ): Promise<number> {
    const clientMessageId = toHex(randomBytes(16));
    for (let attempt = 1; ; attempt++) {
      await this.sync.catchUp(conversationId);
      await this.sync.committer.reconcile(conversationId, false);
      const meta = await this.ctx.groups.meta(conversationId);
      if (meta?.blocked) throw new Error(`this conversation is blocked: ${meta.blocked}`);
      if (meta?.removed) throw new Error('this device was removed from the conversation');
      const state = await this.ctx.groups.state(conversationId);
      if (!state) throw new Error('this device is not a member of the conversation (no welcome processed yet)');
      const impl = await suiteImpl(state.groupContext.cipherSuite as CipherSuiteName);
      const r = await createApplicationMessage(state, encodePayload(payload), impl);
      // Saved before sending: a key of the ratchet is never used twice.
      await this.ctx.groups.setState(conversationId, r.newState);
      try {
        const res = await this.ctx.http.post<{ seq: number }>(`/v1/conversations/${seg(conversationId)}/messages`, {
          deviceId: this.ctx.keys.device.deviceId,
          epoch: Number(state.groupContext.epoch),
          message: encodeMessage({
            version: 'mls10',
            wireformat: 'mls_private_message',
            privateMessage: r.privateMessage,
          }),
          urgent,
          attachments: attachmentIds,
          clientMessageId,
        });
        return res.seq;
      } catch (e) {
        if (!(e instanceof SealpostApiError && e.code === 'SP_MESSAGING_EPOCH_STALE') || attempt >= MAX_ATTEMPTS)
          throw e;
      }
    }
  }

  /** Sends a text message (with optional reply, urgency and attachments); returns the local copy. */
  send(conversationId: string, body: string, opts: SendOptions = {}): Promise<StoredMessage> {
    return this.ctx.groups.exclusive(conversationId, async () => {
      const refs: AttachmentRef[] = [];
      for (const a of opts.attachments ?? []) refs.push(await this.upload(conversationId, a));
      const payload: Payload = {
        t: 'text',
        body,
        ...(opts.replyTo !== undefined ? { replyTo: opts.replyTo } : {}),
        ...(refs.length ? { attachments: refs } : {}),
      };
      const seq = await this.post(
        conversationId,
        payload,
        opts.urgent === true,
        refs.map((r) => r.id),
      );
      const dev = this.ctx.keys.device;
      const msg: StoredMessage = {
        conversationId,
        seq,
        senderDevice: dev.deviceId,
        sender: dev.person,
        body,
        replyTo: opts.replyTo ?? null,
        urgent: opts.urgent === true,
        attachments: refs,
        at: new Date().toISOString(),
        mine: true,
      };
      await this.ctx.groups.putMessage(msg);
      this.ctx.emitter.emit('message', msg);
      return msg;
    });
  }

  /** Tells the other members (end to end) that this person read up to `seq`. */
  async markRead(conversationId: string, seq: number): Promise<void> {
    await this.ctx.groups.exclusive(conversationId, () => this.post(conversationId, { t: 'read', seq }, false, []));
  }

  /** Recalls one of this person's messages: the server deletes it and tells every device to. */
  async recall(conversationId: string, seq: number): Promise<void> {
    await this.ctx.http.post(`/v1/conversations/${seg(conversationId)}/messages/${seq}/recall`, {
      deviceId: this.ctx.keys.device.deviceId,
    });
    await this.ctx.groups.deleteMessage(conversationId, seq);
    this.ctx.emitter.emit('recalled', { conversationId, seq });
  }

  private async upload(conversationId: string, a: OutgoingAttachment): Promise<AttachmentRef> {
    const enc = await encryptAttachment(a.data);
    const res = await this.ctx.http.request<{ id: string; size: number }>(
      'POST',
      `/v1/conversations/${seg(conversationId)}/attachments?deviceId=${seg(this.ctx.keys.device.deviceId)}`,
      undefined,
      enc.ciphertext,
    );
    return {
      id: res.id,
      key: toBase64(enc.key),
      digest: toBase64(enc.digest),
      size: enc.size,
      name: a.name,
      type: a.type,
    };
  }

  /** Downloads and opens an attachment a message names (its digest is checked before decrypting). */
  async download(conversationId: string, ref: AttachmentRef): Promise<Uint8Array> {
    const bytes = await this.ctx.http.request<Uint8Array>(
      'GET',
      `/v1/conversations/${seg(conversationId)}/attachments/${seg(ref.id)}`,
    );
    return decryptAttachment(bytes, { key: fromBase64(ref.key)!, digest: fromBase64(ref.digest)!, size: ref.size });
  }
}
