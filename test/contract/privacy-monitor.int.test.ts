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

/** `n` reads by `actor` of distinct patients `<prefix>-<i>`, five seconds apart from `at`. */
async function reads(store: KyselyStore, actor: string, at: number, n: number, prefix: string): Promise<void> {
  await store.transaction(async (tx) => {
    for (let i = 0; i < n; i++)
      await tx.audit.append({
        tenantId: T,
        at: new Date(at + i * 5_000),
        actor,
        action: 'patient.read',
        outcome: 'success',
        targetType: 'patient',
        targetId: `${prefix}-${i}`,
        patientRef: `${prefix}-${i}`,
      });
  });
  await numberAuditEntries(store);
}

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

  it('closing an alert does not blind the monitor: the same person snooping again that day raises a new open alert, notified, holding only the evidence since the close', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    const notified: { id: string; subject: string }[] = [];
    const m = monitor(store, { notify: async (_t, a) => void notified.push({ id: a.id, subject: a.subject }) });
    const night = Date.parse('2031-05-05T01:00:00Z');
    const alerts = async () => {
      await numberAuditEntries(store);
      return store.read.privacy.listAlerts(T, { limit: 100 });
    };
    await reads(store, 'user:snoop', night, 30, 'a');
    await m.runOnce();
    const [first, ...none] = await alerts();
    expect(none).toEqual([]);
    expect(first!.status).toBe('open');
    await store.transaction((tx) =>
      tx.privacy.setStatus(T, first!.id, ['open'], { status: 'closed', outcome: 'false_positive' }, night),
    );
    // Nothing new since the close: nothing raised.
    await m.runOnce();
    expect((await alerts()).map((a) => a.id)).toEqual([first!.id]);

    // Six hours later, the same day: 300 more patients.
    await reads(store, 'user:snoop', night + 6 * 3_600_000, 300, 'b');
    await m.runOnce();
    const second = (await alerts()).filter((a) => a.status !== 'closed');
    expect(second).toHaveLength(1);
    expect(second[0]).toMatchObject({ subject: 'user:snoop', status: 'open', dedup_key: `${first!.dedup_key}#2` });
    const seen = JSON.parse(first!.evidence) as number[];
    const since = JSON.parse(second[0]!.evidence) as number[];
    expect(since.length).toBeGreaterThan(0);
    expect(Math.min(...since)).toBeGreaterThan(Math.max(...seen));
    expect(notified).toEqual([
      { id: first!.id, subject: 'user:snoop' },
      { id: second[0]!.id, subject: 'user:snoop' },
    ]);
    const raised = (await store.read.auditLog.entries(0, 100_000))
      .filter((e) => e.action === 'privacy_alert.raised')
      .map((e) => JSON.parse(e.entry) as { target: { id: string }; details: { follows?: string } });
    expect(raised.find((e) => e.target.id === second[0]!.id)!.details.follows).toBe(first!.id);

    // Under investigation, it is updated by what follows (never doubled); once closed, the next one follows it.
    await store.transaction((tx) =>
      tx.privacy.setStatus(T, second[0]!.id, ['open'], { status: 'investigating', assignee: 'user:officer' }, night),
    );
    await reads(store, 'user:snoop', night + 8 * 3_600_000, 800, 'c');
    await m.runOnce();
    const updated = (await alerts()).filter((a) => a.status !== 'closed');
    expect(updated.map((a) => [a.id, a.status])).toEqual([[second[0]!.id, 'investigating']]);
    expect(updated[0]!.evidence).not.toBe(second[0]!.evidence);
    expect(notified).toHaveLength(2);
    await store.transaction((tx) =>
      tx.privacy.setStatus(T, second[0]!.id, ['investigating'], { status: 'closed', outcome: 'sanction' }, night),
    );
    await reads(store, 'user:snoop', night + 12 * 3_600_000, 300, 'd');
    await m.runOnce();
    const third = (await alerts()).filter((a) => a.status !== 'closed');
    expect(third.map((a) => a.dedup_key)).toEqual([`${first!.dedup_key}#3`]);
    expect(notified.map((a) => a.id)).toEqual([first!.id, second[0]!.id, third[0]!.id]);
  });

  it('a long catch-up renews the lease at every batch, so no other node takes it meanwhile', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    await writeLog(store);
    // Each read of the clock is 10 s later: the whole run lasts far longer than one 30 s lease.
    let t = START;
    const m = new PrivacyMonitor(
      store,
      { owner: 'node-a', intervalMs: 1000, batchSize: 23, newId: uuidv7 },
      () => new Date((t += 10_000)),
    );
    const size = await store.read.auditLog.size();
    expect(await m.runOnce()).toBeGreaterThanOrEqual(size);
    expect(size / 23).toBeGreaterThan(5);
    // Node B, just after the run, finds the lease held (renewed by the last batch, not expired at the first).
    expect(await store.transaction((tx) => tx.leases.acquire(PRIVACY_MONITOR, 'node-b', t + 1, t + 30_000))).toBe(
      false,
    );
  });

  it('a monitor that lost its lease between batches stops at the next one', async () => {
    // SQLite has one writer: node B's lease would wait for the batch's own transaction.
    if (backend === 'sqlite') return;
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    await writeLog(store);
    const late = START + 3_600_000;
    const a = monitor(store, {
      // While A's first batch runs, its lease expires and node B takes it.
      beforeSave: () =>
        store
          .transaction((tx) => tx.leases.acquire(PRIVACY_MONITOR, 'node-b', late, late + 60_000))
          .then((took) => expect(took).toBe(true)),
    });
    expect(await a.runOnce()).toBe(23);
    expect((await store.read.privacy.state(PRIVACY_MONITOR))!.cursorIdx).toBe(23);
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
