import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { rootFromLeafHashes } from '../../src/audit/merkle.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { describeEachBackend, freshDatabases, migratedStore, numberAuditEntries } from '../helpers/backends.js';

class Planned extends Error {}

describeEachBackend('audit log sequencing', (backend) => {
  const fresh = freshDatabases(backend);

  it('numbers the entries of concurrent transactions 1..N without gaps when some of them roll back, and the integrated root matches the leaves', async () => {
    const db = await fresh({ prefix: 'sealpost-seq-', migrated: true });
    const nodes = backend === 'postgres' ? 4 : 1;
    const stores: KyselyStore[] = [await migratedStore(db, { poolMax: 5 })];
    for (let i = 1; i < nodes; i++) stores.push(db.open({ poolMax: 5 }));
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const opts = { origin: 'test.example/audit', checkpointSeconds: 3600, checkpointEntries: 1e9, batch: 64 };
    const logs = stores.map((s) => new AuditLog(s, keyring, opts, () => new Date(), pino({ level: 'silent' })));

    // Transaction i appends i % 4 entries (0 to 3) and writes a row; every fifth one then throws.
    // Eight clients per node send them, each one after another, as request handlers would: more
    // clients than connections, without waiting so long in a node's pool that a busy test machine
    // turns it into a connection timeout.
    const committed: string[] = [];
    const rolledBack: string[] = [];
    const transaction = async (i: number) => {
      const actions = Array.from({ length: i % 4 }, (_, j) => `t${i}.e${j}`);
      const fails = i % 5 === 0;
      try {
        await stores[i % nodes].transaction(async (tx) => {
          for (const action of actions)
            await tx.audit.append({ tenantId: 't', at: new Date(i), actor: 'test', action, outcome: 'success' });
          await tx.settings.init(`s${i}`, 'v');
          if (fails) throw new Planned();
        });
        committed.push(...actions);
      } catch (e) {
        if (!(e instanceof Planned)) throw e;
        rolledBack.push(...actions);
      }
    };
    const clients = nodes * 8;
    const work = Array.from({ length: clients }, async (_, c) => {
      for (let i = c; i < 240; i += clients) await transaction(i);
    });
    // Integrators on two nodes run while the writers commit: an index that became visible before a
    // smaller one, or one given twice, would show up here as a gap (AuditLog.integrate refuses one).
    let writing = true;
    const integrators = logs.slice(0, 2).map(async (log) => {
      while (writing) await log.integrate();
    });
    const writers = Promise.all(work).finally(() => (writing = false));
    const outcome = await Promise.allSettled([writers, ...integrators]);
    for (const o of outcome) if (o.status === 'rejected') throw o.reason;
    // PostgreSQL numbers entries in the integrator: the last commits may still be waiting for it
    // (or for a transaction open in another database of the cluster).
    await numberAuditEntries(stores[0]);
    await logs[0].integrate();

    const n = committed.length;
    expect(n).toBeGreaterThan(200);
    expect(rolledBack.length).toBeGreaterThan(30);
    const rows = await db.query<{ idx: number | string; action: string; leaf_hash: Uint8Array }>(
      'select idx, action, leaf_hash from audit_entries order by idx',
    );
    expect(rows.map((r) => Number(r.idx))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(rows.map((r) => r.action).sort()).toEqual([...committed].sort());
    const [state] = await db.query<{ value: number | string }>(
      `select value from audit_log_state where name = 'appended_size'`,
    );
    expect(Number(state.value)).toBe(n);
    expect((await db.rowCounts()).settings).toBe(240 - 48);

    const cp = await logs[nodes - 1].checkpoint();
    expect(cp.size).toBe(n);
    const direct = rootFromLeafHashes(rows.map((r) => new Uint8Array(r.leaf_hash)));
    expect(Buffer.from(cp.root).toString('hex')).toBe(Buffer.from(direct).toString('hex'));
  });
});
