import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';

/**
 * The archive member's store: what it decrypted, encrypted at rest under its own 256-bit key
 * (AES-256-GCM, node:crypto). One append-only file per conversation; a line is
 * `{ ref, box }` where `ref` (`message:<seq>`, `recall:<seq>`, `membership:<change>:<epoch>`) is
 * metadata the server already holds and `box` is base64(nonce ‖ ciphertext ‖ tag) of the record's
 * JSON. The AAD binds a box to its conversation and ref, so a box moved to another line or file
 * does not decrypt. Records are kept in the order the archiver processed them (the conversation's). Attachments are stored
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
      sender: { deviceId: string; person: { kind: string; id: string } | null };
      /** The server's time of the message (ISO 8601). */
      sentAt: string;
      text: string;
      attachments: ArchivedAttachment[];
      /** Anything else the message carried (reply-to, urgent), as the SDK decoded it. */
      extra?: Record<string, unknown>;
    }
  | {
      type: 'recall';
      conversationId: string;
      /** The recalled message's seq. */
      recalledSeq: number;
      /** When the archiver learnt of it (ISO 8601). */
      at: string;
    }
  | {
      /** Membership changes of the archiver's view of the group: ids and epochs only. */
      type: 'membership';
      conversationId: string;
      epoch: number;
      change: string;
      at: string;
    };

/** An attachment as the message named it; its decrypted bytes are a blob of the archive once fetched. */
export interface ArchivedAttachment {
  id: string;
  name: string | null;
  mediaType: string | null;
  size: number;
  /** What opens the server's ciphertext (kept so a fetch can be retried; encrypted with the record). */
  key?: string;
  digest?: string;
}

/** The identity of a record in its conversation: an event redelivered after a restart is archived once. */
export function refOf(r: ArchiveRecord): string {
  if (r.type === 'message') return `message:${r.seq}`;
  if (r.type === 'recall') return `recall:${r.recalledSeq}`;
  return `membership:${r.change}:${r.epoch}`;
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

export class ArchiveStore {
  /** Refs already archived, per conversation (read from the plaintext metadata, no decryption). */
  private readonly seen = new Map<string, Set<string>>();

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

  private lines(conversationId: string): { ref: string; box: string }[] {
    const f = this.file(conversationId);
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { ref: string; box: string });
  }

  /** The conversations with an archive, by id. */
  conversations(): string[] {
    return readdirSync(join(this.dir, 'conversations'))
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => f.slice(0, -'.jsonl'.length));
  }

  has(conversationId: string, ref: string): boolean {
    let s = this.seen.get(conversationId);
    if (!s) {
      s = new Set(this.lines(conversationId).map((l) => l.ref));
      this.seen.set(conversationId, s);
    }
    return s.has(ref);
  }

  /**
   * Appends a record unless it is archived already (events are delivered at least once). Synchronous
   * on purpose: the SDK acknowledges an event once its handlers returned, so the record is on disk first.
   */
  append(r: ArchiveRecord): boolean {
    const ref = refOf(r);
    if (this.has(r.conversationId, ref)) return false;
    const box = seal(this.key, Buffer.from(JSON.stringify(r), 'utf8'), `${r.conversationId}\n${ref}`);
    appendFileSync(this.file(r.conversationId), JSON.stringify({ ref, box: box.toString('base64') }) + '\n', {
      mode: 0o600,
    });
    this.seen.get(r.conversationId)!.add(ref);
    return true;
  }

  /** Every record of a conversation, decrypted, in the order they were archived. */
  read(conversationId: string): ArchiveRecord[] {
    return this.lines(conversationId).map(
      (l) =>
        JSON.parse(
          open(this.key, Buffer.from(l.box, 'base64'), `${conversationId}\n${l.ref}`).toString('utf8'),
        ) as ArchiveRecord,
    );
  }

  hasAttachment(conversationId: string, attachmentId: string): boolean {
    return existsSync(this.blob(conversationId, attachmentId));
  }

  private blob(conversationId: string, attachmentId: string): string {
    return join(
      this.dir,
      'attachments',
      safeId(conversationId, 'conversation'),
      `${safeId(attachmentId, 'attachment')}.bin`,
    );
  }

  /** Stores a decrypted attachment encrypted under the archive key; returns its SHA-256 (hex). */
  putAttachment(conversationId: string, attachmentId: string, bytes: Uint8Array): string {
    mkdirSync(join(this.dir, 'attachments', safeId(conversationId, 'conversation')), { recursive: true, mode: 0o700 });
    const box = seal(this.key, Buffer.from(bytes), `${conversationId}\nattachment\n${attachmentId}`);
    writeFileSync(this.blob(conversationId, attachmentId), box, { mode: 0o600 });
    return createHash('sha256').update(bytes).digest('hex');
  }

  attachment(conversationId: string, attachmentId: string): Buffer {
    if (!this.hasAttachment(conversationId, attachmentId))
      throw new AppError('SP_REQ_VALIDATION', `attachment ${attachmentId}: not in the archive`);
    return open(
      this.key,
      readFileSync(this.blob(conversationId, attachmentId)),
      `${conversationId}\nattachment\n${attachmentId}`,
    );
  }
}
