import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import type { StoreTx } from '../../src/store/store.js';
import { KeyPackageService } from '../../src/messaging/key-packages.js';
import { StoreDeviceDirectory } from '../../src/messaging/device-directory.js';
import { MessagingDeviceRevoker } from '../../src/messaging/device-revoker.js';
import { CIPHER_SUITES } from '../../src/messaging/messaging-types.js';
import { DeviceRegistry } from '../../src/messaging/device-registry.js';
import { verifyBinding } from '../../src/messaging/device-binding.js';
import type { DeviceService } from '../../src/core/device-service.js';
import type { Signer } from '../../src/crypto/signer.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';

const [CLASSIC, XWING] = CIPHER_SUITES;
const T = 't';
const NOW = 1_790_000_000_000;

/** A device row and its binding, as registration writes them (the binding's content is not checked here). */
async function device(tx: StoreTx, id: string, person: string, at = NOW) {
  await tx.tenants.ensure(T, T, at);
  await tx.sessions.insertDevice({
    id,
    tenant_id: T,
    subject_type: 'user',
    subject_id: person,
    platform: 'cli',
    name: 'n',
    push_token_ct: null,
    created_at: at,
    revoked_at: null,
  });
  await tx.messagingDevices.insert({
    tenant_id: T,
    device_id: id,
    person_kind: 'user',
    person_id: person,
    signature_key: randomBytes(32),
    binding: `{"device":"${id}"}`,
    signature: randomBytes(64),
    key_id: 'k1',
    binding_hash: `hash-${id}`,
    registered_at: at,
    revoked_at: null,
  });
}

const pkg = (deviceId: string, suite: string, lastResort = false, data = randomBytes(48)) => ({
  id: uuidv7(),
  tenant_id: T,
  device_id: deviceId,
  cipher_suite: suite,
  ref: data.toString('hex'),
  data,
  last_resort: lastResort ? 1 : 0,
  created_at: NOW,
});

const service = (store: KyselyStore, lowThreshold = 10) =>
  new KeyPackageService({ store, clock: () => new Date(NOW), newId: uuidv7, lowThreshold });

