import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import type { ConversationEventRow } from '../store/repositories/conversation-event-repository.js';
import type { ConversationEvent } from './messaging-types.js';

/** An event to append (its seq is assigned by `appendEvents`). */
export interface NewEvent {
  kind: ConversationEvent['kind'];
  epoch: number;
  /** null: the tenant's external sender. */
  senderDeviceId: string | null;
  data: Uint8Array | null;
  urgent?: boolean;
  attachments?: string[];
  clientMessageId?: string | null;
  /** Welcomes: the only devices that see it. */
  recipients?: string[] | null;
  recalledSeq?: number | null;
  /** Whether the ciphertext's hash is kept for replay refusal (commits and application messages). */
  unique?: boolean;
}

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Appends `events` in order: reserves their seqs with one conditional UPDATE of the conversation
 * (at `cond.epoch` when given; moving it to `cond.newEpoch`), then inserts them. 409
 * SP_MESSAGING_EPOCH_STALE (with the current epoch) when the epoch moved. Returns the seqs.
 */
export async function appendEvents(
  tx: StoreTx,
  tenantId: string,
  conversationId: string,
  events: NewEvent[],
  now: number,
  cond: { epoch?: number; newEpoch?: number; groupInfo?: Uint8Array } = {},
): Promise<number[]> {
  if (!events.length) return [];
  const last = await tx.conversations.advance(tenantId, conversationId, events.length, cond);
  if (last === null) {
    const conv = await tx.conversations.get(tenantId, conversationId);
    if (!conv) throw new AppError('SP_CONVERSATION_NOT_FOUND');
    throw new EpochStaleError(conv.epoch);
  }
  const first = last - events.length + 1;
  const rows: ConversationEventRow[] = events.map((e, i) => ({
    tenant_id: tenantId,
    conversation_id: conversationId,
    seq: first + i,
    kind: e.kind,
    epoch: e.epoch,
    sender_device_id: e.senderDeviceId,
    data: e.data,
    size: e.data?.length ?? 0,
    data_hash: e.unique && e.data ? sha256Hex(e.data) : null,
    client_message_id: e.clientMessageId ?? null,
    urgent: e.urgent ? 1 : 0,
    attachments: JSON.stringify(e.attachments ?? []),
    recipients: e.recipients ? JSON.stringify(e.recipients) : null,
    recalled_seq: e.recalledSeq ?? null,
    recalled_at: null,
    purged_at: null,
    created_at: now,
  }));
  await tx.conversationEvents.insert(rows);
  return rows.map((r) => r.seq);
}

/** 409 SP_MESSAGING_EPOCH_STALE; the routes add `currentEpoch` to the problem body. */
export class EpochStaleError extends AppError {
  constructor(readonly currentEpoch: number) {
    super('SP_MESSAGING_EPOCH_STALE', `current epoch ${currentEpoch}`);
  }
}

/** Whether a device may see the event (welcomes go to their recipients only). */
export function visibleTo(row: ConversationEventRow, deviceId: string): boolean {
  if (row.recipients === null) return true;
  return (JSON.parse(row.recipients) as string[]).includes(deviceId);
}

export function eventView(r: ConversationEventRow): ConversationEvent {
  return {
    conversationId: r.conversation_id,
    seq: r.seq,
    kind: r.kind as ConversationEvent['kind'],
    epoch: r.epoch,
    sender: r.sender_device_id === null ? { external: true } : { deviceId: r.sender_device_id },
    data: r.data ? Buffer.from(r.data).toString('base64') : null,
    urgent: r.urgent === 1,
    attachments: JSON.parse(r.attachments) as string[],
    recalledSeq: r.recalled_seq,
    createdAt: new Date(r.created_at).toISOString(),
  };
}
