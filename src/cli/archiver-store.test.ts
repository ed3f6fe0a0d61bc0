import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ArchiveStore,
  createArchiveKey,
  defaultKeyFile,
  readArchiveKey,
  type ArchiveRecord,
} from './archiver-store.js';

const MARKER = 'ARCHIVE-PLAINTEXT-MARKER-7f3a';

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'sp-archive-'));
  createArchiveKey(defaultKeyFile(dir));
  return { dir, store: new ArchiveStore(dir, readArchiveKey(defaultKeyFile(dir))) };
}

const message = (seq: number, text: string): ArchiveRecord => ({
  type: 'message',
  conversationId: 'conv-1',
  seq,
  sender: { deviceId: 'dev-a', person: { kind: 'user', id: 'u-a' } },
  sentAt: new Date(0).toISOString(),
  text,
  attachments: [],
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe('the archive store', () => {
  it('gives back what it archived, in the order archived, and keeps no plaintext on disk', () => {
    const { dir, store } = fresh();
    store.append(message(3, `first ${MARKER}`));
    store.append(message(5, `second ${MARKER}`));
    store.append({ type: 'recall', conversationId: 'conv-1', recalledSeq: 5, at: new Date(0).toISOString() });
    const sha = store.putAttachment('conv-1', 'att-1', Buffer.from(`file ${MARKER}`));
    const back = new ArchiveStore(dir, readArchiveKey(defaultKeyFile(dir)));
    expect(
      back
        .read('conv-1')
        .map((r) => (r.type === 'recall' ? `recall ${r.recalledSeq}` : r.type === 'message' ? r.seq : 0)),
    ).toEqual([3, 5, 'recall 5']);
    expect(back.conversations()).toEqual(['conv-1']);
    expect(back.hasAttachment('conv-1', 'att-1')).toBe(true);
    expect(back.read('conv-1')[1]).toMatchObject({ type: 'message', text: `second ${MARKER}` });
    expect(back.attachment('conv-1', 'att-1').toString()).toBe(`file ${MARKER}`);
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    for (const f of filesUnder(dir)) expect(readFileSync(f).includes(MARKER)).toBe(false);
  });

  it('archives an event delivered twice only once', () => {
    const { dir, store } = fresh();
    expect(store.append(message(1, 'hello'))).toBe(true);
    expect(store.append(message(1, 'hello'))).toBe(false);
    expect(new ArchiveStore(dir, readArchiveKey(defaultKeyFile(dir))).append(message(1, 'hello'))).toBe(false);
    expect(store.read('conv-1')).toHaveLength(1);
  });

  it('refuses to read with another key, and a record moved to another seq', () => {
    const { dir, store } = fresh();
    store.append(message(1, 'hello'));
    const other = mkdtempSync(join(tmpdir(), 'sp-archive-'));
    createArchiveKey(defaultKeyFile(other));
    expect(() => new ArchiveStore(dir, readArchiveKey(defaultKeyFile(other))).read('conv-1')).toThrow(/authenticate/);
    const f = join(dir, 'conversations', 'conv-1.jsonl');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"ref":"message:1"', '"ref":"message:2"'));
    expect(() => new ArchiveStore(dir, readArchiveKey(defaultKeyFile(dir))).read('conv-1')).toThrow(/authenticate/);
  });

  it('refuses to overwrite an archive key, a key file of the wrong size, and ids that are not ids', () => {
    const { dir, store } = fresh();
    expect(() => createArchiveKey(defaultKeyFile(dir))).toThrow(/exists already/);
    writeFileSync(join(dir, 'short.key'), Buffer.alloc(16).toString('base64'));
    expect(() => readArchiveKey(join(dir, 'short.key'))).toThrow(/256-bit/);
    expect(() => readArchiveKey(join(dir, 'missing.key'))).toThrow(/cannot read/);
    expect(() => store.append({ ...message(1, 'x'), conversationId: '../escape' })).toThrow(/not an id/);
    expect(() => store.attachment('conv-1', 'nope')).toThrow(/not in the archive/);
  });

  it('creates the key file readable by its owner only', () => {
    const { dir } = fresh();
    expect(statSync(defaultKeyFile(dir)).mode & 0o077).toBe(0);
  });
});
