import { expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { describeEachBackend, freshDatabases, migratedStore } from '../../test/helpers/backends.js';
import type { KyselyStore } from '../store/kysely-store.js';
import { AttachmentService, ATTACHMENT_ORPHAN_TTL_MS, type AttachmentCaller } from './attachment-store.js';
import type { Person } from './messaging-types.js';
import { fakePorts, messageEvent } from '../../test/helpers/attachment-fakes.js';

const ALICE: Person = { kind: 'user', id: 'alice' };
const BOB: Person = { kind: 'patient', id: 'bob-account' };
const EVE: Person = { kind: 'user', id: 'eve' };
const as = (person: Person, tenantId = 't1'): AttachmentCaller => ({
  tenantId,
  actor: `${person.kind}:${person.id}`,
  person,
});

describeEachBackend('encrypted attachments: store, link, delete, sweep', (backend) => {
  const fresh = freshDatabases(backend);

  async function setup(limits = { maxBytes: 1000, quotaBytes: 2500, conversationBytes: 100_000 }) {
    const db = await fresh({ migrated: true });
    const store: KyselyStore = await migratedStore(db);
    let now = Date.UTC(2026, 0, 1);
    const ports = fakePorts();
    ports.addDevice('t1', 'dev-a', ALICE);
    ports.addDevice('t1', 'dev-b', BOB);
    ports.addDevice('t1', 'dev-e', EVE);
    ports.addDevice('t1', 'dev-old', ALICE, 'revoked');
    ports.addDevice('t2', 'dev-x', { kind: 'user', id: 'xavier' });
    ports.setMembers('t1', 'c1', ['dev-a', 'dev-b', 'dev-old']);
    ports.setMembers('t1', 'c2', ['dev-a']);
    ports.setMembers('t2', 'c1', ['dev-x']);
    let n = 0;
    const service = new AttachmentService({
      store,
      clock: () => new Date(now),
      newId: () => `att-${++n}`,
      devices: ports.directory,
      conversations: ports.reader,
      limits,
    });
    const audit = async () =>
      (await db.query<{ action: string; entry: string }>('select action, entry from audit_entries')).map((r) => ({
        action: r.action,
        ...JSON.parse(r.entry),
      }));
    const rows = () => db.query<{ id: string; size: number }>('select id, size from message_attachments order by id');
    /** A message of `sender` at `seq` naming `ids`, as the conversations part stores it (one transaction). */
    const send = (seq: number, sender: string, ids: string[], conversationId = 'c1', tenantId = 't1') =>
      store.transaction(async (tx) => {
        await messageEvent(tx, tenantId, conversationId, seq, sender);
        await service.attach(tx, tenantId, conversationId, seq, ids);
      });
    return { db, store, service, audit, rows, send, ports, advance: (ms: number) => (now += ms) };
  }

  it('stores exactly the uploaded bytes for a member device and gives them back to the members the message reaches', async () => {
    const { service, db, audit, send } = await setup();
    const bytes = randomBytes(1000);
    expect(await service.upload(as(ALICE), 'c1', 'dev-a', bytes)).toEqual({ id: 'att-1', size: 1000 });
    await send(1, 'dev-a', ['att-1']);
    expect(Buffer.from(await service.download(as(BOB), 'c1', 'att-1'))).toEqual(bytes);
    const [row] = await db.query<{ data: Uint8Array }>('select data from message_attachments');
    expect(Buffer.from(row!.data)).toEqual(bytes);
    const stored = (await audit()).filter((e) => e.action === 'attachment.stored');
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ target: { type: 'attachment', id: 'att-1' }, details: { size: 1000 } });
  });

  it('refuses a device of another person, a revoked device or another tenant’s device, storing nothing', async () => {
    const { service, rows } = await setup();
    const refusals = [
      service.upload(as(EVE), 'c1', 'dev-a', randomBytes(10)),
      service.upload(as(ALICE), 'c1', 'dev-old', randomBytes(10)),
      service.upload(as(ALICE), 'c1', 'dev-x', randomBytes(10)),
    ];
    for (const r of refusals) await expect(r).rejects.toMatchObject({ code: 'SP_MESSAGING_DEVICE_FORBIDDEN' });
    expect(await rows()).toEqual([]);
  });

  it('answers 404 to a non-member and for a conversation of another tenant, on upload and download', async () => {
    const { service, rows } = await setup();
    await expect(service.upload(as(EVE), 'c1', 'dev-e', randomBytes(10))).rejects.toMatchObject({
      code: 'SP_CONVERSATION_NOT_FOUND',
    });
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(10));
    await expect(service.download(as(EVE), 'c1', 'att-1')).rejects.toMatchObject({ code: 'SP_CONVERSATION_NOT_FOUND' });
    const xavier = as({ kind: 'user', id: 'xavier' }, 't2');
    await expect(service.download(xavier, 'c1', 'att-1')).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
    });
    // Alice is a member of c2, but att-1 belongs to c1.
    await expect(service.download(as(ALICE), 'c2', 'att-1')).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
    });
    expect(await rows()).toHaveLength(1);
  });

  it('refuses an upload past the size limit, past the device’s unsent bytes and past the conversation’s total, storing nothing', async () => {
    const { service, store, rows, send } = await setup({ maxBytes: 1000, quotaBytes: 2500, conversationBytes: 4000 });
    const quota = { code: 'SP_MESSAGING_ATTACHMENT_QUOTA' };
    await expect(service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(1001))).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_TOO_LARGE',
    });
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(1000)); // att-1
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(1000)); // att-2
    await expect(service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(501))).rejects.toMatchObject(quota); // att-3
    // Alice's unsent bytes do not use up Bob's room.
    await service.upload(as(BOB), 'c1', 'dev-b', randomBytes(1000)); // att-4
    // Nor can Alice multiply her cap by using another conversation.
    await expect(service.upload(as(ALICE), 'c2', 'dev-a', randomBytes(501))).rejects.toMatchObject(quota); // att-5
    // Sent bytes no longer count for the device, but still for the conversation (4000 stored now).
    await send(7, 'dev-a', ['att-1', 'att-2']);
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(1000)); // att-6
    await expect(service.upload(as(BOB), 'c1', 'dev-b', randomBytes(1))).rejects.toMatchObject(quota); // att-7
    expect((await rows()).map((r) => r.id)).toEqual(['att-1', 'att-2', 'att-4', 'att-6']);
    // Recall (or purge) frees the conversation's room.
    await store.transaction((tx) => service.deleteForMessages(tx, 't1', 'c1', [7]));
    await service.upload(as(BOB), 'c1', 'dev-b', randomBytes(1000)); // att-8
    expect((await rows()).map((r) => r.id)).toEqual(['att-4', 'att-6', 'att-8']);
  });

  it('keeps the quota when uploads to one conversation race (they take turns)', async () => {
    const { service, rows } = await setup({ maxBytes: 1000, quotaBytes: 3000, conversationBytes: 100_000 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(1000))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'SP_MESSAGING_ATTACHMENT_QUOTA' });
    expect(await rows()).toHaveLength(3);
  });

  it('links attachments to a message once, refusing unknown, foreign, other devices’ and already linked ids with nothing changed', async () => {
    const { service, store, db, send } = await setup();
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(10));
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(10));
    await service.upload(as(ALICE), 'c2', 'dev-a', randomBytes(10));
    await service.upload(as(BOB), 'c1', 'dev-b', randomBytes(10)); // att-4
    await store.transaction((tx) => messageEvent(tx, 't1', 'c1', 5, 'dev-a'));
    const linked = () =>
      db.query<{ id: string; message_seq: number | null }>(
        'select id, message_seq from message_attachments order by id',
      );
    for (const ids of [
      ['att-1', 'nope'],
      ['att-1', 'att-3'],
      ['att-1', 'att-4'], // Bob's upload: Alice's message cannot name it
    ])
      await expect(store.transaction((tx) => service.attach(tx, 't1', 'c1', 5, ids))).rejects.toMatchObject({
        code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
      });
    await expect(store.transaction((tx) => service.attach(tx, 't2', 'c1', 5, ['att-1']))).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
    });
    // Bob's message cannot name Alice's upload; a seq with no message names nothing.
    await expect(send(8, 'dev-b', ['att-2'])).rejects.toMatchObject({ code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND' });
    await expect(store.transaction((tx) => service.attach(tx, 't1', 'c1', 99, ['att-1']))).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
    });
    expect((await linked()).every((r) => r.message_seq === null)).toBe(true);
    await store.transaction((tx) => service.attach(tx, 't1', 'c1', 5, ['att-1', 'att-2', 'att-1']));
    await expect(send(6, 'dev-a', ['att-2'])).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
    });
    expect((await linked()).map((r) => [r.id, r.message_seq === null ? null : Number(r.message_seq)])).toEqual([
      ['att-1', 5],
      ['att-2', 5],
      ['att-3', null],
      ['att-4', null],
    ]);
  });

  it('serves an attachment to its uploader, and to others only once a message they may read names it', async () => {
    const { service, send, ports } = await setup();
    const bytes = randomBytes(10);
    await service.upload(as(ALICE), 'c1', 'dev-a', bytes);
    const notFound = { code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND' };
    // Not sent yet: only the uploader may fetch it.
    expect(Buffer.from(await service.download(as(ALICE), 'c1', 'att-1'))).toEqual(bytes);
    await expect(service.download(as(BOB), 'c1', 'att-1')).rejects.toMatchObject(notFound);
    await send(5, 'dev-a', ['att-1']);
    expect(Buffer.from(await service.download(as(BOB), 'c1', 'att-1'))).toEqual(bytes);
    // A device that joined after the message, or left before it, is not served it.
    ports.setWindow('t1', 'c1', 'dev-b', 6);
    await expect(service.download(as(BOB), 'c1', 'att-1')).rejects.toMatchObject(notFound);
    ports.setWindow('t1', 'c1', 'dev-b', 1, 4);
    await expect(service.download(as(BOB), 'c1', 'att-1')).rejects.toMatchObject(notFound);
  });

  it('deletes the attachments of recalled or purged messages and of a deleted conversation, audited with counts', async () => {
    const { service, store, rows, audit, send } = await setup();
    for (let i = 0; i < 3; i++) await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(100));
    await service.upload(as(ALICE), 'c2', 'dev-a', randomBytes(100));
    await send(1, 'dev-a', ['att-1', 'att-2']);
    await send(2, 'dev-a', ['att-3']);
    expect(await store.transaction((tx) => service.deleteForMessages(tx, 't2', 'c1', [1]))).toBe(0);
    expect(await store.transaction((tx) => service.deleteForMessages(tx, 't1', 'c1', [1, 9]))).toBe(2);
    expect((await rows()).map((r) => r.id)).toEqual(['att-3', 'att-4']);
    await expect(service.download(as(BOB), 'c1', 'att-1')).rejects.toMatchObject({
      code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND',
    });
    expect(await store.transaction((tx) => service.deleteForConversation(tx, 't1', 'c1'))).toBe(1);
    expect((await rows()).map((r) => r.id)).toEqual(['att-4']);
    const deleted = (await audit()).filter((e) => e.action === 'attachment.deleted');
    expect(deleted).toHaveLength(2);
    expect(deleted.map((e) => e.details)).toEqual(
      expect.arrayContaining([
        { reason: 'message', count: 2, bytes: 200 },
        { reason: 'conversation', count: 1, bytes: 100 },
      ]),
    );
  });

  it('sweeps attachments no message named within 24 hours, and only those', async () => {
    const { service, rows, audit, advance, send } = await setup();
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(100));
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(100));
    await service.upload(as(ALICE), 'c2', 'dev-a', randomBytes(50));
    await send(1, 'dev-a', ['att-1']);
    advance(ATTACHMENT_ORPHAN_TTL_MS - 1000);
    await service.upload(as(ALICE), 'c1', 'dev-a', randomBytes(100));
    expect(await service.sweepOrphans()).toBe(0);
    advance(2000);
    expect(await service.sweepOrphans(1)).toBe(2);
    expect((await rows()).map((r) => r.id)).toEqual(['att-1', 'att-4']);
    const swept = (await audit()).filter((e) => e.action === 'attachment.deleted');
    expect(swept).toHaveLength(2);
    expect(swept.map((e) => [e.target.id, e.details])).toEqual(
      expect.arrayContaining([
        ['c1', { reason: 'unlinked', count: 1, bytes: 100 }],
        ['c2', { reason: 'unlinked', count: 1, bytes: 50 }],
      ]),
    );
  });
});
