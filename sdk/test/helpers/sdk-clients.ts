/**
 * Messaging clients of the SDK against a real test server (self-signed TLS): fetch through an undici
 * Agent that trusts the server's certificate, and `ws` WebSockets with the same CA.
 */
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket from 'ws';
import type { Harness } from '../../../test/helpers/sealpost-harness.js';
import { MessagingClient } from '../../src/messaging/messaging-client.js';
import { MemoryKeyStore } from '../../src/keystore/key-store.js';
import type { WebSocketLike } from '../../src/messaging/live.js';
import type { MessagingEvents } from '../../src/messaging/events.js';

export function trustingFetch(cert: string): typeof globalThis.fetch {
  const dispatcher = new Agent({ connect: { ca: cert } });
  return ((input: RequestInfo | URL, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof globalThis.fetch;
}

export interface TestClient {
  client: MessagingClient;
  store: MemoryKeyStore;
  events: { [K in keyof MessagingEvents]?: MessagingEvents[K][] };
}

/** A registered messaging client of the person whose session token is given. */
export async function sdkClient(h: Harness, token: string, name: string): Promise<TestClient> {
  const store = new MemoryKeyStore();
  const client = await MessagingClient.open({
    baseUrl: h.url,
    token,
    keyStore: store,
    fetch: trustingFetch(h.cert),
    webSocket: (url, headers) => new WebSocket(url, { headers, ca: h.cert }) as unknown as WebSocketLike,
    keyPackageTarget: 3,
    pollMs: 500,
  });
  await client.register(name, 'cli');
  const events: TestClient['events'] = {};
  for (const k of ['message', 'read', 'recalled', 'membership', 'device-refused', 'error'] as const)
    client.on(k, (p) => ((events[k] ??= []) as unknown[]).push(p));
  return { client, store, events };
}
