import { afterAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { LiveConnection, type WebSocketLike } from '../src/messaging/live.js';
import type { LiveFrame } from '../src/messaging/wire-types.js';

/** The live connection's own behaviour against a plain ws server standing in for the endpoint. */
describe('the live connection', () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(check(), what).toBe(true);
  };

  it('passes frames on, sends acks and reconnects after the server drops it', async () => {
    const connections: WebSocket[] = [];
    const acks: unknown[] = [];
    const headersSeen: (string | undefined)[] = [];
    server.on('connection', (socket, req) => {
      connections.push(socket);
      headersSeen.push(req.headers.authorization);
      socket.on('message', (d) => acks.push(JSON.parse(String(d))));
    });
    const frames: LiveFrame[] = [];
    const states: string[] = [];
    const { port } = server.address() as { port: number };
    const live = new LiveConnection({
      url: `ws://127.0.0.1:${port}/v1/messaging/live?deviceId=d1`,
      headers: () => ({ authorization: 'Bearer t1' }),
      factory: async () => (url, headers) => new WebSocket(url, { headers }) as unknown as WebSocketLike,
      onFrame: (f) => frames.push(f),
      onState: (s) => states.push(s),
      poll: async () => undefined,
      pollMs: 20,
    });
    await live.start();
    await until(() => connections.length === 1 && states.includes('open'), 'connected');
    expect(headersSeen[0]).toBe('Bearer t1');
    connections[0]!.send(JSON.stringify({ type: 'key-packages-low', deviceId: 'd1', cipherSuite: 'x' }));
    connections[0]!.send('not json');
    await until(() => frames.length === 1, 'a frame');
    expect(live.ack('c1', 7)).toBe(true);
    await until(() => acks.length === 1, 'an ack');
    expect(acks[0]).toEqual({ type: 'ack', conversationId: 'c1', seq: 7 });

    connections[0]!.terminate();
    await until(() => states.includes('closed'), 'closed');
    await until(() => connections.length === 2, 'reconnected');
    live.stop();
    await until(() => connections[1]!.readyState === WebSocket.CLOSED, 'closed by stop');
  });

  it('pulls on a timer while the server cannot be reached', async () => {
    let polls = 0;
    const live = new LiveConnection({
      url: 'ws://127.0.0.1:1/v1/messaging/live?deviceId=d1',
      headers: () => ({}),
      factory: async () => (url) => new WebSocket(url) as unknown as WebSocketLike,
      onFrame: () => undefined,
      onState: () => undefined,
      poll: async () => {
        polls++;
      },
      pollMs: 10,
    });
    await live.start();
    await until(() => polls >= 2, 'polled');
    live.stop();
  });
});
