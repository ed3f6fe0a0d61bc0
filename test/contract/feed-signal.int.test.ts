import { describe, expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { adminQuery, describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';

/** What a subscriber heard, and a way to wait for the next thing it hears. */
function probe(store: KyselyStore) {
  const heard: (string | null)[] = [];
  let waiters: (() => void)[] = [];
  const unsubscribe = store.feedSignal!.subscribe((p) => {
    heard.push(p);
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  return { heard, next: () => new Promise<void>((res) => waiters.push(res)), unsubscribe };
}

async function listeners(db: TestDatabase): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>(
    `select pid from pg_stat_activity where application_name = 'sealpost-listen' and datname = $1`,
    [db.name],
  );
  return rows.map((r) => r.pid);
}

describeEachBackend('feed signal between nodes', (backend) => {
  const fresh = freshDatabases(backend);

  if (backend === 'sqlite')
    it('is absent on SQLite, where one process delivers in-process', async () => {
      expect((await fresh()).open().feedSignal).toBeUndefined();
    });

  if (backend === 'postgres')
    describe('over PostgreSQL LISTEN/NOTIFY', () => {
      it("carries each payload to the other nodes (in any order: each NOTIFY leaves from its own pooled connection), and not back to the publisher's own node", async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        const b = db.open({ nodeId: 'node-b' });
        const pa = probe(a);
        const pb = probe(b);
        // Each listener reports a resync (null) once LISTEN is in place.
        await Promise.all([pa.next(), pb.next()]);
        for (let i = 1; i <= 3; i++) a.feedSignal!.publish(`m t1 conv-1 ${i}`);
        while (pb.heard.length < 4) await pb.next();
        expect(pb.heard[0]).toBeNull();
        expect(pb.heard.slice(1).sort()).toEqual(['m t1 conv-1 1', 'm t1 conv-1 2', 'm t1 conv-1 3']);
        // b's later notification reaching a proves a would have heard its own by now.
        b.feedSignal!.publish('m t1 conv-2 1');
        while (pa.heard.length < 2) await pa.next();
        expect(pa.heard).toEqual([null, 'm t1 conv-2 1']);
      });

      it('shares one listening connection per node with the worker wake-up', async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        const pa = probe(a);
        await pa.next();
        let woke = 0;
        await new Promise<void>((res) => a.dueSignal!.subscribe(() => (woke++, res())));
        expect(woke).toBe(1);
        expect(await listeners(db)).toHaveLength(1);
      });

      it('reports a resync after the listening connection was lost and came back', async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        const pa = probe(a);
        await pa.next();
        const [pid] = await listeners(db);
        const again = pa.next();
        await adminQuery('select pg_terminate_backend($1)', [pid]);
        await again;
        expect(pa.heard).toEqual([null, null]);
      });

      it('refuses a payload PostgreSQL could not carry', async () => {
        const db = await fresh();
        const a = db.open({ nodeId: 'node-a' });
        expect(() => a.feedSignal!.publish('x'.repeat(8000))).toThrow();
      });
    });
});
