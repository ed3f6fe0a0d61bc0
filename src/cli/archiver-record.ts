import type { ArchiveRecord, ArchivedAttachment, ArchiveStore } from './archiver-store.js';

/**
 * What the archiver makes of one event its MLS client processed. The client (the SDK's
 * MessagingClient) decrypts; this decides what is kept: every application message with its
 * attachments (fetched and decrypted), every recall as a record of its own while the recalled
 * message stays (legal hold), and membership changes by ids. Nothing here talks to the server
 * except through `fetchAttachment`.
 */

export interface ReceivedAttachment {
  id: string;
  name?: string | null;
  mediaType?: string | null;
  size: number;
  sha256?: string | null;
}

/** One processed event, as the archiver's client hands it over. */
export interface ReceivedEvent {
  conversationId: string;
  seq: number;
  epoch: number;
  kind: 'commit' | 'application' | 'proposal' | 'welcome' | 'recall';
  sender: { deviceId: string; person: { kind: string; id: string } | null } | { external: true };
  /** ISO 8601, the server's time of the event. */
  createdAt: string;
  recalledSeq: number | null;
  /** The decrypted application message (kind `application`); absent for anything else. */
  message?: { text: string; attachments: ReceivedAttachment[]; extra?: Record<string, unknown> };
}

/** Fetches and decrypts an attachment (null when the server no longer has it). */
export type FetchAttachment = (conversationId: string, a: ReceivedAttachment) => Promise<Uint8Array | null>;

const senderOf = (s: ReceivedEvent['sender']) =>
  'external' in s ? { deviceId: 'external', person: null } : { deviceId: s.deviceId, person: s.person };

/** Builds the record of `e` (attachments stored first, so a record never names a missing blob as stored). */
export async function recordOf(
  archive: ArchiveStore,
  e: ReceivedEvent,
  fetchAttachment: FetchAttachment,
): Promise<ArchiveRecord> {
  if (e.kind === 'application' && e.message) {
    const attachments: ArchivedAttachment[] = [];
    for (const a of e.message.attachments) {
      const bytes = await fetchAttachment(e.conversationId, a).catch(() => null);
      const sha256 = bytes ? archive.putAttachment(e.conversationId, a.id, bytes) : (a.sha256 ?? null);
      attachments.push({
        id: a.id,
        name: a.name ?? null,
        mediaType: a.mediaType ?? null,
        size: bytes ? bytes.length : a.size,
        sha256,
        stored: bytes !== null,
      });
    }
    return {
      type: 'message',
      conversationId: e.conversationId,
      seq: e.seq,
      epoch: e.epoch,
      sender: senderOf(e.sender),
      sentAt: e.createdAt,
      text: e.message.text,
      attachments,
      ...(e.message.extra ? { extra: e.message.extra } : {}),
    };
  }
  if (e.kind === 'recall' && e.recalledSeq !== null)
    return {
      type: 'recall',
      conversationId: e.conversationId,
      seq: e.seq,
      recalledSeq: e.recalledSeq,
      sender: senderOf(e.sender),
      sentAt: e.createdAt,
    };
  return {
    type: 'membership',
    conversationId: e.conversationId,
    seq: e.seq,
    epoch: e.epoch,
    // An application event the client could not decrypt is kept as a fact, never guessed at.
    kind: e.kind === 'application' ? 'undecryptable' : e.kind,
    sentAt: e.createdAt,
  };
}

/** Archives `e` once (a redelivered event is skipped before any attachment is fetched again). */
export async function archiveEvent(
  archive: ArchiveStore,
  e: ReceivedEvent,
  fetchAttachment: FetchAttachment,
): Promise<boolean> {
  if (archive.has(e.conversationId, e.seq)) return false;
  return archive.append(await recordOf(archive, e, fetchAttachment));
}
