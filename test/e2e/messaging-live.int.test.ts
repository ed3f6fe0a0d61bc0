import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import WebSocket from 'ws';
import { BACKENDS, createTestDatabase, type BackendName, type TestDatabase } from '../helpers/backends.js';
import { freePort, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { loadConfig } from '../../src/config/load-config.js';
import { buildServer } from '../../src/api/build-server.js';
import { Metrics } from '../../src/api/metrics.js';
import { SESSION_COOKIE, SessionService, sessionPolicy } from '../../src/auth/session-service.js';
import { messagingLiveRoutes } from '../../src/api/routes/messaging-live-routes.js';
import { LiveHub } from '../../src/messaging/live-hub.js';
import { CLOSE } from '../../src/messaging/live-connection.js';
import type { TypedApp } from '../../src/api/types.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import type {
  ConversationEvent,
  ConversationReader,
  DeviceDirectory,
  MessagingDevice,
} from '../../src/messaging/messaging-types.js';

/**
 * Live delivery over real WebSockets (ws) through the real HTTP stack (authentication, sessions,
 * the Origin check) on real databases: two nodes on one PostgreSQL database hear each other through
 * LISTEN/NOTIFY; one SQLite node delivers in-process. The devices and conversations parts are fakes
 * of their ports (one in-memory log both nodes read, standing in for the shared tables).
 */
class MemoryConversations implements ConversationReader {
  events = new Map<string, ConversationEvent[]>();
  members = new Map<string, string[]>();
  cursors = new Map<string, number>();
  append(conversationId: string): number {
    const list = this.events.get(conversationId) ?? [];
    list.push({
      conversationId,
      seq: list.length + 1,
      kind: 'application',
      epoch: 1,
      sender: { deviceId: 'dev-sender' },
      data: Buffer.from(`ciphertext ${list.length + 1}`).toString('base64'),
      urgent: false,
      attachments: [],
      recalledSeq: null,
      createdAt: new Date().toISOString(),
    });
    this.events.set(conversationId, list);
    return list.length;
  }
  async memberDevices(_t: string, c: string) {
    return this.members.get(c) ?? [];
  }
  async eventsFor(_t: string, c: string, d: string, after: number, limit: number) {
    if (!(this.members.get(c) ?? []).includes(d)) return [];
    return (this.events.get(c) ?? []).filter((e) => e.seq > after).slice(0, limit);
  }
  async conversationsOf(_t: string, d: string) {
    return [...this.members]
      .filter(([, ds]) => ds.includes(d))
      .map(([c]) => ({
        conversationId: c,
        latestSeq: this.events.get(c)?.length ?? 0,
        cursor: this.cursors.get(`${c}/${d}`) ?? 0,
        epoch: 1,
      }));
  }
  async acknowledge(_t: string, c: string, d: string, seq: number) {
    const k = `${c}/${d}`;
    this.cursors.set(k, Math.max(this.cursors.get(k) ?? 0, Math.min(seq, this.events.get(c)?.length ?? 0)));
  }
}

class MemoryDevices implements DeviceDirectory {
  devices = new Map<string, MessagingDevice>();
  add(deviceId: string, userId: string, status: 'active' | 'revoked' = 'active') {
    this.devices.set(deviceId, {
      tenantId: 'default',
      deviceId,
      person: { kind: 'user', id: userId },
      signatureKey: new Uint8Array(32),
      status,
      registeredAt: Date.now(),
      revokedAt: null,
    });
  }
  async device(_tx: unknown, tenantId: string, deviceId: string) {
    const d = this.devices.get(deviceId);
    return d && d.tenantId === tenantId ? d : null;
  }
  async activeDevices() {
    return [];
  }
  async claimKeyPackages() {
    return [];
  }
}

interface Node {
  server: TypedApp;
  hub: LiveHub;
  url: string;
  origin: string;
  store: KyselyStore;
  sessions: SessionService;
}

async function startNode(
  db: TestDatabase,
  name: string,
  conv: MemoryConversations,
  devices: MemoryDevices,
): Promise<Node> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // Only the session policy is read from it (the listener here is plain HTTP on loopback).
  const config = loadConfig({ ...db.env, SEALPOST_DATA_DIR: db.dataDir, SEALPOST_PUBLIC_URL: 'https://127.0.0.1' });
  const store = db.open({ nodeId: name });
  await store.migrate();
  await store.read.tenants.ensure('default', 'Test', Date.now());
  const sessions = new SessionService(store, sessionPolicy(config.identity), () => new Date());
  const server = await buildServer({
    logger: pino({ level: 'silent' }),
    bodyLimit: 1_000_000,
    store,
    metrics: new Metrics(store),
    clock: () => new Date(),
    publicUrl: origin,
    sessions,
  });
  const hub = new LiveHub({
    reader: conv,
    signal: store.feedSignal,
    maxBufferedBytes: 1 << 20,
    batch: 50,
    onError: () => {},
  });
  hub.start();
  // A short keep-alive tick, so the periodic checks (revoked device, ended session) run during the test.
  server.register(messagingLiveRoutes, {
    prefix: '/v1/messaging',
    hub,
    devices,
    store,
    publicUrl: origin,
    keepAliveMs: 100,
  });
  await server.listen({ port, host: '127.0.0.1' });
  return { server, hub, url: `ws://127.0.0.1:${port}/v1/messaging/live`, origin, store, sessions };
}

