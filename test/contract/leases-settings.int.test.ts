import { expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';

/** PostgreSQL: three stores stand for three nodes; SQLite serves one node. */
async function nodes(db: TestDatabase): Promise<KyselyStore[]> {
  const first = await migratedStore(db, { poolMax: 4 });
  return db.backend === 'postgres' ? [first, db.open({ poolMax: 4 }), db.open({ poolMax: 4 })] : [first];
}

describeEachBackend('leases and settings', (backend) => {
  const fresh = freshDatabases(backend);

  it('give a lease to one holder at a time, let the holder renew it, and let another take it only after it expired', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const take = (owner: string, now: number, until: number) =>
      store.transaction((tx) => tx.leases.acquire('duty', owner, now, until));
    expect(await take('a', 0, 100)).toBe(true);
    expect(await take('b', 50, 150)).toBe(false);
    expect(await take('a', 60, 160)).toBe(true); // renewal moves the expiry
    expect(await take('b', 150, 250)).toBe(false); // would have expired at 100 without the renewal
    expect(await take('b', 160, 260)).toBe(false); // expiry is exclusive: still a's at 160
    expect(await take('b', 161, 261)).toBe(true);
    expect(await take('a', 162, 262)).toBe(false);
    expect(await store.read.leases.acquire('other', 'a', 162, 262)).toBe(true); // names are independent
  });

  it('release a lease only for its holder, after which anyone may take it', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    expect(await store.read.leases.acquire('duty', 'a', 0, 1000)).toBe(true);
    await store.read.leases.release('duty', 'b');
    expect(await db.query('select owner from leases')).toEqual([{ owner: 'a' }]);
    await store.read.leases.release('duty', 'a');
    expect(await db.query('select owner from leases')).toEqual([]);
    expect(await store.read.leases.acquire('duty', 'b', 1, 1000)).toBe(true);
  });

  it('give a free or an expired lease to exactly one of many concurrent contenders', async () => {
    const db = await fresh({ migrated: true });
    const stores = await nodes(db);
    // Contenders of each round are new nodes: a holder among them would (rightly) renew.
    const race = async (round: string, now: number, until: number) => {
      const owners = Array.from({ length: 12 }, (_, i) => `${round}${i}`);
      const won = await Promise.all(
        owners.map((o, i) => stores[i % stores.length].transaction((tx) => tx.leases.acquire('duty', o, now, until))),
      );
      return owners.filter((_, i) => won[i]);
    };
    const first = await race('a', 0, 100);
    expect(first).toHaveLength(1);
    expect(await race('b', 50, 150)).toEqual([]);
    const second = await race('c', 101, 200);
    expect(second).toHaveLength(1);
    expect(await db.query('select owner, until from leases')).toEqual([
      { owner: second[0], until: backend === 'postgres' ? '200' : 200 },
    ]);
  });

  it('keep the first value written for a setting, also when many nodes initialise it at once', async () => {
    const db = await fresh({ migrated: true });
    const stores = await nodes(db);
    expect(await stores[0].read.settings.init('plain', 'first')).toBe('first');
    expect(await stores[0].read.settings.init('plain', 'second')).toBe('first');
    const values = Array.from({ length: 12 }, (_, i) => `v${i}`);
    const got = await Promise.all(
      values.map((v, i) => stores[i % stores.length].transaction((tx) => tx.settings.init('fingerprint', v))),
    );
    expect(new Set(got).size).toBe(1);
    expect(values).toContain(got[0]);
    expect(await stores[0].read.settings.get('fingerprint')).toBe(got[0]);
    expect(await db.query(`select count(*) as n from settings where name = 'fingerprint'`)).toEqual([
      { n: backend === 'postgres' ? '1' : 1 },
    ]);
  });
});