describeEachBackend('messaging devices and key packages in the store', (backend) => {
  const fresh = freshDatabases(backend);

  it('hands each key package out at most once to many concurrent claimers, then only the last-resort one', async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    const packages = Array.from({ length: 30 }, () => pkg('d1', CLASSIC));
    const last = pkg('d1', CLASSIC, true);
    await store.transaction(async (tx) => {
      await device(tx, 'd1', 'u1');
      await device(tx, 'd2', 'u2');
      expect(await tx.messagingDevices.insertKeyPackages(packages)).toBe(30);
      await tx.messagingDevices.replaceLastResort(last);
      await tx.messagingDevices.insertKeyPackages([pkg('d2', XWING)]);
    });
    const kp = service(store);
    const claims = await Promise.all(
      Array.from({ length: 45 }, () =>
        store.transaction((tx) => kp.claimInTx(tx, { tenantId: T, actor: 'test' }, ['d1', 'd2', 'd1'], CLASSIC)),
      ),
    );
    const single = claims.flatMap((c) => c.items).filter((i) => !i.lastResort);
    const lastResort = claims.flatMap((c) => c.items).filter((i) => i.lastResort);
    const taken = single.map((i) => Buffer.from(i.keyPackage).toString('hex'));
    // Every package exactly once; each claim got one for d1 (duplicates in the request count once), none for d2's other suite.
    expect(new Set(taken).size).toBe(taken.length);
    expect(new Set(taken)).toEqual(new Set(packages.map((p) => p.ref)));
    expect(claims.every((c) => c.items.length === 1 && c.items[0].deviceId === 'd1')).toBe(true);
    expect(lastResort).toHaveLength(15);
    expect(lastResort.every((i) => Buffer.from(i.keyPackage).equals(last.data))).toBe(true);
    expect(await store.read.messagingDevices.available(T, 'd1', CLASSIC)).toBe(0);
    expect(await store.read.messagingDevices.counts(T, 'd1')).toEqual([
      { cipher_suite: CLASSIC, last_resort: 1, n: 1 },
    ]);
    // Below the threshold of 10 the single-use claims leave a `low` entry: each of the last 10 when
    // claims run one at a time (SQLite); on PostgreSQL a claim counts what others have not committed
    // yet, so overlapping claims may see more left (a nudge, not a ledger), but the last ones tell.
    // Devices handing out their last-resort package are told each time (15 here).
    const lows = claims.filter((c) => c.low.length && !c.items[0].lastResort).length;
    if (backend === 'sqlite') expect(lows).toBe(10);
    else expect(lows).toBeGreaterThanOrEqual(1);
    expect(lows).toBeLessThanOrEqual(10);
    expect(claims.filter((c) => c.low.length && c.items[0].lastResort)).toHaveLength(15);
    await store.close();
  });

  it('ignores a re-uploaded package and keeps one last-resort package per device and suite', async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    const p = pkg('d1', CLASSIC);
    await store.transaction(async (tx) => {
      await device(tx, 'd1', 'u1');
      expect(await tx.messagingDevices.insertKeyPackages([p, { ...p, id: uuidv7() }])).toBe(1);
      await tx.messagingDevices.replaceLastResort(pkg('d1', CLASSIC, true));
      await tx.messagingDevices.replaceLastResort(pkg('d1', XWING, true));
      const newer = pkg('d1', CLASSIC, true);
      await tx.messagingDevices.replaceLastResort(newer);
      expect(await tx.messagingDevices.claim(T, 'd1', CLASSIC)).toEqual({ data: p.data, lastResort: false });
      expect(Buffer.from((await tx.messagingDevices.claim(T, 'd1', CLASSIC))!.data).equals(newer.data)).toBe(true);
    });
    expect(
      (await store.read.messagingDevices.counts(T, 'd1')).sort((a, b) => a.cipher_suite.localeCompare(b.cipher_suite)),
    ).toEqual([
      { cipher_suite: CLASSIC, last_resort: 1, n: 1 },
      { cipher_suite: XWING, last_resort: 1, n: 1 },
    ]);
    await store.close();
  });

  it('revokes only bindings whose device row was revoked, audits each once, drops their packages and tells conversations in the same transaction', async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    await store.transaction(async (tx) => {
      for (const id of ['a1', 'a2']) await device(tx, id, 'ua');
      await device(tx, 'b1', 'ub');
      await tx.messagingDevices.insertKeyPackages([pkg('a1', CLASSIC), pkg('a2', CLASSIC)]);
    });
    const told: { tx: StoreTx; deviceId: string }[] = [];
    const revoker = new MessagingDeviceRevoker();
    revoker.membership = { deviceRevoked: async (tx, tenantId, deviceId) => void told.push({ tx, deviceId }) };
    const owner = { kind: 'user' as const, id: 'ua' };
    await store.transaction(async (tx) => {
      await tx.sessions.revokeDevice(T, 'user', 'ua', 'a1', NOW + 1);
      await revoker.revoked(tx, { tenantId: T, owner, at: NOW + 1, actor: 'system:remote_wipe' });
      expect(told.map((t) => t.deviceId)).toEqual(['a1']);
      expect(told[0].tx).toBe(tx);
      // Again: nothing left to revoke.
      await revoker.revoked(tx, { tenantId: T, owner, at: NOW + 1, actor: 'system:remote_wipe' });
    });
    expect(told).toHaveLength(1);
    expect((await store.read.messagingDevices.get(T, 'a1'))?.revoked_at).toBe(NOW + 1);
    expect((await store.read.messagingDevices.get(T, 'a2'))?.revoked_at).toBeNull();
    expect(await store.read.messagingDevices.counts(T, 'a1')).toEqual([]);
    expect((await store.read.messagingDevices.activeOf(T, 'user', 'ua')).map((r) => r.device_id)).toEqual(['a2']);

    // A failure in the conversations part rolls the revocation back with the row.
    revoker.membership = { deviceRevoked: async () => Promise.reject(new Error('conversations down')) };
    await expect(
      store.transaction(async (tx) => {
        await tx.sessions.revokeDevicesOf(T, 'user', 'ub', NOW + 2);
        await revoker.revoked(tx, { tenantId: T, owner: { kind: 'user', id: 'ub' }, at: NOW + 2, actor: 'x' });
      }),
    ).rejects.toThrow('conversations down');
    expect((await store.read.messagingDevices.get(T, 'b1'))?.revoked_at).toBeNull();
    await store.close();
  });

  it('anchors device entries (no patient reference) by action, target and time, and still anchors notification entries', async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const log = new AuditLog(
      store,
      keyring,
      { origin: 'test.example/audit', checkpointSeconds: 3600, checkpointEntries: 1e9, batch: 64 },
      () => new Date(),
      pino({ level: 'silent' }),
    );
    const entry = (action: string, targetId: string, patientRef: string | null) => ({
      tenantId: T,
      at: new Date(NOW),
      actor: 'test',
      action,
      outcome: 'success' as const,
      targetType: 'device',
      targetId,
      patientRef,
      details: { bindingHash: `h-${targetId}` },
    });
    await store.transaction(async (tx) => {
      await tx.audit.append(entry('messaging.device.registered', 'd1', null));
      await tx.audit.append(entry('messaging.device.registered', 'd2', null));
      await tx.audit.append(entry('notification.created', 'n1', 'ref1'));
    });
    const find = (action: string, targetId: string, patientRef: string | null, at = NOW) =>
      log.anchorOf({ tenantId: T, action, targetId, patientRef, at });
    for (
      const deadline = Date.now() + 30_000;
      (await find('messaging.device.registered', 'd2', null))?.status !== 'anchored';
    )
      if (Date.now() > deadline) throw new Error('not anchored');
    const a = await find('messaging.device.registered', 'd2', null);
    expect(a).toMatchObject({ status: 'anchored' });
    expect(JSON.parse((a as { entry: string }).entry)).toMatchObject({ target: { id: 'd2' }, patient: null });
    expect(await find('messaging.device.revoked', 'd2', null)).toBeNull();
    expect(await find('messaging.device.registered', 'd3', null)).toBeNull();
    expect(await find('messaging.device.registered', 'd1', null, NOW + 1)).toBeNull();
    expect(await find('messaging.device.registered', 'd1', 'ref1')).toBeNull();
    expect(await log.anchor({ tenantId: T, patientRef: 'ref1', at: NOW, notificationId: 'n1' })).toMatchObject({
      status: 'anchored',
    });
    await store.close();
  });

  it("serves the DeviceDirectory port: devices active or revoked, a person's active devices oldest first, claims", async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    await store.transaction(async (tx) => {
      await device(tx, 'late', 'u1', NOW + 5);
      await device(tx, 'early', 'u1', NOW);
      await device(tx, 'gone', 'u1', NOW);
      await tx.sessions.revokeDevice(T, 'user', 'u1', 'gone', NOW + 9);
      await tx.messagingDevices.revokeRevokedDevices(T, 'user', 'u1', NOW + 9);
      await tx.messagingDevices.insertKeyPackages([pkg('early', XWING)]);
    });
    const dir = new StoreDeviceDirectory(service(store));
    await store.transaction(async (tx) => {
      expect(await dir.device(tx, T, 'gone')).toMatchObject({ status: 'revoked', revokedAt: NOW + 9 });
      expect(await dir.device(tx, 'other', 'early')).toBeNull();
      const active = await dir.activeDevices(tx, T, { kind: 'user', id: 'u1' });
      expect(active.map((d) => d.deviceId)).toEqual(['early', 'late']);
      expect(active[0]).toMatchObject({
        tenantId: T,
        person: { kind: 'user', id: 'u1' },
        status: 'active',
        registeredAt: NOW,
      });
      expect(active[0].signatureKey).toHaveLength(32);
      const got = await dir.claimKeyPackages(tx, T, ['early', 'late', 'gone'], XWING);
      expect(got.map((g) => [g.deviceId, g.lastResort])).toEqual([['early', false]]);
    });
    await store.close();
  });

  it('registers the device row, its binding and the audit entry in one transaction: a failing signature leaves none of them', async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    await store.transaction((tx) => tx.tenants.ensure(T, T, NOW));
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    let n = 0;
    // The core device service's part, as a fake writing through the same transaction (its own tests cover the rest).
    const devices = {
      registerInTx: async (
        tx: StoreTx,
        o: { tenantId: string; kind: string; id: string },
        input: { platform: string },
      ) => {
        const id = `dev-${++n}`;
        await tx.sessions.insertDevice({
          id,
          tenant_id: o.tenantId,
          subject_type: o.kind,
          subject_id: o.id,
          platform: input.platform,
          name: 'sealed',
          push_token_ct: null,
          created_at: NOW,
          revoked_at: null,
        });
        return { id, platform: input.platform, name: 'n', hasPushToken: false, createdAt: new Date(NOW).toISOString() };
      },
    } as unknown as DeviceService;
    const owner = { tenantId: T, kind: 'user' as const, id: 'u1', actor: 'user:u1' };
    const input = { name: 'Phone', platform: 'cli' as const, signatureKey: randomBytes(32).toString('base64') };
    const broken: Signer = { ...keyring.signer(), sign: async () => Promise.reject(new Error('HSM unavailable')) };
    const failing = new DeviceRegistry({ store, clock: () => new Date(NOW), devices, signer: () => broken });
    await expect(failing.register(owner, input)).rejects.toThrow('HSM unavailable');
    expect(await store.read.sessions.liveDevices(T, 'user', 'u1')).toEqual([]);
    expect(await store.read.messagingDevices.activeOf(T, 'user', 'u1')).toEqual([]);
    expect(await store.read.auditLog.entriesAt(T, null, NOW, 'messaging.device.registered')).toEqual([]);

    const registry = new DeviceRegistry({ store, clock: () => new Date(NOW), devices, signer: () => keyring.signer() });
    const v = await registry.register(owner, input);
    expect(v).toMatchObject({ deviceId: 'dev-2', status: 'active', registration: { status: 'pending' } });
    expect(verifyBinding(v.binding, Buffer.from(v.signature, 'base64'), keyring.signer().publicKey)).toBe(true);
    expect((await store.read.sessions.liveDevices(T, 'user', 'u1')).map((d) => d.id)).toEqual(['dev-2']);
    const entries = await store.read.auditLog.entriesAt(T, null, NOW, 'messaging.device.registered');
    expect(entries.map((e) => JSON.parse(e.entry).target.id)).toEqual(['dev-2']);
    await expect(registry.register(owner, { ...input, signatureKey: 'AAAA' })).rejects.toMatchObject({
      code: 'SP_MESSAGING_SIGNATURE_KEY_INVALID',
    });
    await store.close();
  });

  it('tells a device whose packages run low through the live feed, after the claim committed, and answers the devices left out', async () => {
    const db = await fresh({ prefix: 'sealpost-msgdev-', migrated: true });
    const store = await migratedStore(db);
    await store.transaction(async (tx) => {
      await device(tx, 'd1', 'u1');
      await device(tx, 'd2', 'u2');
      await tx.messagingDevices.insertKeyPackages([pkg('d1', CLASSIC), pkg('d1', CLASSIC), pkg('d1', CLASSIC)]);
    });
    const told: string[] = [];
    const kp = service(store, 2);
    kp.feed = {
      keyPackagesLow: (tenantId, deviceId, suite) => {
        told.push(`${tenantId}/${deviceId}/${suite}`);
        throw new Error('a broken feed does not fail the claim');
      },
    };
    const first = await kp.claim({ tenantId: T, actor: 'user:u2' }, ['d1', 'd2', 'nope'], CLASSIC);
    expect(first.items.map((i) => i.deviceId)).toEqual(['d1']);
    expect(first.missing).toEqual(['d2', 'nope']);
    expect(told).toEqual([]); // 2 left: not below 2
    await kp.claim({ tenantId: T, actor: 'user:u2' }, ['d1'], CLASSIC);
    expect(told).toEqual([`${T}/d1/${CLASSIC}`]);
    await store.close();
  });
});
