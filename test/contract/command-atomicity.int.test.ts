import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
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
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

/** Wraps a real store so that one repository method (`repository.method`) fails inside the command's transaction. */
function failingOn(store: Store, path: `${keyof StoreTx & string}.${string}`): Store {
  const [repo, method] = path.split('.');
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
      return <T>(fn: (tx: StoreTx) => Promise<T>) =>
        target.transaction((tx) =>
          fn(
            new Proxy(tx, {
              get(t, p, r) {
                const v = Reflect.get(t, p, r);
                if (p !== repo) return v;
                return new Proxy(v, {
                  get(rt, rp) {
                    if (rp === method) return async () => Promise.reject(new Error(`injected failure in ${path}`));
                    const f = Reflect.get(rt, rp);
                    return typeof f === 'function' ? f.bind(rt) : f;
                  },
                });
              },
            }),
          ),
        );
    },
  });
}

/** Makes the database refuse every insert into `table` (a trigger), as a full disk or a constraint would. */
async function refuseInserts(db: TestDatabase, table: string): Promise<void> {
  if (db.backend === 'sqlite') {
    sqliteExec(
      db,
      `create trigger refuse_${table} before insert on ${table} begin select raise(abort, 'injected failure'); end`,
    );
  } else {
    await db.query(
      `create function refuse_${table}() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`,
    );
    await db.query(
      `create trigger refuse_${table} before insert on ${table} for each row execute function refuse_${table}()`,
    );
  }
}

async function allowInserts(db: TestDatabase, table: string): Promise<void> {
  if (db.backend === 'sqlite') sqliteExec(db, `drop trigger refuse_${table}`);
  else await db.query(`drop trigger refuse_${table} on ${table}`);
}

/** DDL through a second, writable connection (the test's query helper is read-only on SQLite). */
function sqliteExec(db: TestDatabase, ddl: string): void {
  const c = new Sqlite(db.url.slice('sqlite:'.length));
  try {
    c.exec(ddl);
  } finally {
    c.close();
  }
}

describeEachBackend('one transaction per command', (backend) => {
  const fresh = freshDatabases(backend);

  async function setup() {
    const db = await fresh({ prefix: 'sealpost-atomic-', migrated: true });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
    const store = await migratedStore(db);
    await store.read.tenants.ensure('default', 'x', Date.now());
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const deps: CoreDeps = {
      config,
      store,
      cipher: new EnvelopeCipher(keyring),
      templates: TemplateRegistry.load(),
      clock: () => new Date(),
      newId: uuidv7,
      wake: () => {},
      signing: { signer: () => keyring.signer(), publishedKeys: () => keyring.publishedSigningKeys() },
    };
    const ctx = { tenantId: 'default', actor: 'test' };
    await new PatientService(deps).upsert(ctx, 'p1', samplePatient() as never);
    return { db, deps, ctx, store };
  }

  it('leaves no notification, delivery, idempotency or audit row when appending the audit entry fails', async () => {
    const { db, deps, ctx, store } = await setup();
    const before = await db.rowCounts();
    const broken = new NotificationService({ ...deps, store: failingOn(store, 'audit.append') });
    await expect(
      broken.create(ctx, { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } }, 'key-1'),
    ).rejects.toThrow('injected failure');
    expect(await db.rowCounts()).toEqual(before);
    const ok = await new NotificationService(deps).create(
      ctx,
      { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } },
      'key-1',
    );
    expect(ok.status).toBe(202);
  });

  // The rows of a create are inserted at its transaction's end (with those of concurrent creates):
  // the database itself refuses one table's insert, through a trigger.
  for (const table of ['notifications', 'deliveries', 'idempotency_keys', 'notification_signatures'] as const) {
    it(`leaves no notification, delivery, idempotency or audit row when the database refuses the ${table} insert`, async () => {
      const { db, deps, ctx } = await setup();
      await refuseInserts(db, table);
      const before = await db.rowCounts();
      const service = new NotificationService(deps);
      const items = [1, 2, 3].map((i) => ({
        input: { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } },
        idempotencyKey: `key-${i}`,
      }));
      const results = await Promise.allSettled([
        service.create(ctx, items[0].input, 'key-0'),
        service.createMany(ctx, items),
      ]);
      for (const r of results) expect(r.status).toBe('rejected');
      expect(await db.rowCounts()).toEqual(before);
      // And the same keys work afterwards: nothing half-written blocks them.
      await allowInserts(db, table);
      expect((await service.create(ctx, items[0].input, 'key-0')).status).toBe(202);
      expect((await db.rowCounts()).notifications).toBe(before.notifications + 1);
    });
  }

  it('keeps the old reminders when rescheduling fails half-way', async () => {
    const { db, deps, ctx, store } = await setup();
    const notifications = new NotificationService(deps);
    const start = new Date(Date.now() + 10 * 86_400_000).toISOString();
    await new AppointmentService(deps, notifications).upsert(ctx, 'a1', { patientId: 'p1', start });
    const before = await db.rowCounts();
    const broken = new AppointmentService({ ...deps, store: failingOn(store, 'audit.append') }, notifications);
    await expect(
      broken.upsert(ctx, 'a1', { patientId: 'p1', start: new Date(Date.now() + 5 * 86_400_000).toISOString() }),
    ).rejects.toThrow();
    expect(await db.rowCounts()).toEqual(before);
    const view = await new AppointmentService(deps, notifications).get(ctx, 'a1');
    expect(view.start).toBe(start);
    expect(view.reminders.every((r) => r.status === 'scheduled')).toBe(true);
  });
});
