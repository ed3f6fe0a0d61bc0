import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { openSqliteStore } from '../../src/store/backends/sqlite/sqlite-backend.js';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { AppointmentService } from '../../src/core/appointment-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Store, StoreTx } from '../../src/store/store.js';
import type { CoreDeps } from '../../src/core/context.js';
import { rowCounts } from '../helpers/db-snapshot.js';
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

describe('one transaction per command', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-atomic-'));
    dirs.push(dir);
    const config = loadConfig({ SEALPOST_DATA_DIR: dir, SEALPOST_QUIET_HOURS: 'off' });
    const store = openSqliteStore(join(dir, 'sealpost.db'), 'full');
    await store.migrate();
    await store.read.ensureTenant('default', 'x', Date.now());
    const { keyring } = LocalKeyring.openOrCreate(join(dir, 'keyring.json'));
    const deps: CoreDeps = { config, store, cipher: new EnvelopeCipher(keyring), templates: TemplateRegistry.load(), clock: () => new Date(), newId: uuidv7, wake: () => {} };
    const ctx = { tenantId: 'default', actor: 'test' };
    await new PatientService(deps).upsert(ctx, 'p1', samplePatient() as never);
    return { dir, deps, ctx, store };
  }

  for (const method of ['appendAudit', 'insertDelivery', 'insertIdempotency'] as const) {
    it(`leaves no notification, delivery, idempotency or audit row when ${method} fails`, async () => {
      const { dir, deps, ctx, store } = await setup();
      const before = rowCounts(dir);
      const broken = new NotificationService({ ...deps, store: failingOn(store, method) });
      await expect(broken.create(ctx, { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } }, 'key-1')).rejects.toThrow('injected failure');
      expect(rowCounts(dir)).toEqual(before);
      // And the same key works afterwards: nothing half-written blocks it.
      const ok = await new NotificationService(deps).create(ctx, { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } }, 'key-1');
      expect(ok.status).toBe(202);
      await store.close();
    });
  }

  it('keeps the old reminders when rescheduling fails half-way', async () => {
    const { dir, deps, ctx, store } = await setup();
    const notifications = new NotificationService(deps);
    const start = new Date(Date.now() + 10 * 86_400_000).toISOString();
    await new AppointmentService(deps, notifications).upsert(ctx, 'a1', { patientId: 'p1', start });
    const before = rowCounts(dir);
    const broken = new AppointmentService({ ...deps, store: failingOn(store, 'appendAudit') }, notifications);
    await expect(broken.upsert(ctx, 'a1', { patientId: 'p1', start: new Date(Date.now() + 5 * 86_400_000).toISOString() })).rejects.toThrow();
    expect(rowCounts(dir)).toEqual(before);
    const view = await new AppointmentService(deps, notifications).get(ctx, 'a1');
    expect(view.start).toBe(start);
    expect(view.reminders.every((r) => r.status === 'scheduled')).toBe(true);
    await store.close();
  });
});
