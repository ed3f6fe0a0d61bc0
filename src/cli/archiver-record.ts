import type { ArchivedAttachment, ArchiveStore } from './archiver-store.js';

/**
 * What the archiver keeps of what its MLS client (the SDK's MessagingClient) tells it: every
 * message with its attachments, every recall as a record of its own while the recalled message
 * stays (legal hold), and its membership changes by epoch. Records are appended synchronously
 * inside the client's handlers, before the client acknowledges the event to the server; attachment
 * blobs are fetched after, and again at the next start for any still missing.
 */

/** A message as the SDK's client hands it over (the fields the archive keeps; structural). */
export interface ReceivedMessage {
  conversationId: string;
  seq: number;
  senderDevice: string;
  sender: { kind: string; id: string };
  body: string;
  replyTo?: number | null;
  urgent?: boolean;
  attachments: { id: string; key: string; digest: string; size: number; name: string; type: string }[];
  /** ISO 8601, the server's time. */
  at: string;
}

/** Fetches an attachment's ciphertext from the server and decrypts it (null when the server has it no more). */
export type FetchAttachment = (conversationId: string, a: Required<ArchivedAttachment>) => Promise<Uint8Array | null>;

export class ArchiveRecorder {
  private readonly pending: { conversationId: string; a: Required<ArchivedAttachment> }[] = [];

  constructor(
    private readonly archive: ArchiveStore,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Archives a message once; true when it was new. */
  message(m: ReceivedMessage): boolean {
    const attachments = m.attachments.map((a) => ({
      id: a.id,
      name: a.name,
      mediaType: a.type,
      size: a.size,
      key: a.key,
      digest: a.digest,
    }));
    const added = this.archive.append({
      type: 'message',
      conversationId: m.conversationId,
      seq: m.seq,
      sender: { deviceId: m.senderDevice, person: { kind: m.sender.kind, id: m.sender.id } },
      sentAt: m.at,
      text: m.body,
      attachments,
      extra: { replyTo: m.replyTo ?? null, urgent: m.urgent ?? false },
    });
    for (const a of attachments) this.pending.push({ conversationId: m.conversationId, a });
    return added;
  }

  /** A recall: recorded, the message kept (legal hold). */
  recalled(e: { conversationId: string; seq: number }): boolean {
    return this.archive.append({
      type: 'recall',
      conversationId: e.conversationId,
      recalledSeq: e.seq,
      at: this.clock().toISOString(),
    });
  }

  membership(e: { conversationId: string; epoch: number; change: string }): boolean {
    return this.archive.append({
      type: 'membership',
      conversationId: e.conversationId,
      epoch: e.epoch,
      change: e.change,
      at: this.clock().toISOString(),
    });
  }

  /** Queues every attachment the archive names but does not hold (after a restart). */
  requeueMissing(): void {
    for (const c of this.archive.conversations())
      for (const r of this.archive.read(c))
        if (r.type === 'message')
          for (const a of r.attachments)
            if (a.key && a.digest && !this.archive.hasAttachment(c, a.id))
              this.pending.push({ conversationId: c, a: a as Required<ArchivedAttachment> });
  }

  /** Fetches and stores the queued attachments; returns how many were stored (failures stay queued once). */
  async drain(fetch: FetchAttachment): Promise<number> {
    let stored = 0;
    for (const job of this.pending.splice(0)) {
      if (this.archive.hasAttachment(job.conversationId, job.a.id)) continue;
      const bytes = await fetch(job.conversationId, job.a).catch(() => null);
      if (!bytes) continue; // purged or recalled before the archiver fetched it: the record says so (no blob)
      this.archive.putAttachment(job.conversationId, job.a.id, bytes);
      stored++;
    }
    return stored;
  }
}
