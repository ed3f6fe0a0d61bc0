import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';

/**
 * The archive member's store: what it decrypted, encrypted at rest under its own 256-bit key
 * (AES-256-GCM, node:crypto). One append-only file per conversation; a line is
 * `{ seq, kind, box }` where `seq` and `kind` are the metadata the server already holds and `box` is
 * base64(nonce ‖ ciphertext ‖ tag) of the record's JSON. The AAD binds a box to its conversation,
 * seq and kind, so a box moved to another line or file does not decrypt. Attachments are stored
 * as separate encrypted blobs (AAD: conversation and attachment id).
 *
 * Layout of the archive directory: `archive.key` (the key, 0600, unless kept elsewhere with
 * --key-file), `conversations/<conversationId>.jsonl`, `attachments/<conversationId>/<id>.bin`.
 */

/** One archived event (legal hold: a recalled message stays, its recall is a record of its own). */
export type ArchiveRecord =
  | {
      type: 'message';
      conversationId: string;
      seq: number;
      epoch: number;
      sender: { deviceId: string; person: { kind: string; id: string } | null };
      /** The server's time of the event (ISO 8601). */
      sentAt: string;
      text: string;
      attachments: ArchivedAttachment[];
      /** Anything else the message carried (reply-to, kind), as the SDK decoded it. */
      extra?: Record<string, unknown>;
    }
  | {
      type: 'recall';
      conversationId: string;
      seq: number;
      recalledSeq: number;
      sender: { deviceId: string; person: { kind: string; id: string } | null };
      sentAt: string;
    }
  | {
      /** Membership changes (commits, proposals, the welcome that added the archiver): ids only. */
      type: 'membership';
      conversationId: string;
      seq: number;
      epoch: number;
      kind: string;
      sentAt: string;
    };

export interface ArchivedAttachment {
  id: string;
  name: string | null;
  mediaType: string | null;
  size: number;
  sha256: string | null;
  /** False when the blob could not be fetched (purged or recalled before the archiver read it). */
  stored: boolean;
}

const KEY_FILE = 'archive.key';
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

function safeId(id: string, what: string): string {
  if (!SAFE_ID.test(id)) throw new AppError('SP_REQ_VALIDATION', `${what}: not an id`);
  return id;
}

/** Creates a fresh archive key file (0600); refuses to overwrite one (that would orphan the archive). */
export function createArchiveKey(path: string): void {
  if (existsSync(path)) throw new AppError('SP_REQ_VALIDATION', `${path}: an archive key exists already`);
  writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
}

export function readArchiveKey(path: string): Buffer {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8').trim();
  } catch {
    throw new AppError('SP_REQ_VALIDATION', `${path}: cannot read the archive key`);
  }
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new AppError('SP_REQ_VALIDATION', `${path}: not a 256-bit archive key`);
  return key;
}

export const defaultKeyFile = (dir: string) => join(dir, KEY_FILE);

function seal(key: Buffer, plain: Buffer, aad: string): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
}

function open(key: Buffer, box: Buffer, aad: string): Buffer {
  if (box.length < 28) throw new AppError('SP_REQ_VALIDATION', 'archive: truncated record');
  const d = createDecipheriv('aes-256-gcm', key, box.subarray(0, 12));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(box.subarray(box.length - 16));
  try {
    return Buffer.concat([d.update(box.subarray(12, box.length - 16)), d.final()]);
  } catch {
    // Wrong key, or a record altered or moved: never return what does not authenticate.
    throw new AppError('SP_REQ_VALIDATION', 'archive: a record does not authenticate (wrong key or altered file)');
  }
}

const recordKind = (r: ArchiveRecord) => (r.type === 'membership' ? `membership.${r.kind}` : r.type);

export class ArchiveStore {
  /** Seqs already archived, per conversation (read from the plaintext metadata, no decryption). */
  private readonly seen = new Map<string, Set<number>>();

  constructor(
    private readonly dir: string,
    private readonly key: Buffer,
  ) {
    mkdirSync(join(dir, 'conversations'), { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'attachments'), { recursive: true, mode: 0o700 });
  }

  private file(conversationId: string): string {
    return join(this.dir, 'conversations', `${safeId(conversationId, 'conversation')}.jsonl`);
  }

  private lines(conversationId: string): { seq: number; kind: string; box: string }[] {
    const f = this.file(conversationId);
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { seq: number; kind: string; box: string });
  }

  has(conversationId: string, seq: number): boolean {
    let s = this.seen.get(conversationId);
    if (!s) {
      s = new Set(this.lines(conversationId).map((l) => l.seq));
      this.seen.set(conversationId, s);
    }
    return s.has(seq);
  }

  /** Appends a record unless its seq is archived already (events are delivered at least once). */
  append(r: ArchiveRecord): boolean {
    if (this.has(r.conversationId, r.seq)) return false;
    const kind = recordKind(r);
    const box = seal(this.key, Buffer.from(JSON.stringify(r), 'utf8'), `${r.conversationId}\n${r.seq}\n${kind}`);
    appendFileSync(
      this.file(r.conversationId),
      JSON.stringify({ seq: r.seq, kind, box: box.toString('base64') }) + '\n',
      {
        mode: 0o600,
      },
    );
    this.seen.get(r.conversationId)!.add(r.seq);
    return true;
  }

  /** Every record of a conversation, decrypted, in seq order. */
  read(conversationId: string): ArchiveRecord[] {
    return this.lines(conversationId)
      .map((l) => {
        const r = JSON.parse(
          open(this.key, Buffer.from(l.box, 'base64'), `${conversationId}\n${l.seq}\n${l.kind}`).toString('utf8'),
        ) as ArchiveRecord;
        return r;
      })
      .sort((a, b) => a.seq - b.seq);
  }

  /** Stores a decrypted attachment encrypted under the archive key; returns its SHA-256 (hex). */
  putAttachment(conversationId: string, attachmentId: string, bytes: Uint8Array): string {
    const d = join(this.dir, 'attachments', safeId(conversationId, 'conversation'));
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const box = seal(this.key, Buffer.from(bytes), `${conversationId}\nattachment\n${attachmentId}`);
    writeFileSync(join(d, `${safeId(attachmentId, 'attachment')}.bin`), box, { mode: 0o600 });
    return createHash('sha256').update(bytes).digest('hex');
  }

  attachment(conversationId: string, attachmentId: string): Buffer {
    const f = join(
      this.dir,
      'attachments',
      safeId(conversationId, 'conversation'),
      `${safeId(attachmentId, 'attachment')}.bin`,
    );
    if (!existsSync(f)) throw new AppError('SP_REQ_VALIDATION', `attachment ${attachmentId}: not in the archive`);
    return open(this.key, readFileSync(f), `${conversationId}\nattachment\n${attachmentId}`);
  }
}
