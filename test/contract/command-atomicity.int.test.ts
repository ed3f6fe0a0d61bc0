import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { AppointmentService } from '../../src/core/appointment-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Store, StoreTx } from '../../src/store/store.js';
import type { CoreDeps } from '../../src/core/context.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

/** Wraps a real store so that one repository method fails inside the command's transaction. */
function failingOn(store: Store, method: keyof StoreTx): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
      return <T>(fn: (tx: StoreTx) => Promise<T>) =>
        target.transaction((tx) =>
          fn(
            new Proxy(tx, {
              get(t, p, r) {
                if (p === method) return async () => Promise.reject(new Error(`injected failure in ${String(p)}`));
                const v = Reflect.get(t, p, r);
                return typeof v === 'function' ? v.bind(t) : v;
              },
            }),
          ),
        );
    },
  });
}

describeEachBackend('one transaction per command', (backend) => {
  const fresh = freshDatabases(backend);

  async function setup() {
    const db = await fresh({ prefix: 'sealpost-atomic-', migrated: true });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
    const store = await migratedStore(db);
    await store.read.ensureTenant('default', 'x', Date.now());
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const deps: CoreDeps = { config, store, cipher: new EnvelopeCipher(keyring), templates: TemplateRegistry.load(), clock: () => new Date(), newId: uuidv7, wake: () => {} };
    const ctx = { tenantId: 'default', actor: 'test' };
    await new PatientService(deps).upsert(ctx, 'p1', samplePatient() as never);
    return { db, deps, ctx, store };
  }

  for (const method of ['appendAudit', 'insertDelivery', 'insertIdempotency'] as const) {
    it(`leaves no notification, delivery, idempotency or audit row when ${method} fails`, async () => {
      const { db, deps, ctx, store } = await setup();
      const before = await db.rowCounts();
      const broken = new NotificationService({ ...deps, store: failingOn(store, method) });
      await expect(broken.create(ctx, { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } }, 'key-1')).rejects.toThrow('injected failure');
      expect(await db.rowCounts()).toEqual(before);
      // And the same key works afterwards: nothing half-written blocks it.
      const ok = await new NotificationService(deps).create(ctx, { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } }, 'key-1');
      expect(ok.status).toBe(202);
      expect((await db.rowCounts()).notifications).toBe(before.notifications + 1);
    });
  }

  it('keeps the old reminders when rescheduling fails half-way', async () => {
    const { db, deps, ctx, store } = await setup();
    const notifications = new NotificationService(deps);
    const start = new Date(Date.now() + 10 * 86_400_000).toISOString();
    await new AppointmentService(deps, notifications).upsert(ctx, 'a1', { patientId: 'p1', start });
    const before = await db.rowCounts();
    const broken = new AppointmentService({ ...deps, store: failingOn(store, 'appendAudit') }, notifications);
    await expect(broken.upsert(ctx, 'a1', { patientId: 'p1', start: new Date(Date.now() + 5 * 86_400_000).toISOString() })).rejects.toThrow();
    expect(await db.rowCounts()).toEqual(before);
    const view = await new AppointmentService(deps, notifications).get(ctx, 'a1');
    expect(view.start).toBe(start);
    expect(view.reminders.every((r) => r.status === 'scheduled')).toBe(true);
  });
});
