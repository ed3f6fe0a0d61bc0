import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArchiveStore, createArchiveKey, defaultKeyFile, readArchiveKey } from './archiver-store.js';
import { ArchiveRecorder, type ReceivedMessage } from './archiver-record.js';

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'sp-archive-rec-'));
  createArchiveKey(defaultKeyFile(dir));
  const archive = () => new ArchiveStore(dir, readArchiveKey(defaultKeyFile(dir)));
  return { archive, recorder: new ArchiveRecorder(archive(), () => new Date(0)) };
}

const msg = (seq: number, attachments: ReceivedMessage['attachments'] = []): ReceivedMessage => ({
  conversationId: 'c1',
  seq,
  senderDevice: 'd1',
  sender: { kind: 'user', id: 'u1' },
  body: `text ${seq}`,
  replyTo: null,
  urgent: false,
  attachments,
  at: new Date(0).toISOString(),
});
const file = { id: 'a1', key: 'k', digest: 'd', size: 3, name: 'x.txt', type: 'text/plain' };

describe('the archive recorder', () => {
  it('keeps a recalled message and records its recall', () => {
    const { archive, recorder } = fresh();
    recorder.message(msg(1));
    recorder.recalled({ conversationId: 'c1', seq: 1 });
    expect(archive().read('c1')).toEqual([
      expect.objectContaining({ type: 'message', seq: 1, text: 'text 1' }),
      { type: 'recall', conversationId: 'c1', recalledSeq: 1, at: new Date(0).toISOString() },
    ]);
  });

  it('archives a redelivered message and a repeated recall once', () => {
    const { archive, recorder } = fresh();
    expect([recorder.message(msg(1)), recorder.message(msg(1))]).toEqual([true, false]);
    expect([
      recorder.recalled({ conversationId: 'c1', seq: 1 }),
      recorder.recalled({ conversationId: 'c1', seq: 1 }),
    ]).toEqual([true, false]);
    expect(archive().read('c1')).toHaveLength(2);
  });

  it('stores attachments after the message, keeps a failed fetch for the next start, and fetches it then', async () => {
    const { archive, recorder } = fresh();
    recorder.message(msg(1, [file]));
    expect(await recorder.drain(async () => null)).toBe(0);
    expect(archive().hasAttachment('c1', 'a1')).toBe(false);
    const restarted = new ArchiveRecorder(archive());
    restarted.requeueMissing();
    expect(await restarted.drain(async () => new Uint8Array([1, 2, 3]))).toBe(1);
    expect([...archive().attachment('c1', 'a1')]).toEqual([1, 2, 3]);
    restarted.requeueMissing();
    let fetched = 0;
    expect(await restarted.drain(async () => (fetched++, new Uint8Array()))).toBe(0);
    expect(fetched).toBe(0);
  });

  it('survives a fetch that throws', async () => {
    const { recorder } = fresh();
    recorder.message(msg(1, [file]));
    expect(await recorder.drain(async () => Promise.reject(new Error('network')))).toBe(0);
  });
});
