import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifierKey } from '../../src/audit/checkpoint.js';
import { Http } from '../src/messaging/http.js';
import { TrustManager } from '../src/messaging/trust.js';
import { MemoryKeyStore } from '../src/keystore/key-store.js';
import { DeviceVerificationError } from '../src/transparency/device-verifier.js';
import { transparencyFixture } from './helpers/transparency-fixture.js';
import type { MessagingDeviceView, PublishedKeys } from '../src/messaging/wire-types.js';

/** A fake of the server's two read routes the trust manager uses (our own port, not a component). */
function fakeServer(keys: () => PublishedKeys, devices: Map<string, MessagingDeviceView>) {
  const calls: string[] = [];
  const fetch = (async (url: string) => {
    const path = new URL(url).pathname;
    calls.push(path);
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (path === '/.well-known/sealpost-keys.json') return json(200, keys());
    const id = decodeURIComponent(path.split('/').pop()!);
    const d = devices.get(id);
    return d ? json(200, d) : json(404, { code: 'SP_MESSAGING_DEVICE_NOT_FOUND' });
  }) as unknown as typeof globalThis.fetch;
  return { http: new Http({ baseUrl: 'https://sealpost.test', fetch }), calls };
}

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('trust anchors and the MLS authentication service', () => {
  it('pins the first key set it fetches (trust on first use) and keeps its checkpoint key afterwards', async () => {
    const f = transparencyFixture();
    const view = await f.view();
    let keys = f.keys;
    const server = fakeServer(() => keys, new Map([[view.deviceId, view]]));
    const store = new MemoryKeyStore();
    const trust = new TrustManager(server.http, store, () => 'default');
    expect((await trust.verify('dev-1')).deviceId).toBe('dev-1');
    expect(await store.get('trust/anchors')).toBeDefined();

    // The server later publishes another checkpoint key: a new client of the same store keeps the pinned one.
    const rogue = generateKeyPairSync('ed25519');
    keys = { ...f.keys, checkpointKey: verifierKey('sealpost.test/audit', rogue.publicKey) };
    const again = new TrustManager(server.http, store, () => 'default');
    expect((await again.verify('dev-1')).deviceId).toBe('dev-1');
    expect((await again.anchors()).checkpointKey).toBe(f.keys.checkpointKey);
  });

  it('uses pinned anchors without asking the server for its keys', async () => {
    const f = transparencyFixture();
    const other = transparencyFixture();
    const view = await f.view();
    const server = fakeServer(() => f.keys, new Map([[view.deviceId, view]]));
    const pinnedElsewhere = new TrustManager(server.http, new MemoryKeyStore(), () => 'default', other.anchors);
    await expect(pinnedElsewhere.verify('dev-1')).rejects.toBeInstanceOf(DeviceVerificationError);
    expect(server.calls).not.toContain('/.well-known/sealpost-keys.json');
  });

  it('validates MLS credentials: a verified device with its bound key, the allowed external sender, nothing else', async () => {
    const f = transparencyFixture();
    const good = await f.view();
    const ghost = await f.view({ deviceId: 'ghost-1', registered: false });
    const server = fakeServer(
      () => f.keys,
      new Map([
        [good.deviceId, good],
        [ghost.deviceId, ghost],
      ]),
    );
    const store = new MemoryKeyStore();
    const trust = new TrustManager(server.http, store, () => 'default');
    const auth = trust.authService();
    const key = new Uint8Array(Buffer.from(good.signatureKey, 'base64'));
    const cred = (id: string) => ({ credentialType: 'basic' as const, identity: utf8(id) });
    expect(await auth.validateCredential(cred('sealpost:v1:default:dev-1'), key)).toBe(true);
    expect(await auth.validateCredential(cred('sealpost:v1:default:dev-1'), new Uint8Array(32))).toBe(false);
    expect(await auth.validateCredential(cred('sealpost:v1:other:dev-1'), key)).toBe(false);
    expect(await auth.validateCredential(cred('sealpost:v1:default:unknown'), key)).toBe(false);
    const ghostKey = new Uint8Array(Buffer.from(ghost.signatureKey, 'base64'));
    expect(await auth.validateCredential(cred('sealpost:v1:default:ghost-1'), ghostKey)).toBe(false);
    expect(trust.lastRefusal?.deviceId).toBe('ghost-1');
    expect(await auth.validateCredential(cred('sealpost:external-sender'), key)).toBe(false);
    await trust.allowExternalSender(utf8('sealpost:external-sender'), key);
    expect(await auth.validateCredential(cred('sealpost:external-sender'), key)).toBe(true);
    // Kept in the key store: a client started again still accepts the group's external sender.
    const restarted = new TrustManager(server.http, store, () => 'default').authService();
    expect(await restarted.validateCredential(cred('sealpost:external-sender'), key)).toBe(true);
    expect(await restarted.validateCredential(cred('sealpost:external-sender'), ghostKey)).toBe(false);
  });

  it('accepts a notary key first seen after pinning only for bindings issued since it was seen (less a short grace)', async () => {
    // The device's binding is signed by notary-1 and issued 2026-01-01; the client pinned a key set
    // without notary-1, which the server publishes later with a notBefore far in the past.
    const f = transparencyFixture();
    const view = await f.view();
    const older = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as { x: string };
    const before: PublishedKeys = {
      keys: [
        {
          kty: 'OKP',
          crv: 'Ed25519',
          x: older.x,
          kid: 'notary-0',
          status: 'current',
          notBefore: '2019-01-01T00:00:00.000Z',
        },
      ],
      checkpointKey: f.keys.checkpointKey,
    };
    const after: PublishedKeys = { ...f.keys, keys: [...before.keys, ...f.keys.keys] };
    const issued = Date.parse('2026-01-01T00:00:00.000Z');

    // First seen a month after the binding's issue time: the backdated notBefore does not help.
    let keys = before;
    const server = fakeServer(() => keys, new Map([[view.deviceId, view]]));
    const store = new MemoryKeyStore();
    const late = new TrustManager(
      server.http,
      store,
      () => 'default',
      undefined,
      () => issued + 30 * 86_400_000,
    );
    await late.anchors();
    keys = after;
    await expect(late.verify('dev-1')).rejects.toThrow(/not signed by a published notary key valid at its issue time/);
    // Remembered across restarts: the same store still refuses it with a later clock.
    const restarted = new TrustManager(
      server.http,
      store,
      () => 'default',
      undefined,
      () => issued + 60 * 86_400_000,
    );
    await expect(restarted.verify('dev-1')).rejects.toBeInstanceOf(DeviceVerificationError);
    expect((await restarted.anchors()).firstSeen?.['notary-1']).toBe(new Date(issued + 30 * 86_400_000).toISOString());

    // First seen five minutes after the issue time (within the grace): trusted.
    keys = before;
    const prompt = new TrustManager(
      server.http,
      new MemoryKeyStore(),
      () => 'default',
      undefined,
      () => issued + 5 * 60_000,
    );
    await prompt.anchors();
    keys = after;
    expect((await prompt.verify('dev-1')).deviceId).toBe('dev-1');

    // Keys of the first key set (pinned on first use) carry no such limit.
    const fromStart = new TrustManager(
      server.http,
      new MemoryKeyStore(),
      () => 'default',
      undefined,
      () => issued + 90 * 86_400_000,
    );
    expect((await fromStart.verify('dev-1')).deviceId).toBe('dev-1');
  });

  it('knows the external sender by its identity or its key, for the roster check of member leaves', async () => {
    const f = transparencyFixture();
    const server = fakeServer(() => f.keys, new Map());
    const trust = new TrustManager(server.http, new MemoryKeyStore(), () => 'default');
    const key = new Uint8Array(32).fill(3);
    await trust.allowExternalSender(utf8('sealpost:external-sender'), key);
    expect(await trust.isExternalSender(utf8('sealpost:external-sender'), new Uint8Array(32))).toBe(true);
    expect(await trust.isExternalSender(utf8('sealpost:v1:default:dev-1'), key)).toBe(true);
    expect(await trust.isExternalSender(utf8('sealpost:v1:default:dev-1'), new Uint8Array(32))).toBe(false);
  });
});
