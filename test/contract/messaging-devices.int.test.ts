import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import type { StoreTx } from '../../src/store/store.js';
import { StoreDeviceDirectory } from '../../src/messaging/device-directory.js';
import { MessagingDeviceRevoker } from '../../src/messaging/device-revoker.js';
import { DeviceRegistry } from '../../src/messaging/device-registry.js';
import { verifyBinding } from '../../src/messaging/device-binding.js';
import type { DeviceService } from '../../src/core/device-service.js';
import type { Signer } from '../../src/crypto/signer.js';
import { CLASSIC, NOW, T, XWING, device, pkg, service } from './messaging-device-fixtures.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';

describeEachBackend('messaging devices in the store', (backend) => {
  const fresh = freshDatabases(backend);

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
});
