import { afterEach, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';
import { buildServer } from '../../src/api/build-server.js';
import type { Authenticator } from '../../src/api/authenticate.js';
import { bearer } from '../../src/api/authenticate.js';
import { Metrics } from '../../src/api/metrics.js';
import { createLogger } from '../../src/logger.js';
import { attachmentRoutes } from '../../src/api/routes/attachment-routes.js';
import { AttachmentService, ATTACHMENT_ORPHAN_TTL_MS } from '../../src/messaging/attachment-store.js';
import type { Permission } from '../../src/auth/permissions.js';
import type { Principal } from '../../src/auth/principal.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { fakePorts, messageEvent } from '../helpers/attachment-fakes.js';
import { decryptAttachment, encryptAttachment } from '../../sdk/src/attachments.js';
import { AttachmentHttpError, receiveAttachment, sendAttachment } from '../../sdk/src/attachments-http.js';

/**
 * Encrypted attachments over real HTTP (the server's own shell: media types, permissions, problem
 * bodies) on a real database of each backend. Devices and conversation membership are fakes of
 * their ports (messaging-types.ts) until the devices and conversations parts are wired into the app.
 */
const MAX = 200_000;

/** `Bearer person:<tenant>:<kind>:<id>` is a person; `Bearer system:<tenant>` an API key. */
const testAuth: Authenticator = {
  claims: (req) => /^(person|system):/.test(bearer(req) ?? ''),
  async authenticate(req) {
    const [what, tenantId, kind, id] = bearer(req)!.split(':');
    const person = what === 'person';
    return {
      kind: person ? (kind as 'user' | 'patient') : 'api-key',
      id: person ? id! : 'k1',
      tenantId: tenantId!,
      actor: person ? `${kind}:${id}` : 'api-key:k1',
      roles: [],
      scopes: [],
      permissions: new Set<Permission>(['message.use']),
    } satisfies Principal;
  },
};

describeEachBackend('encrypted attachments over HTTP', (backend) => {
  const fresh = freshDatabases(backend);
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function start() {
    const db: TestDatabase = await fresh({ migrated: true });
    const store: KyselyStore = await migratedStore(db);
    let now = Date.now();
    const ports = fakePorts();
    ports.addDevice('t1', 'dev-a', { kind: 'user', id: 'alice' });
    ports.addDevice('t1', 'dev-b', { kind: 'patient', id: 'bob' });
    ports.addDevice('t1', 'dev-e', { kind: 'user', id: 'eve' });
    ports.addDevice('t2', 'dev-x', { kind: 'user', id: 'xavier' });
    ports.setMembers('t1', 'c1', ['dev-a', 'dev-b']);
    ports.setMembers('t2', 'c1', ['dev-x']);
    const service = new AttachmentService({
      store,
      clock: () => new Date(now),
      newId: () => `att-${randomBytes(6).toString('hex')}`,
      devices: ports.directory,
      conversations: ports.reader,
      limits: { maxBytes: MAX, quotaBytes: 10 * MAX, conversationBytes: 100 * MAX },
    });
    const server = await buildServer({
      logger: createLogger('silent'),
      bodyLimit: 64 * 1024,
      store,
      metrics: new Metrics(store),
      clock: () => new Date(now),
      publicUrl: 'http://127.0.0.1',
      extraAuthenticators: [testAuth],
    });
    server.register(attachmentRoutes, { prefix: '/v1/conversations', attachments: service });
    await server.listen({ host: '127.0.0.1', port: 0 });
    closers.push(
      () => store.close(),
      () => server.close(),
    );
    const address = server.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const call = (who: string, method: string, path: string, body?: BodyInit, type = 'application/octet-stream') =>
      fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${who}`, ...(body !== undefined ? { 'content-type': type } : {}) },
        body,
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
    const rows = () =>
      db.query<{ id: string; conversation_id: string; data: Uint8Array }>(
        'select id, conversation_id, data from message_attachments',
      );
    let seq = 0;
    /** A message of `sender` naming `ids` in c1 of t1, as the conversations part stores it; its seq. */
    const send = async (sender: string, ids: string[]) => {
      const at = ++seq;
      await store.transaction(async (tx) => {
        await messageEvent(tx, 't1', 'c1', at, sender);
        await service.attach(tx, 't1', 'c1', at, ids);
      });
      return at;
    };
    return { db, store, service, call, rows, base, send, advance: (ms: number) => (now += ms) };
  }

  const ALICE = 'person:t1:user:alice';
  const BOB = 'person:t1:patient:bob';
  const EVE = 'person:t1:user:eve';
  const XAVIER = 'person:t2:user:xavier';

  it('accepts exactly the size limit and refuses one byte more with 413, storing nothing', async () => {
    const { call, rows } = await start();
    const ok = await call(ALICE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', randomBytes(MAX));
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ size: MAX });
    const big = await call(ALICE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', randomBytes(MAX + 1));
    expect(big.status).toBe(413);
    expect((await big.json()).code).toBe('SP_MESSAGING_ATTACHMENT_TOO_LARGE');
    expect(await rows()).toHaveLength(1);
  });

  it('refuses a streamed body without Content-Length as soon as it passes the limit', async () => {
    const { call, rows } = await start();
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        // Far more than the limit if the server kept reading: it must answer before the end.
        if (sent > 50 * MAX) return c.close();
        sent += 16_384;
        c.enqueue(new Uint8Array(16_384));
      },
    });
    const res = await call(ALICE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', endless).catch(
      (e: unknown) => e,
    );
    // Node's fetch may see the connection closed before it reads the answer; either way nothing is stored.
    if (res instanceof Response) {
      expect(res.status).toBe(413);
      expect((await res.json()).code).toBe('SP_MESSAGING_ATTACHMENT_TOO_LARGE');
    }
    expect(sent).toBeLessThan(50 * MAX);
    expect(await rows()).toEqual([]);
  });

  it('gives a member the exact bytes uploaded once a message names them, as application/octet-stream', async () => {
    const { call, send } = await start();
    const bytes = randomBytes(150_000);
    const up = await call(ALICE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', bytes);
    const { id } = await up.json();
    // Unsent: only the uploader fetches it.
    expect((await call(ALICE, 'GET', `/v1/conversations/c1/attachments/${id}`)).status).toBe(200);
    const early = await call(BOB, 'GET', `/v1/conversations/c1/attachments/${id}`);
    expect((await early.json()).code).toBe('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
    // Another device cannot name it in a message of its own.
    await expect(send('dev-b', [id])).rejects.toMatchObject({ code: 'SP_MESSAGING_ATTACHMENT_NOT_FOUND' });
    await send('dev-a', [id]);
    const down = await call(BOB, 'GET', `/v1/conversations/c1/attachments/${id}`);
    expect(down.status).toBe(200);
    expect(down.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await down.arrayBuffer())).toEqual(bytes);
  });

  it('answers 404 to a non-member and to another tenant, and changes nothing', async () => {
    const { call, rows } = await start();
    const up = await call(ALICE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', randomBytes(100));
    const { id } = await up.json();
    const before = await rows();
    for (const [who, method, path, body] of [
      [EVE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-e', randomBytes(10)],
      [EVE, 'GET', `/v1/conversations/c1/attachments/${id}`],
      [XAVIER, 'GET', `/v1/conversations/c1/attachments/${id}`],
      [ALICE, 'GET', '/v1/conversations/c1/attachments/att-unknown'],
      [ALICE, 'GET', `/v1/conversations/c9/attachments/${id}`],
    ] as const) {
      const res = await call(who, method, path, body);
      expect(res.status, `${who} ${method} ${path}`).toBe(404);
    }
    // Another person's device, or another tenant's device: 403, nothing stored either.
    const foreign = await call(EVE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', randomBytes(10));
    expect((await foreign.json()).code).toBe('SP_MESSAGING_DEVICE_FORBIDDEN');
    const crossTenant = await call(XAVIER, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', randomBytes(10));
    expect(crossTenant.status).toBe(403);
    expect(await rows()).toEqual(before);
  });

  it('refuses systems, other media types, an empty body and a missing device id', async () => {
    const { call, rows } = await start();
    const path = '/v1/conversations/c1/attachments?deviceId=dev-a';
    expect((await call('system:t1', 'POST', path, randomBytes(10))).status).toBe(403);
    expect((await call(ALICE, 'POST', path, 'not binary', 'text/plain')).status).toBe(415);
    expect((await call(ALICE, 'POST', path, '{"a":1}', 'application/json')).status).toBe(415);
    // A JSON body is held to the server's JSON limit (64 KiB here), not to the attachment limit.
    const bigJson = `{"a":"${'x'.repeat(100_000)}"}`;
    expect((await call(ALICE, 'POST', path, bigJson, 'application/json')).status).toBe(413);
    expect((await call(ALICE, 'POST', path, new Uint8Array(0))).status).toBe(400);
    expect((await call(ALICE, 'POST', path)).status).toBe(400);
    expect((await call(ALICE, 'POST', '/v1/conversations/c1/attachments', randomBytes(10))).status).toBe(400);
    expect(await rows()).toEqual([]);
  });

  it('deletes an attachment with its message, and an attachment no message named after 24 hours', async () => {
    const { call, store, service, advance, send } = await start();
    const upload = async () =>
      (await (await call(ALICE, 'POST', '/v1/conversations/c1/attachments?deviceId=dev-a', randomBytes(64))).json())
        .id as string;
    const [named, orphan] = [await upload(), await upload()];
    const seq = await send('dev-a', [named]);
    advance(ATTACHMENT_ORPHAN_TTL_MS + 1);
    expect(await service.sweepOrphans()).toBe(1);
    expect((await call(BOB, 'GET', `/v1/conversations/c1/attachments/${orphan}`)).status).toBe(404);
    expect((await call(BOB, 'GET', `/v1/conversations/c1/attachments/${named}`)).status).toBe(200);
    expect(await store.transaction((tx) => service.deleteForMessages(tx, 't1', 'c1', [seq]))).toBe(1);
    const gone = await call(BOB, 'GET', `/v1/conversations/c1/attachments/${named}`);
    expect((await gone.json()).code).toBe('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
  });

  it('lets the SDK encrypt, upload, download and open a file, and refuses a tampered copy', async () => {
    const { base, db, send } = await start();
    const file = new TextEncoder().encode('x-ray report '.repeat(12_000));
    const ref = await sendAttachment(base, { token: ALICE }, 'c1', 'dev-a', file, { name: 'scan.txt' });
    expect(ref).toMatchObject({ size: file.length, name: 'scan.txt' });
    await send('dev-a', [ref.id]);
    expect(await receiveAttachment(base, { token: BOB }, 'c1', ref)).toEqual(file);
    const refused = await receiveAttachment(base, { token: EVE }, 'c1', ref).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AttachmentHttpError);
    expect((refused as AttachmentHttpError).code).toBe('SP_CONVERSATION_NOT_FOUND');
    // The server (or anyone who can write its database) alters the blob: the digest check refuses it.
    const [row] = await db.query<{ data: Uint8Array }>('select data from message_attachments');
    const altered = Buffer.from(row!.data);
    altered[100] ^= 1;
    await db.query(
      backend === 'sqlite' ? 'update message_attachments set data = ?' : 'update message_attachments set data = $1',
      [altered],
    );
    await expect(receiveAttachment(base, { token: BOB }, 'c1', ref)).rejects.toMatchObject({
      reason: 'digest-mismatch',
    });
  });

  it('describes both routes in the OpenAPI document as application/octet-stream', async () => {
    const { call } = await start();
    const spec = await (await call(ALICE, 'GET', '/openapi.json')).json();
    const up = spec.paths['/v1/conversations/{id}/attachments'].post;
    expect(Object.keys(up.requestBody.content)).toEqual(['application/octet-stream']);
    expect(up.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['deviceId', 'id']);
    const down = spec.paths['/v1/conversations/{id}/attachments/{attachmentId}'].get;
    expect(Object.keys(down.responses['200'].content)).toEqual(['application/octet-stream']);
  });

  it('stores only the ciphertext the client sent: no trace of the plaintext in the database', async () => {
    const { call, rows, db, store, send } = await start();
    const MARKER = 'PLANTED-ATTACHMENT-PLAINTEXT-7f3a';
    const plain = new TextEncoder().encode(`${MARKER} lab result scan `.repeat(3000));
    const enc = await encryptAttachment(plain);
    const up = await call(
      ALICE,
      'POST',
      '/v1/conversations/c1/attachments?deviceId=dev-a',
      new Uint8Array(enc.ciphertext),
    );
    expect(up.status).toBe(201);
    const [row] = await rows();
    expect(Buffer.from(row!.data)).toEqual(Buffer.from(enc.ciphertext));
    await send('dev-a', [row!.id]);
    const down = new Uint8Array(
      await (await call(BOB, 'GET', `/v1/conversations/c1/attachments/${row!.id}`)).arrayBuffer(),
    );
    expect(await decryptAttachment(down, enc)).toEqual(plain);
    await store.close();
    if (backend === 'sqlite') {
      const disk = readdirSync(db.dataDir)
        .filter((f) => f.startsWith('sealpost.db'))
        .map((f) => readFileSync(join(db.dataDir, f)).toString('latin1'))
        .join('');
      expect(disk.length).toBeGreaterThan(enc.ciphertext.length);
      expect(disk.includes(MARKER)).toBe(false);
    } else {
      const dump = await db.query<{ t: string }>(
        "select coalesce(string_agg(encode(data, 'escape'), ''), '') as t from message_attachments",
      );
      const audit = await db.query<{ t: string }>("select coalesce(string_agg(entry, ''), '') as t from audit_entries");
      expect(dump[0]!.t.includes(MARKER) || audit[0]!.t.includes(MARKER)).toBe(false);
    }
  });
});
