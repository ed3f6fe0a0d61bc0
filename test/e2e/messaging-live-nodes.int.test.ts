import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { sdkClient, type TestClient } from '../../sdk/test/helpers/sdk-clients.js';

/**
 * Two Sealpost nodes on one PostgreSQL database, with the real conversations part: SDK clients
 * create a conversation and send through node A; a raw WebSocket client holds the live connection
 * of the recipient's device on node B. What it receives crossed nodes through LISTEN/NOTIFY.
 */
describe.skipIf(!BACKENDS.includes('postgres'))('live delivery across two nodes (PostgreSQL)', () => {
  let db: TestDatabase;
  let a: Harness;
  let b: Harness;
  let ana: TestPerson;
  let ben: TestPerson;
  let anaClient: TestClient;
  let benClient: TestClient;
  let conv: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startSealpost({ SEALPOST_DATABASE_URL: db.url, SEALPOST_WORKER: 'false' });
    b = await startSealpost({
      SEALPOST_DATABASE_URL: db.url,
      SEALPOST_WORKER: 'false',
      SEALPOST_KEYRING_FILE: join(a.dataDir, 'keyring.json'),
    });
    [ana, ben] = [await staffWithSession(a, ['nurse']), await staffWithSession(a, ['physician'])];
    anaClient = await sdkClient(a, ana.token, 'ana');
    benClient = await sdkClient(b, ben.token, 'ben');
    conv = (await anaClient.client.createConversation({ kind: 'group', members: [{ kind: 'user', id: ben.userId }] }))
      .id;
    await benClient.client.sync(conv);
    // From here on only the raw socket below reads as Ben's device.
    benClient.client.close();
  }, 120_000);
  afterAll(async () => {
    anaClient?.client.close();
    for (const h of [b, a]) await h?.close();
    await db?.drop();
  });

  function live(h: Harness) {
    const frames: any[] = [];
    const ws = new WebSocket(
      `${h.url.replace('https:', 'wss:')}/v1/messaging/live?deviceId=${benClient.client.device!.deviceId}`,
      { headers: { authorization: `Bearer ${ben.token}` }, ca: h.cert },
    );
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    const opened = new Promise<void>((res, rej) => {
      ws.on('open', () => res());
      ws.on('error', rej);
    });
    const closed = new Promise<void>((res) => ws.on('close', () => res()));
    const seqs = () => frames.filter((f) => f.type === 'event').map((f) => f.event.seq as number);
    return { ws, frames, opened, closed, seqs };
  }

  it('delivers messages sent through node A to the live connection on node B, in order, ciphertext only', async () => {
    const c = live(b);
    await c.opened;
    const sent: number[] = [];
    for (const text of ['SECRET-LIVE one', 'SECRET-LIVE two', 'SECRET-LIVE three'])
      sent.push((await anaClient.client.send(conv, text)).seq);
    await eventually(async () => sent.every((s) => c.seqs().includes(s)), 'the three events on node B');
    const got = c.frames.filter((f) => f.type === 'event' && sent.includes(f.event.seq));
    expect(got.map((f) => f.event.seq)).toEqual(sent);
    expect(new Set(c.seqs()).size).toBe(c.seqs().length);
    for (const f of got) expect(f.event).toMatchObject({ conversationId: conv, kind: 'application' });
    expect(JSON.stringify(c.frames)).not.toContain('SECRET-LIVE');

    // An ack on node B is the device's delivery receipt, which node A reports.
    c.ws.send(JSON.stringify({ type: 'ack', conversationId: conv, seq: sent[2] }));
    await eventually(async () => {
      const r = await anaClient.client.receipts(conv, sent[2]!);
      return r.delivered.some((d) => d.deviceId === benClient.client.device!.deviceId);
    }, 'the ack recorded as a delivery receipt');
    c.ws.close();
    await c.closed;
  });

  it('sends what arrived while the device was away, after its acknowledged cursor, on reconnect to the other node', async () => {
    const missed = [
      (await anaClient.client.send(conv, 'while away 1')).seq,
      (await anaClient.client.send(conv, 'while away 2')).seq,
    ];
    const c = live(a);
    await c.opened;
    await eventually(async () => missed.every((s) => c.seqs().includes(s)), 'the missed events');
    expect(c.seqs()).toEqual(missed);
    c.ws.close();
    await c.closed;
  });
});
