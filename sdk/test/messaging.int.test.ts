import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptAll, emptyPskIndex, processMessage } from 'ts-mls';
import { eventually, startSealpost, type Harness } from '../../test/helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../../test/helpers/identity.js';
import { sdkClient, trustingFetch, type TestClient } from './helpers/sdk-clients.js';
import { decodeMessage, loadState, suiteImpl } from '../src/messaging/mls.js';
import { Http } from '../src/messaging/http.js';
import { createRestClient } from '../src/rest-client.js';
import type { ConversationEvent } from '../src/messaging/wire-types.js';
import { CIPHER_SUITES, type CipherSuiteName } from '../src/cipher-suites.js';
import { MessagingClient } from '../src/messaging/messaging-client.js';

/**
 * Three SDK clients in Node through the REAL server (SQLite) in one group: messages, replies,
 * urgent, receipts, attachments, key packages, a new member cannot read what preceded, recall, live
 * delivery, a reopened client, a removed member cannot read what follows. Membership and the
 * refused ghost device: messaging-groups.int.test.ts.
 */
describe('messaging between SDK clients through the real server', () => {
  let h: Harness;
  let ana: TestPerson, ben: TestPerson, cai: TestPerson;
  let a: TestClient, b: TestClient, c: TestClient;
  let conv: string;

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    [ana, ben, cai] = [
      await staffWithSession(h, ['nurse']),
      await staffWithSession(h, ['physician']),
      await staffWithSession(h, ['nurse']),
    ];
    [a, b, c] = [
      await sdkClient(h, ana.token, 'ana'),
      await sdkClient(h, ben.token, 'ben'),
      await sdkClient(h, cai.token, 'cai'),
    ];
  });
  afterAll(async () => {
    for (const t of [a, b, c]) t?.client.close();
    await h?.close();
  });

  /** Events of a conversation as one device may read them (raw ciphertext). */
  async function rawEvents(t: TestClient, token: string): Promise<ConversationEvent[]> {
    const http = new Http({ baseUrl: h.url, token, fetch: trustingFetch(h.cert) });
    const r = await http.get<{ items: ConversationEvent[] }>(
      `/v1/conversations/${conv}/events?deviceId=${t.client.device!.deviceId}&after=0&limit=100`,
    );
    return r.items;
  }

  /** Tries to decrypt an application event with a client's current MLS state. */
  async function canDecrypt(t: TestClient, ev: ConversationEvent): Promise<boolean> {
    const bytes = await t.store.get(`group/${conv}`);
    if (!bytes) return false;
    const state = loadState(bytes, { ...(await import('ts-mls/clientConfig.js')).defaultClientConfig });
    const m = decodeMessage(ev.data!);
    if (m.wireformat !== 'mls_private_message') return false;
    try {
      const r = await processMessage(
        m,
        state,
        emptyPskIndex,
        acceptAll,
        await suiteImpl(state.groupContext.cipherSuite as CipherSuiteName),
      );
      return r.kind === 'applicationMessage';
    } catch {
      return false;
    }
  }

  it('lets two members exchange messages, replies and urgent messages the server cannot read', async () => {
    const view = await a.client.createConversation({ kind: 'group', members: [{ kind: 'user', id: ben.userId }] });
    conv = view.id;
    expect(view.epoch).toBe(1);
    await b.client.sync(conv);
    expect(b.events.membership).toContainEqual(expect.objectContaining({ conversationId: conv, change: 'joined' }));

    const first = await a.client.send(conv, 'SECRET-MARKER hello ben');
    await b.client.sync(conv);
    const got = await b.client.messages(conv);
    expect(got).toEqual([
      expect.objectContaining({
        seq: first.seq,
        body: 'SECRET-MARKER hello ben',
        sender: { kind: 'user', id: ana.userId },
        mine: false,
      }),
    ]);

    const reply = await b.client.send(conv, 'on my way', { replyTo: first.seq, urgent: true });
    await a.client.sync(conv);
    expect(await a.client.messages(conv)).toContainEqual(
      expect.objectContaining({ seq: reply.seq, body: 'on my way', replyTo: first.seq, urgent: true, mine: false }),
    );
    // The server holds ciphertext only.
    const events = await rawEvents(a, ana.token);
    expect(JSON.stringify(events)).not.toContain('SECRET-MARKER');
    expect(JSON.stringify(events)).not.toContain(Buffer.from('SECRET-MARKER').toString('base64').slice(0, 12));
  });

  it('reads the same conversation through the typed REST client', async () => {
    const api = createRestClient(h.url, { token: ben.token, fetch: trustingFetch(h.cert) });
    const { data, error } = await api.GET('/v1/conversations/{id}', { params: { path: { id: conv } } });
    expect(error).toBeUndefined();
    expect(data?.members.map((m) => m.id).sort()).toEqual([ana.userId, ben.userId].sort());
    const missing = await api.GET('/v1/conversations/{id}', { params: { path: { id: 'no-such-conversation' } } });
    expect(missing.response.status).toBe(404);
    expect((missing.error as { code?: string }).code).toBe('SP_CONVERSATION_NOT_FOUND');
  });

  it('reports delivery receipts (cursors) and end-to-end read receipts', async () => {
    const sent = await a.client.send(conv, 'please confirm');
    await b.client.sync(conv);
    const receipts = await a.client.receipts(conv, sent.seq);
    expect(receipts.delivered.map((d) => d.deviceId)).toContain(b.client.device!.deviceId);
    await b.client.markRead(conv, sent.seq);
    await a.client.sync(conv);
    expect(a.events.read).toContainEqual(
      expect.objectContaining({ conversationId: conv, seq: sent.seq, reader: { kind: 'user', id: ben.userId } }),
    );
  });

  it('sends attachments encrypted: the server stores ciphertext, members download and open them', async (ctx) => {
    // Skipped only while the attachment routes are not registered in this checkout.
    const doc = (await h.request('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    if (!doc.paths['/v1/conversations/{id}/attachments']) return ctx.skip();
    const data = new TextEncoder().encode('SECRET-MARKER lab report '.repeat(5000));
    const sent = await b.client.send(conv, 'labs attached', {
      attachments: [{ name: 'labs.txt', type: 'text/plain', data }],
    });
    await a.client.sync(conv);
    const got = (await a.client.messages(conv)).find((m) => m.seq === sent.seq)!;
    expect(got.attachments).toEqual([
      expect.objectContaining({ name: 'labs.txt', type: 'text/plain', size: data.length }),
    ]);
    expect(await a.client.downloadAttachment(conv, got.attachments[0]!)).toEqual(data);
    const stored = await new Http({
      baseUrl: h.url,
      token: ana.token,
      fetch: trustingFetch(h.cert),
    }).request<Uint8Array>('GET', `/v1/conversations/${conv}/attachments/${got.attachments[0]!.id}`);
    expect(Buffer.from(stored).toString('latin1')).not.toContain('SECRET-MARKER');
  });

  it('keeps key packages of both suites on the server and tops them up after claims', async () => {
    const http = new Http({ baseUrl: h.url, token: ben.token, fetch: trustingFetch(h.cert) });
    const path = `/v1/messaging/devices/${b.client.device!.deviceId}/key-packages`;
    type Counts = { counts: Record<string, { available: number; lastResort: boolean }> };
    const before = await http.get<Counts>(path);
    expect(before.counts[CIPHER_SUITES[1]]).toEqual({ available: 3, lastResort: true });
    const classic = before.counts[CIPHER_SUITES[0]]!;
    expect(classic.lastResort).toBe(true);
    await new Http({ baseUrl: h.url, token: ana.token, fetch: trustingFetch(h.cert) }).post(
      '/v1/messaging/key-packages/claim',
      { conversationId: conv, deviceIds: [b.client.device!.deviceId], cipherSuite: CIPHER_SUITES[0] },
    );
    expect((await http.get<Counts>(path)).counts[CIPHER_SUITES[0]]!.available).toBe(classic.available - 1);
    await b.client.replenishKeyPackages();
    expect((await http.get<Counts>(path)).counts[CIPHER_SUITES[0]]).toEqual({ available: 3, lastResort: true });
  });

  it('a new member cannot read what preceded their joining', async () => {
    const before = (await rawEvents(b, ben.token)).filter((e) => e.kind === 'application');
    await a.client.addMember(conv, { kind: 'user', id: cai.userId });
    await c.client.sync(conv);
    expect(c.events.membership).toContainEqual(expect.objectContaining({ conversationId: conv, change: 'joined' }));
    expect(await c.client.messages(conv)).toEqual([]);
    for (const ev of before) expect(await canDecrypt(c, ev)).toBe(false);

    const hello = await a.client.send(conv, 'welcome cai');
    await c.client.sync(conv);
    await b.client.sync(conv);
    expect((await c.client.messages(conv)).map((m) => m.seq)).toEqual([hello.seq]);
    expect((await b.client.messages(conv)).map((m) => m.body)).toContain('welcome cai');
  });

  it('recall deletes the message on the server and on every device', async () => {
    const oops = await a.client.send(conv, 'wrong patient');
    await b.client.sync(conv);
    await c.client.sync(conv);
    expect((await c.client.messages(conv)).map((m) => m.seq)).toContain(oops.seq);
    await a.client.recall(conv, oops.seq);
    await b.client.sync(conv);
    await c.client.sync(conv);
    for (const t of [a, b, c]) expect((await t.client.messages(conv)).map((m) => m.seq)).not.toContain(oops.seq);
    expect(c.events.recalled).toContainEqual({ conversationId: conv, seq: oops.seq });
    const onServer = (await rawEvents(c, cai.token)).find((e) => e.seq === oops.seq);
    expect(onServer?.data ?? null).toBeNull();
  });

  it('delivers live over the WebSocket', async () => {
    await c.client.connect();
    const sent = await a.client.send(conv, 'live one');
    await eventually(async () => (c.events.message ?? []).some((m) => m.seq === sent.seq), 'live delivery to cai');
    c.client.close();
  });

  it('a client reopened over its key store carries on (group states decoded from the store)', async () => {
    const reopened = await MessagingClient.open({
      baseUrl: h.url,
      token: cai.token,
      keyStore: c.store,
      fetch: trustingFetch(h.cert),
    });
    expect(reopened.device?.deviceId).toBe(c.client.device!.deviceId);
    const sent = await a.client.send(conv, 'still there?');
    await reopened.sync(conv);
    expect((await reopened.messages(conv)).map((m) => m.body)).toContain('still there?');
    const answer = await reopened.send(conv, 'yes', { replyTo: sent.seq });
    await a.client.sync(conv);
    expect((await a.client.messages(conv)).map((m) => m.seq)).toContain(answer.seq);
    // The first instance reads its state from the same store: it carries on where the other stopped.
    const next = await a.client.send(conv, 'and now?');
    await c.client.sync(conv);
    expect((await c.client.messages(conv)).map((m) => m.seq)).toContain(next.seq);
  });

  it('a removed member cannot read what follows', async () => {
    await a.client.removeMember(conv, { kind: 'user', id: ben.userId });
    const after = await a.client.send(conv, 'after ben left');
    await c.client.sync(conv);
    expect((await c.client.messages(conv)).map((m) => m.body)).toContain('after ben left');
    const ev = (await rawEvents(c, cai.token)).find((e) => e.seq === after.seq)!;
    expect(await canDecrypt(b, ev)).toBe(false);
    // The control: a member's state from before it read the message does open it.
    const next = await a.client.send(conv, 'cai can read this');
    const nextEv = (await rawEvents(c, cai.token)).find((e) => e.seq === next.seq)!;
    expect(await canDecrypt(c, nextEv)).toBe(true);
    expect(await canDecrypt(b, nextEv)).toBe(false);
    await b.client.sync(conv).catch(() => undefined);
    expect((await b.client.messages(conv)).map((m) => m.body)).not.toContain('after ben left');
  });
});
