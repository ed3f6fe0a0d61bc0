import { expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { outcomeOf } from '../../src/queue/job-queue.js';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';
import { deliveryRow } from './fixtures.js';

const NOW = 1_800_000_000_000;

async function seed(store: KyselyStore, rows: ReturnType<typeof deliveryRow>[]): Promise<void> {
  await store.transaction(async (tx) => {
    for (const r of rows) await tx.deliveries.insertMany([r]);
  });
}

async function statuses(db: TestDatabase): Promise<Record<string, string>> {
  const rows = await db.query<{ id: string; status: string }>('select id, status from deliveries order by id');
  return Object.fromEntries(rows.map((r) => [r.id, r.status]));
}

describeEachBackend('delivery queue', (backend) => {
  const fresh = freshDatabases(backend);

  it('hands each due delivery to exactly one of many concurrent claimers, and every one of them to someone', async () => {
    const db = await fresh({ migrated: true });
    // PostgreSQL: several stores are several pools, as several nodes would have. SQLite serves one node.
    const nodes = backend === 'postgres' ? 4 : 1;
    const stores = [await migratedStore(db, { poolMax: 4 })];
    for (let i = 1; i < nodes; i++) stores.push(db.open({ poolMax: 4 }));
    const due = Array.from({ length: 300 }, (_, i) =>
      deliveryRow(`d${String(i).padStart(3, '0')}`, { run_at: NOW - i, status: i % 3 ? 'queued' : 'scheduled' }),
    );
    const later = Array.from({ length: 20 }, (_, i) => deliveryRow(`f${i}`, { run_at: NOW + 1 + i }));
    await seed(stores[0], [...due, ...later]);

    const claims = new Map<string, string[]>();
    const claimer = async (store: KyselyStore, owner: string) => {
      for (;;) {
        const got = await store.transaction((tx) => tx.queue.claim(owner, NOW, NOW + 60_000, 7));
        if (!got.length) return;
        for (const d of got) claims.set(d.id, [...(claims.get(d.id) ?? []), owner]);
      }
    };
    await Promise.all(
      stores.flatMap((s, n) => Array.from({ length: 16 / nodes }, (_, c) => claimer(s, `node${n}-w${c}`))),
    );

    expect([...claims.keys()].sort()).toEqual(due.map((d) => d.id).sort());
    expect([...claims.values()].filter((owners) => owners.length !== 1)).toEqual([]);
    // The database agrees with what each claimer was told.
    const rows = await db.query<{ id: string; lease_owner: string; attempts: number }>(
      `select id, lease_owner, attempts from deliveries where status = 'sending'`,
    );
    expect(rows).toHaveLength(300);
    for (const r of rows) expect([r.lease_owner, Number(r.attempts)]).toEqual([claims.get(r.id)![0], 1]);
    // More than one claimer took part, or the test proved nothing about concurrency.
    expect(new Set([...claims.values()].map((o) => o[0])).size).toBeGreaterThan(1);
  });

  it('claims due rows earliest first up to the limit, at run_at equal to now included, and leaves future ones alone', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    await seed(store, [
      deliveryRow('late', { run_at: NOW }),
      deliveryRow('early', { run_at: NOW - 10 }),
      deliveryRow('mid', { run_at: NOW - 5, status: 'scheduled' }),
      deliveryRow('future', { run_at: NOW + 1 }),
      deliveryRow('sent', { run_at: NOW - 100, status: 'sent' }),
      deliveryRow('cancelled', { run_at: NOW - 100, status: 'cancelled' }),
    ]);
    const first = await store.transaction((tx) => tx.queue.claim('w1', NOW, NOW + 1000, 2));
    expect(first.map((d) => d.id)).toEqual(expect.arrayContaining(['early', 'mid']));
    expect(first).toHaveLength(2);
    expect(first[0]).toMatchObject({
      status: 'sending',
      lease_owner: 'w1',
      lease_until: NOW + 1000,
      attempts: 1,
      updated_at: NOW,
    });
    const second = await store.transaction((tx) => tx.queue.claim('w2', NOW, NOW + 1000, 10));
    expect(second.map((d) => d.id)).toEqual(['late']);
    expect(await statuses(db)).toEqual({
      cancelled: 'cancelled',
      early: 'sending',
      future: 'queued',
      late: 'sending',
      mid: 'sending',
      sent: 'sent',
    });
  });

  it('returns to the queue only sending deliveries whose lease has expired', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    await seed(store, [
      deliveryRow('expired', { status: 'sending', lease_owner: 'dead', lease_until: NOW - 1 }),
      deliveryRow('at-now', { status: 'sending', lease_owner: 'w', lease_until: NOW }),
      deliveryRow('live', { status: 'sending', lease_owner: 'w', lease_until: NOW + 1 }),
      deliveryRow('sent', { status: 'sent', lease_owner: 'w', lease_until: NOW - 1 }),
    ]);
    expect(await store.read.queue.releaseExpired(NOW)).toBe(1);
    expect(await store.read.deliveries.get('expired')).toMatchObject({
      status: 'queued',
      lease_owner: null,
      lease_until: null,
      updated_at: NOW,
    });
    expect(await statuses(db)).toEqual({ 'at-now': 'sending', expired: 'queued', live: 'sending', sent: 'sent' });
    expect(await store.read.queue.releaseExpired(NOW)).toBe(0);
  });

  it('reports the earliest run_at of waiting deliveries as the next due time, or null when none waits', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    expect(await store.read.queue.nextRunAt()).toBeNull();
    await seed(store, [
      deliveryRow('sending', { run_at: NOW - 50, status: 'sending' }),
      deliveryRow('sent', { run_at: NOW - 40, status: 'sent' }),
      deliveryRow('scheduled', { run_at: NOW + 30, status: 'scheduled' }),
      deliveryRow('queued', { run_at: NOW + 20 }),
    ]);
    expect(await store.read.queue.nextRunAt()).toBe(NOW + 20);
  });

  it("cancels only a notification's waiting and in-flight deliveries and names them", async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    await seed(store, [
      deliveryRow('queued'),
      deliveryRow('scheduled', { status: 'scheduled', run_at: NOW + 1 }),
      deliveryRow('sending', { status: 'sending', lease_owner: 'w', lease_until: NOW + 1 }),
      deliveryRow('sent', { status: 'sent' }),
      deliveryRow('other', { notification_id: 'n2' }),
    ]);
    expect((await store.transaction((tx) => tx.deliveries.cancelPending('n1', NOW))).sort()).toEqual([
      'queued',
      'scheduled',
      'sending',
    ]);
    expect(await store.read.deliveries.get('sending')).toMatchObject({
      status: 'cancelled',
      cancelled_at: NOW,
      lease_owner: null,
      lease_until: null,
    });
    expect(await statuses(db)).toEqual({
      other: 'queued',
      queued: 'cancelled',
      scheduled: 'cancelled',
      sending: 'cancelled',
      sent: 'sent',
    });
    expect(await store.read.deliveries.cancelPending('n1', NOW)).toEqual([]);
  });

  it('lets only the current lease holder update a claimed delivery', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    await seed(store, [deliveryRow('d1', { run_at: NOW })]);
    await store.transaction((tx) => tx.queue.claim('holder', NOW, NOW + 10, 1));
    const holder = { owner: 'holder', until: NOW + 10 };
    expect(
      await store.transaction((tx) =>
        tx.deliveries.update('d1', { last_error_code: 'X_OTHER' }, { owner: 'intruder', until: NOW + 10 }),
      ),
    ).toBe(0);
    expect(await store.transaction((tx) => tx.deliveries.update('d1', { provider: 'p' }, holder))).toBe(1);
    // Once the lease expired and was released, the former holder's late answer changes nothing.
    await store.read.queue.releaseExpired(NOW + 11);
    expect(
      await store.transaction((tx) => tx.deliveries.update('d1', { status: 'sent', sent_at: NOW + 12 }, holder)),
    ).toBe(0);
    expect(await store.read.deliveries.get('d1')).toMatchObject({
      status: 'queued',
      provider: 'p',
      last_error_code: null,
      sent_at: null,
    });
    // Claimed again by the same worker: the first claim's late outcome still changes nothing, the
    // second claim's lease is intact.
    const [again] = await store.transaction((tx) => tx.queue.claim('holder', NOW + 20, NOW + 30, 1));
    expect(again.attempts).toBe(2);
    expect(
      await store.transaction((tx) =>
        tx.queue.finish(holder, NOW + 21, [{ ...outcomeOf(again), status: 'sent', attempts: 1 }]),
      ),
    ).toEqual(new Set());
    expect(
      await store.transaction((tx) => tx.queue.setLinks(holder, [{ id: 'd1', link_ct: new Uint8Array([1]) }])),
    ).toEqual(new Set());
    expect(await store.read.deliveries.get('d1')).toMatchObject({
      status: 'sending',
      attempts: 2,
      lease_owner: 'holder',
      lease_until: NOW + 30,
      link_ct: null,
    });
    expect(
      await store.transaction((tx) =>
        tx.queue.finish({ owner: 'holder', until: NOW + 30 }, NOW + 22, [
          { ...outcomeOf(again), status: 'sent', sent_at: NOW + 22 },
        ]),
      ),
    ).toEqual(new Set(['d1']));
    // Without an owner (e.g. cancellation), the update applies.
    expect(await store.read.deliveries.update('d1', { status: 'cancelled' })).toBe(1);
  });
});
