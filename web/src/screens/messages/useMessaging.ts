import { useCallback, useEffect, useRef, useState } from 'react';
import { IndexedDbKeyStore, MessagingClient, type KeyStore } from '@sealpost/sdk/browser';
import { raw } from '../../app/api';
import type { Me } from '../../app/session';
import { asProblem } from './problem';

export interface Colleague {
  kind: 'user';
  id: string;
  displayName: string;
  reachable: boolean;
}

export type Phase = 'opening' | 'unregistered' | 'registering' | 'ready' | 'failed';

export interface Messaging {
  phase: Phase;
  error: unknown;
  client: MessagingClient | null;
  /** The browser's key store: the console keeps its own small records there too (recalls, receipts). */
  store: KeyStore | null;
  /** Bumped on every event of the client (a message, a receipt, a recall, a roster change). */
  version: number;
  live: boolean;
  directory: Colleague[];
  register: () => Promise<void>;
  /** Takes this browser out of messaging: revokes its device on the server and deletes its keys and copies here. */
  forget: () => Promise<void>;
}

/**
 * This browser as one messaging device of the signed-in person: keys and decrypted copies in
 * IndexedDB under a non-extractable key (the SDK's IndexedDbKeyStore), one database per account, so
 * two people sharing a computer keep apart. Registration is the person's choice (a button), then
 * the client stays connected (WebSocket to this origin; it pulls on a timer while that is down).
 */
export function useMessaging(me: Me): Messaging {
  const [phase, setPhase] = useState<Phase>('opening');
  const [error, setError] = useState<unknown>(null);
  const [client, setClient] = useState<MessagingClient | null>(null);
  const [store, setStore] = useState<IndexedDbKeyStore | null>(null);
  const [epoch, setEpoch] = useState(0);
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  const [directory, setDirectory] = useState<Colleague[]>([]);
  const closed = useRef(false);
  const opened = useRef<MessagingClient | null>(null);

  const start = useCallback(async (c: MessagingClient, keyStore: KeyStore) => {
    const bump = () => setVersion((v) => v + 1);
    c.on('message', bump);
    c.on('membership', bump);
    c.on('read', async (r) => {
      // End-to-end read receipts arrive once; the console keeps the highest seq per reader.
      const name = `console/read/${r.conversationId}/${r.reader.kind}:${r.reader.id}`;
      const prev = await keyStore.get(name);
      const before = prev ? Number(new TextDecoder().decode(prev)) : 0;
      if (r.seq > before) await keyStore.put(name, new TextEncoder().encode(String(r.seq)));
      bump();
    });
    c.on('recalled', async (r) => {
      // The SDK deletes the copy; the console remembers only that a message was there (no content).
      await keyStore.put(`console/recalled/${r.conversationId}/${r.seq}`, new Uint8Array([1]));
      bump();
    });
    c.on('connection', (e) => setLive(e.state === 'open'));
    setClient(c);
    setPhase('ready');
    await c.connect();
  }, []);

  useEffect(() => {
    closed.current = false;
    (async () => {
      setDirectory((await raw('GET', '/v1/messaging/directory')).items);
      const keyStore = await IndexedDbKeyStore.open({ name: dbName(me) });
      const c = await MessagingClient.open({ baseUrl: window.location.origin, keyStore });
      if (closed.current) return;
      opened.current = c;
      setStore(keyStore);
      if (!c.device) setPhase('unregistered');
      else await start(c, keyStore);
    })().catch((e) => {
      setError(asProblem(e));
      setPhase('failed');
    });
    return () => {
      closed.current = true;
      opened.current?.close();
      opened.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [me.tenantId, me.id, start, epoch]);

  const register = useCallback(async () => {
    const keyStore = store;
    const c = opened.current;
    if (!keyStore || !c) return;
    setPhase('registering');
    setError(null);
    try {
      if (!c.device) await c.register('Console', 'web');
      setDirectory((await raw('GET', '/v1/messaging/directory')).items);
      await start(c, keyStore);
    } catch (e) {
      setError(asProblem(e));
      setPhase('unregistered');
    }
  }, [store, start]);

  const forget = useCallback(async () => {
    const c = opened.current;
    const deviceId = c?.device?.deviceId;
    // The server first: a device that stays active would keep being added to conversations.
    if (deviceId) await raw('DELETE', `/v1/me/devices/${encodeURIComponent(deviceId)}`);
    c?.close();
    opened.current = null;
    store?.close();
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase(dbName(me));
      r.onsuccess = () => resolve();
      r.onblocked = () => resolve();
      r.onerror = () => reject(r.error);
    });
    setClient(null);
    setStore(null);
    setLive(false);
    setPhase('opening');
    setEpoch((e) => e + 1);
  }, [store, me]);

  return { phase, error, client, store, version, live, directory, register, forget };
}

/** One key database per account on this browser: two people sharing a computer keep apart. */
const dbName = (me: Me) => `sealpost-console-${me.tenantId}-${me.id}`;

/** The readers' highest read seq in a conversation (from the console's own records). */
export async function readMarks(store: KeyStore, conversationId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const prefix = `console/read/${conversationId}/`;
  for (const name of await store.list(prefix)) {
    const v = await store.get(name);
    if (v) out.set(name.slice(prefix.length), Number(new TextDecoder().decode(v)));
  }
  return out;
}

/** The seqs of recalled messages of a conversation. */
export async function recalledSeqs(store: KeyStore, conversationId: string): Promise<number[]> {
  const prefix = `console/recalled/${conversationId}/`;
  return (await store.list(prefix)).map((n) => Number(n.slice(prefix.length)));
}
