import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps } from '../../src/core/context.js';
import { adminQuery, BACKENDS, describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

const ctx = { tenantId: 'default', actor: 'test' };
const body = (patientId: string, i: number) => ({
  type: 'follow_up',
  patientId,
  data: { reason: `r${i}`, dueDate: '2030-01-01' },
});

async function setup(fresh: ReturnType<typeof freshDatabases>) {
  const db = await fresh({ prefix: 'sealpost-shared-', migrated: true });
  const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
  const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
  const store = await migratedStore(db);
  const deps: CoreDeps = {
    config,
    store,
    cipher: new EnvelopeCipher(keyring),
    templates: TemplateRegistry.load(),
    clock: () => new Date(),
    newId: uuidv7,
    wake: () => {},
  };
  await store.read.tenants.ensure('default', 'x', Date.now());
  await new PatientService(deps).upsert(ctx, 'p1', samplePatient() as never);
  return { db, store, notifications: new NotificationService(deps) };
}

/** Commands that arrive together share transactions (store/coalescing-transactions.ts); one's failure is its own. */
describeEachBackend('shared transactions', (backend) => {
  const fresh = freshDatabases(backend);

  it('fails only the create whose read the database refuses, and commits the others that arrived with it', async () => {
    const { db, notifications } = await setup(fresh);
    const before = await db.rowCounts();
    // PostgreSQL refuses NUL in text (SQLSTATE 22021), which aborts a transaction: the one create
    // carrying it must not take the creates sharing its transaction down with it.
    const settled = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => notifications.create(ctx, body(i === 7 ? 'p\u0000x' : 'p1', i), `k${i}`)),
    );
    const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
    expect(failed).toEqual([7]);
    const after = await db.rowCounts();
    expect(after.notifications - before.notifications).toBe(29);
    expect(after.idempotency_keys - before.idempotency_keys).toBe(29);
  });

  it('writes the rows a command that is not batchable hands to the commit, also when it shares the transaction', async () => {
    const { store } = await setup(fresh);
    const row = (id: string) => ({
      delivery_id: id,
      tenant_id: 't',
      channel: 'sms',
      recipient_ct: Buffer.from('a'),
      subject: null,
      body_ct: Buffer.from('b'),
      created_at: 1,
    });
    await Promise.all([
      store.transaction(async (tx) => tx.atCommit.outbox([row('batchable')]), { batchable: true }),
      store.transaction(async (tx) => tx.atCommit.outbox([row('not-batchable')])),
      store.transaction(async (tx) => tx.atCommit.outbox([row('batchable-2')]), { batchable: true }),
    ]);
    expect((await store.read.outbox.list('t', 0, 10)).map((r) => r.delivery_id).sort()).toEqual([
      'batchable',
      'batchable-2',
      'not-batchable',
    ]);
  });
});

describe.skipIf(!BACKENDS.includes('postgres'))('prepared statements [postgres]', () => {
  const fresh = freshDatabases('postgres');

  it("keeps working when another node changes a table under this node's prepared statements", async () => {
    const { db, notifications, store } = await setup(fresh);
    await notifications.create(ctx, body('p1', 1), 'before');
    await store.read.deliveries.list('none');
    // What a newer node's migration does during a rolling upgrade: the tables' row shape changes.
    await adminQuery('alter table deliveries add column added_by_a_newer_node text', [], db.url);
    await adminQuery('alter table notifications add column added_by_a_newer_node text', [], db.url);
    const again = await Promise.all([1, 2, 3].map((i) => notifications.create(ctx, body('p1', i + 1), `after-${i}`)));
    expect(again.map((a) => a.status)).toEqual([202, 202, 202]);
    expect((await store.transaction((tx) => tx.deliveries.list(again[0].body.id))).map((d) => d.id)).toEqual([
      again[0].body.deliveries[0].id,
    ]);
  });
});
