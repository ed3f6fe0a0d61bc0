import { describe, expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { adminQuery, describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';

/** Counts a subscriber's calls and lets a test wait for the next one (the suite's timeout bounds the wait). */
function probe(store: KyselyStore) {
  let calls = 0;
  let waiters: (() => void)[] = [];
  const unsubscribe = store.dueSignal!.subscribe(() => {
    calls++;
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  return {
    get calls() {
      return calls;
    },
    next: () => new Promise<void>((res) => waiters.push(res)),
    unsubscribe,
  };
}

/** Backend pids of the database's listening connections. */
async function listeners(db: TestDatabase): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>(
    `select pid from pg_stat_activity where application_name = 'sealpost-listen' and datname = $1`,
    [db.name],
  );
  return rows.map((r) => r.pid);
}

describeEachBackend('due signal between nodes', (backend) => {
  const fresh = freshDatabases(backend);

  // Each backend registers only the tests that apply to it (SQLite has no signal to send).
  if (backend === 'sqlite')
    it('is absent on SQLite, which runs one node and wakes its worker directly', async () => {
      const store = (await fresh()).open();
      expect(store.dueSignal).toBeUndefined();
    });

  if (backend === 'postgres')
    describe('over PostgreSQL LISTEN/NOTIFY', () => {
      it("wakes a subscriber on one node when another node announces, but not for the subscriber's own announcements", async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        const b = db.open({ nodeId: 'node-b' });
        const pa = probe(a);
        const pb = probe(b);
        // Each listener calls its subscribers once when LISTEN is in place (to catch up on anything missed).
        await Promise.all([pa.next(), pb.next()]);
        const [a0, b0] = [pa.calls, pb.calls];

        // a announces; b hearing it proves a's NOTIFY was sent. Notifications reach a listener in commit
        // order, so when a hears b's later announcement, a would already have heard its own.
        const heardByB = pb.next();
        a.dueSignal!.announce();
        await heardByB;
        const heardByA = pa.next();
        b.dueSignal!.announce();
        await heardByA;
        expect(pa.calls - a0).toBe(1);
        expect(pb.calls - b0).toBe(1);
      });

      it('stops calling a subscriber that unsubscribed while others on the same node still hear', async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        const b = db.open({ nodeId: 'node-b' });
        const gone = probe(a);
        const stays = probe(a);
        await stays.next();
        const before = gone.calls;
        gone.unsubscribe();
        const heard = stays.next();
        b.dueSignal!.announce();
        await heard;
        expect(gone.calls).toBe(before);
      });

      it('reconnects after its listening connection is terminated and hears announcements again', async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        const b = db.open({ nodeId: 'node-b' }); // announces only: it opens no listening connection
        const pa = probe(a);
        await pa.next();
        const [old] = await listeners(db);
        expect(await listeners(db)).toEqual([old]);

        const relistened = pa.next(); // the catch-up call of the new connection
        await adminQuery('select pg_terminate_backend($1)', [old]);
        await relistened;
        const now = await listeners(db);
        expect(now).toHaveLength(1);
        expect(now[0]).not.toBe(old);

        const heard = pa.next();
        b.dueSignal!.announce();
        await heard;
      });
    });
});
