import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { PrivacyMonitor, PRIVACY_MONITOR } from '../../src/audit/privacy/privacy-monitor.js';
import { PrivacyEngine } from '../../src/audit/privacy/privacy-engine.js';
import { parseFact } from '../../src/audit/privacy/audit-fact.js';
import { describeEachBackend, freshDatabases, migratedStore, numberAuditEntries } from '../helpers/backends.js';

const T = 'default';
const START = Date.parse('2031-05-05T09:00:00Z');

/** Three snoopers (40 patients in 20 minutes each, on three days) amid ordinary work. */
async function writeLog(store: KyselyStore): Promise<void> {
  await store.transaction(async (tx) => {
    for (let day = 0; day < 3; day++) {
      const base = START + day * 86_400_000;
      for (let i = 0; i < 60; i++)
        await tx.audit.append({
          tenantId: T,
          at: new Date(base + i * 60_000),
          actor: `user:clerk-${i % 4}`,
          action: 'patient.read',
          outcome: 'success',
          targetType: 'patient',
          targetId: `ref-${i % 3}`,
          patientRef: `ref-${i % 3}`,
        });
      for (let i = 0; i < 40; i++)
        await tx.audit.append({
          tenantId: T,
          at: new Date(base + 2 * 3_600_000 + i * 30_000),
          actor: `user:snoop-${day}`,
          action: 'patient.read',
          outcome: 'success',
          targetType: 'patient',
          targetId: `p-${day}-${i}`,
          patientRef: `p-${day}-${i}`,
        });
    }
  });
  await numberAuditEntries(store);
}

const ctx = { sensitivity: () => null, roles: () => ['receptionist'] };

describeEachBackend('privacy monitor: batches commit alerts, state and cursor together', (backend) => {
  const fresh = freshDatabases(backend);

  const monitor = (store: KyselyStore, hooks: ConstructorParameters<typeof PrivacyMonitor>[3] = {}) =>
    new PrivacyMonitor(
      store,
      { owner: 'node-a', intervalMs: 1000, batchSize: 23, newId: uuidv7 },
      () => new Date(START),
      hooks,
    );

  async function expected(store: KyselyStore): Promise<string[]> {
    const rows = await store.read.auditLog.entries(0, 100_000);
    const engine = new PrivacyEngine();
    const keys = new Set<string>();
    for (const r of rows) for (const c of engine.observe(parseFact(Number(r.idx), r.entry), ctx)) keys.add(c.key);
    return [...keys].sort();
  }

  async function stored(store: KyselyStore) {
    await numberAuditEntries(store);
    const alerts = await store.read.privacy.listAlerts(T, { limit: 1000 });
    const raised = (await store.read.auditLog.entries(0, 100_000)).filter((e) => e.action === 'privacy_alert.raised');
    return { keys: alerts.map((a) => a.dedup_key).sort(), raised: raised.length, alerts };
  }

  it('a run over the whole log raises the alerts the engine finds, once each, and a second run adds nothing', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    await writeLog(store);
    const want = await expected(store);
    expect(want.length).toBeGreaterThanOrEqual(3);
    const notified: string[] = [];
    const m = monitor(store, { notify: async (_t, a) => void notified.push(a.id) });
    expect(await m.runOnce()).toBe(await store.read.auditLog.size());
    const s = await stored(store);
    expect(s.keys).toEqual(want);
    expect(s.raised).toBe(want.length);
    expect(new Set(notified)).toEqual(new Set(s.alerts.map((a) => a.id)));
    await numberAuditEntries(store);
    // The monitor's own entries (privacy_alert.raised) are read but never raise anything.
    await m.runOnce();
    expect((await stored(store)).keys).toEqual(want);
    expect((await m.status()).lag).toBe(0);
  });

  it('a crash inside any batch loses that batch whole; a restarted monitor resumes there, and no alert is lost or doubled', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    await writeLog(store);
    const want = await expected(store);
    const size = await store.read.auditLog.size();
    // Crash in every third batch, after the alerts were written and before the cursor moved.
    let batches = 0;
    for (let restarts = 0; restarts < 100; restarts++) {
      const m = monitor(store, {
        beforeSave: () => {
          if (++batches % 3 === 0) throw new Error('kill -9');
        },
      });
      try {
        await m.runOnce();
        break;
      } catch (e) {
        expect((e as Error).message).toBe('kill -9');
      }
      const st = await store.read.privacy.state(PRIVACY_MONITOR);
      // What is committed is consistent: the alerts of the committed batches only, never twice.
      const s = await stored(store);
      expect(new Set(s.keys).size).toBe(s.keys.length);
      expect(s.raised).toBe(s.keys.length);
      expect(st === undefined || st.cursorIdx <= size).toBe(true);
    }
    // Past every entry of the snooping (and possibly past its own `privacy_alert.*` entries).
    expect((await store.read.privacy.state(PRIVACY_MONITOR))!.cursorIdx).toBeGreaterThanOrEqual(size);
    const s = await stored(store);
    expect(s.keys).toEqual(want);
    expect(s.raised).toBe(want.length);
  });

  it('a monitor whose cursor another node moved writes nothing for its batch', async () => {
    // SQLite has one writer: the racing save below would wait for the batch's own transaction.
    if (backend === 'sqlite') return;
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    await writeLog(store);
    const a = monitor(store);
    await a.batch();
    const st = (await store.read.privacy.state(PRIVACY_MONITOR))!;
    // Another node consumed further in the meantime.
    await store.read.privacy.saveState(
      PRIVACY_MONITOR,
      st.cursorIdx,
      { cursorIdx: st.cursorIdx + 5, state: st.state },
      1,
    );
    const stale = monitor(store, {
      beforeSave: async () => {
        await store.read.privacy.saveState(
          PRIVACY_MONITOR,
          st.cursorIdx + 5,
          { cursorIdx: st.cursorIdx + 9, state: st.state },
          2,
        );
      },
    });
    await expect(stale.batch()).rejects.toThrow('another node');
    expect((await store.read.privacy.state(PRIVACY_MONITOR))!.cursorIdx).toBe(st.cursorIdx + 9);
  });
});
