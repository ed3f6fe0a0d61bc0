import { describe, expect, it } from 'vitest';
import { LiveHub } from './live-hub.js';
import { CLOSE, type LiveSocket } from './live-connection.js';
import type { FeedSignal } from '../store/store.js';
import type { ConversationEvent, ConversationReader } from './messaging-types.js';

const T = 'tenant-a';

/** The conversations part, in memory: events per conversation, members, cursors. */
class FakeReader implements ConversationReader {
  events = new Map<string, ConversationEvent[]>();
  members = new Map<string, string[]>();
  cursors = new Map<string, number>();
  append(conversationId: string, n = 1): number {
    const list = this.events.get(conversationId) ?? [];
    for (let i = 0; i < n; i++)
      list.push({
        conversationId,
        seq: list.length + 1,
        kind: 'application',
        epoch: 1,
        sender: { deviceId: 'd-sender' },
        data: 'AAAA',
        urgent: false,
        attachments: [],
        recalledSeq: null,
        createdAt: new Date(0).toISOString(),
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

class FakeSocket implements LiveSocket {
  frames: any[] = [];
  closed: { code?: number; reason?: string } | null = null;
  bufferedAmount = 0;
  send(data: string) {
    this.frames.push(JSON.parse(data));
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
  }
  seqs(c = 'c1') {
    return this.frames.filter((f) => f.type === 'event' && f.event.conversationId === c).map((f) => f.event.seq);
  }
}

/** Two nodes' signals on one bus, as LISTEN/NOTIFY connects them (a node does not hear itself). */
function bus() {
  const subs: { node: string; fn: (p: string | null) => void }[] = [];
  const held: { node: string; payload: string }[] = [];
  let hold = false;
  const signal = (node: string): FeedSignal => ({
    publish: (payload) => {
      if (hold) held.push({ node, payload });
      else for (const s of subs) if (s.node !== node) s.fn(payload);
    },
    subscribe: (fn) => {
      const s = { node, fn };
      subs.push(s);
      return () => subs.splice(subs.indexOf(s), 1);
    },
    close: async () => {},
  });
  return {
    signal,
    hold: () => (hold = true),
    /** Delivers held notifications reversed and twice each (order and count are not promised). */
    flushShuffled: () => {
      hold = false;
      const all = held.splice(0).reverse();
      for (const h of [...all, ...all]) for (const s of subs) if (s.node !== h.node) s.fn(h.payload);
    },
    resync: () => subs.forEach((s) => s.fn(null)),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

function hubs(reader: FakeReader, maxBufferedBytes = 1 << 20) {
  const b = bus();
  const errors: unknown[] = [];
  const make = (node: string) =>
    new LiveHub({ reader, signal: b.signal(node), maxBufferedBytes, batch: 2, onError: (e) => errors.push(e) });
  const a = make('A');
  const z = make('B');
  a.start();
  z.start();
  return { a, b: z, bus: b, errors };
}

describe('live hub', () => {
  it('sends a connecting device every event after its cursor, in order (store and forward)', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1']);
    reader.append('c1', 5);
    reader.cursors.set('c1/d1', 2);
    const { a } = hubs(reader);
    const s = new FakeSocket();
    await a.attach(T, 'd1', s);
    expect(s.seqs()).toEqual([3, 4, 5]);
  });

  it('delivers an event published on one node to a member connection on the other node, once and in order', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1', 'd2']);
    const { a, b, bus: net } = hubs(reader);
    const s = new FakeSocket();
    await b.attach(T, 'd1', s);
    net.hold();
    for (let i = 0; i < 5; i++) a.published(T, 'c1', reader.append('c1'));
    net.flushShuffled();
    await settle();
    expect(s.seqs()).toEqual([1, 2, 3, 4, 5]);
  });

  it('does not send a conversation to a device that is not a member', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1']);
    const { a, b } = hubs(reader);
    const other = new FakeSocket();
    await b.attach(T, 'd9', other);
    a.published(T, 'c1', reader.append('c1'));
    await settle();
    expect(other.frames).toEqual([]);
  });

  it('reads again after the listener reconnected, so a notification lost meanwhile leaves no gap', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1']);
    const { b, bus: net } = hubs(reader);
    const s = new FakeSocket();
    await b.attach(T, 'd1', s);
    reader.append('c1', 3); // committed on another node whose NOTIFY was missed
    net.resync();
    await settle();
    expect(s.seqs()).toEqual([1, 2, 3]);
  });

  it('closes a connection whose unsent bytes pass the limit instead of buffering more', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1']);
    const { a } = hubs(reader, 1000);
    const s = new FakeSocket();
    await a.attach(T, 'd1', s);
    s.bufferedAmount = 5000;
    a.published(T, 'c1', reader.append('c1'));
    await settle();
    expect(s.closed?.code).toBe(CLOSE.slowConsumer);
    expect(s.frames).toEqual([]);
    expect(a.size).toBe(0);
  });

  it('tells a device on another node that its key packages run low', async () => {
    const reader = new FakeReader();
    const { a, b } = hubs(reader);
    const s = new FakeSocket();
    await b.attach(T, 'd1', s);
    a.keyPackagesLow(T, 'd1', 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
    expect(s.frames).toEqual([
      { type: 'key-packages-low', deviceId: 'd1', cipherSuite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' },
    ]);
  });

  it('tells a revoked device so and closes its connections on every node', async () => {
    const reader = new FakeReader();
    const { a, b } = hubs(reader);
    const s = new FakeSocket();
    await b.attach(T, 'd1', s);
    a.deviceRevoked(T, 'd1');
    expect(s.frames).toEqual([{ type: 'revoked' }]);
    expect(s.closed?.code).toBe(CLOSE.revoked);
    expect(b.isLocal(T, 'd1')).toBe(false);
  });

  it('moves the device cursor on ack, and a reconnect then starts after it', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1']);
    reader.append('c1', 4);
    const { a } = hubs(reader);
    const first = new FakeSocket();
    const conn = await a.attach(T, 'd1', first);
    expect(first.seqs()).toEqual([1, 2, 3, 4]);
    await conn.acknowledge('c1', 3);
    conn.ended();
    const again = new FakeSocket();
    await a.attach(T, 'd1', again);
    expect(again.seqs()).toEqual([4]);
  });

  it('keeps each tenant apart: the same device id in another tenant hears nothing', async () => {
    const reader = new FakeReader();
    reader.members.set('c1', ['d1']);
    const { a, b } = hubs(reader);
    const s = new FakeSocket();
    await b.attach('tenant-b', 'd1', s);
    a.published(T, 'c1', reader.append('c1'));
    await settle();
    expect(s.frames).toEqual([]);
  });
});