/** A connected client collecting frames, or the HTTP status the upgrade was refused with. */
function connect(url: string, headers: Record<string, string>) {
  const frames: any[] = [];
  let waiters: (() => void)[] = [];
  const ws = new WebSocket(url, { headers });
  ws.on('message', (d) => {
    frames.push(JSON.parse(String(d)));
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  const closed = new Promise<{ code: number; reason: string }>((res) =>
    ws.on('close', (code, reason) => res({ code, reason: String(reason) })),
  );
  const opened = new Promise<number>((res) => {
    ws.on('open', () => res(101));
    ws.on('unexpected-response', (_req, r) => {
      res(r.statusCode ?? 0);
      r.resume();
      ws.terminate();
    });
    ws.on('error', () => res(0));
  });
  return {
    ws,
    frames,
    opened,
    closed,
    /** Waits until `n` frames arrived (the test's timeout bounds the wait). */
    async frameCount(n: number) {
      while (frames.length < n) await new Promise<void>((r) => waiters.push(r));
      return frames;
    },
    seqs: (c: string) =>
      frames.filter((f) => f.type === 'event' && f.event.conversationId === c).map((f) => f.event.seq),
  };
}

const asHarness = (n: Node) => ({ app: { store: n.store, sessions: n.sessions } }) as unknown as Harness;

for (const backend of BACKENDS as BackendName[]) {
  describe(`live delivery over WebSocket [${backend}]`, () => {
    let db: TestDatabase;
    const nodes: Node[] = [];
    const conv = new MemoryConversations();
    const devices = new MemoryDevices();
    let a: Node;
    let b: Node;
    let alice: { userId: string; token: string };
    let bob: { userId: string; token: string };

    beforeAll(async () => {
      db = await createTestDatabase(backend);
      a = await startNode(db, 'node-a', conv, devices);
      nodes.push(a);
      // On SQLite one process is the whole installation: "both nodes" are the same one.
      b = backend === 'postgres' ? await startNode(db, 'node-b', conv, devices) : a;
      if (b !== a) nodes.push(b);
      alice = await staffWithSession(asHarness(a), ['nurse']);
      bob = await staffWithSession(asHarness(a), ['physician']);
      devices.add('dev-alice', alice.userId);
      devices.add('dev-bob', bob.userId);
      devices.add('dev-alice-old', alice.userId, 'revoked');
    }, 60_000);
    afterAll(async () => {
      for (const n of nodes) await n.server.close();
      await db?.drop();
    });

    const bearer = (p: { token: string }) => ({ authorization: `Bearer ${p.token}` });

    it('delivers events published on one node to a live connection on the other, in order and once each', async () => {
      conv.members.set('conv-1', ['dev-alice', 'dev-bob']);
      const c = connect(`${b.url}?deviceId=dev-alice`, bearer(alice));
      expect(await c.opened).toBe(101);
      // The registration happens after the upgrade: wait until node B holds the connection.
      while (!b.hub.isLocal('default', 'dev-alice')) await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 5; i++) a.hub.published('default', 'conv-1', conv.append('conv-1'));
      await c.frameCount(5);
      expect(c.seqs('conv-1')).toEqual([1, 2, 3, 4, 5]);
      expect(c.frames[0].event).toMatchObject({ conversationId: 'conv-1', kind: 'application', seq: 1 });
      c.ws.close();
      await c.closed;
    });

    it('sends what was missed on reconnect, after the cursor its acks moved', async () => {
      conv.members.set('conv-2', ['dev-bob']);
      for (let i = 0; i < 3; i++) conv.append('conv-2');
      const first = connect(`${a.url}?deviceId=dev-bob`, bearer(bob));
      // Bob is also a member of conv-1 (5 events, never acknowledged).
      await first.frameCount(8);
      expect(first.seqs('conv-2')).toEqual([1, 2, 3]);
      first.ws.send(JSON.stringify({ type: 'ack', conversationId: 'conv-2', seq: 2 }));
      while ((conv.cursors.get('conv-2/dev-bob') ?? 0) < 2) await new Promise((r) => setTimeout(r, 10));
      first.ws.close();
      await first.closed;
      conv.append('conv-2');
      const again = connect(`${b.url}?deviceId=dev-bob`, bearer(bob));
      await again.frameCount(7);
      expect(again.seqs('conv-2')).toEqual([3, 4]);
      expect(again.seqs('conv-1')).toEqual([1, 2, 3, 4, 5]);
      again.ws.close();
      await again.closed;
    });

    it('refuses an upgrade without credentials, with an unknown, revoked or other person’s device', async () => {
      expect(await connect(`${a.url}?deviceId=dev-alice`, {}).opened).toBe(401);
      expect(await connect(`${a.url}?deviceId=dev-bob`, bearer(alice)).opened).toBe(403);
      expect(await connect(`${a.url}?deviceId=dev-nobody`, bearer(alice)).opened).toBe(403);
      expect(await connect(`${a.url}?deviceId=dev-alice-old`, bearer(alice)).opened).toBe(403);
      expect(await connect(`${a.url}?deviceId=bad%20id`, bearer(alice)).opened).toBe(400);
    });

    it('accepts the session cookie from our own origin only (no cross-site WebSocket hijacking)', async () => {
      const s = await a.store.transaction((tx) =>
        a.sessions.issue(tx, {
          tenantId: 'default',
          subjectType: 'user',
          subjectId: alice.userId,
          transport: 'cookie',
          stage: 'active',
          amr: ['pwd', 'otp', 'mfa'],
        }),
      );
      const cookie = `${SESSION_COOKIE}=${s.token}`;
      expect(await connect(`${a.url}?deviceId=dev-alice`, { cookie, origin: 'https://evil.example' }).opened).toBe(403);
      expect(await connect(`${a.url}?deviceId=dev-alice`, { cookie }).opened).toBe(403);
      const ok = connect(`${a.url}?deviceId=dev-alice`, { cookie, origin: a.origin });
      expect(await ok.opened).toBe(101);
      ok.ws.close();
      await ok.closed;
    });

    it('answers a plain GET with 426 once caller and device are accepted', async () => {
      const res = await fetch(`${a.origin}/v1/messaging/live?deviceId=dev-alice`, { headers: bearer(alice) });
      expect(res.status).toBe(426);
      expect(((await res.json()) as { code: string }).code).toBe('SP_MESSAGING_LIVE_UPGRADE_REQUIRED');
    });

    it('closes a connection that sends an oversized or malformed frame', async () => {
      const big = connect(`${a.url}?deviceId=dev-alice`, bearer(alice));
      expect(await big.opened).toBe(101);
      big.ws.send('x'.repeat(10_000));
      expect((await big.closed).code).toBe(CLOSE.tooBig);
      const bad = connect(`${a.url}?deviceId=dev-alice`, bearer(alice));
      expect(await bad.opened).toBe(101);
      while (!a.hub.isLocal('default', 'dev-alice')) await new Promise((r) => setTimeout(r, 10));
      bad.ws.send(JSON.stringify({ type: 'ack', conversationId: 'conv-1', seq: -1 }));
      expect((await bad.closed).code).toBe(CLOSE.invalidFrame);
    });

    it('closes a connection whose session was signed out, without telling the device it was revoked', async () => {
      const s = await a.store.transaction((tx) =>
        a.sessions.issue(tx, {
          tenantId: 'default',
          subjectType: 'user',
          subjectId: bob.userId,
          transport: 'bearer',
          stage: 'active',
          amr: ['pwd', 'otp', 'mfa'],
        }),
      );
      const c = connect(`${b.url}?deviceId=dev-bob`, { authorization: `Bearer ${s.token}` });
      expect(await c.opened).toBe(101);
      await a.store.transaction((tx) => a.sessions.revoke(tx, 'default', s.id, 'signed_out'));
      const closed = await c.closed;
      expect(closed.code).toBe(CLOSE.sessionEnded);
      expect(c.frames).not.toContainEqual({ type: 'revoked' });
    });

    it('finds a device revoked while connected at the next check and tells it', async () => {
      devices.add('dev-bob-tablet', bob.userId);
      const c = connect(`${a.url}?deviceId=dev-bob-tablet`, bearer(bob));
      expect(await c.opened).toBe(101);
      devices.add('dev-bob-tablet', bob.userId, 'revoked');
      const closed = await c.closed;
      expect(c.frames).toContainEqual({ type: 'revoked' });
      expect(closed.code).toBe(CLOSE.revoked);
    });

    it('tells a revoked device on any node and closes its connection', async () => {
      const c = connect(`${b.url}?deviceId=dev-alice`, bearer(alice));
      expect(await c.opened).toBe(101);
      while (!b.hub.isLocal('default', 'dev-alice')) await new Promise((r) => setTimeout(r, 10));
      const before = c.frames.length;
      a.hub.deviceRevoked('default', 'dev-alice');
      const closed = await c.closed;
      expect(c.frames.slice(before)).toContainEqual({ type: 'revoked' });
      expect(closed.code).toBe(CLOSE.revoked);
    });
  });
}
