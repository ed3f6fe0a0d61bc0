import { expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';

const T = 'default';
const alert = (id: string, key: string, score: number, status: 'open' | 'investigating' | 'closed' = 'open') => ({
  id,
  tenant_id: T,
  subject: `user:${id}`,
  detectors: '["distinct_patients"]',
  score_tenths: score,
  status,
  outcome: null,
  first_at: 1000,
  last_at: 2000,
  reasons: '["distinct_patients: 40 patients in 1 h"]',
  evidence: '[1,2,3]',
  dedup_key: key,
  assignee: null,
  created_at: 1,
  updated_at: 1,
});

describeEachBackend('privacy repository', (backend) => {
  const fresh = freshDatabases(backend);
  const open = async (): Promise<KyselyStore> => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure(T, T, 1);
    return store;
  };

  it('keeps one alert per tenant and dedup key, and ranks open before investigating before closed, by score', async () => {
    const store = await open();
    const p = store.read.privacy;
    await p.insertAlert(alert('a1', 'k1', 500));
    await p.insertAlert(alert('a2', 'k2', 900, 'investigating'));
    await p.insertAlert(alert('a3', 'k3', 700));
    await p.insertAlert(alert('a4', 'k4', 990, 'closed'));
    await p.insertAlert({ ...alert('b1', 'k1', 100), tenant_id: 'other' });
    await expect(p.insertAlert(alert('a5', 'k1', 100))).rejects.toThrow();
    const all = await p.listAlerts(T, { limit: 10 });
    expect(all.map((a) => a.id)).toEqual(['a3', 'a1', 'a2', 'a4']);
    expect(all[0]!.score_tenths).toBe(700);
    expect(typeof all[0]!.first_at).toBe('number');
    // Pages continue where the last one stopped.
    const first = await p.listAlerts(T, { limit: 2 });
    const last = first[first.length - 1]!;
    const rank = last.status === 'open' ? 0 : last.status === 'investigating' ? 1 : 2;
    const next = await p.listAlerts(T, { limit: 2, after: { rank, score: last.score_tenths, id: last.id } });
    expect([...first, ...next].map((a) => a.id)).toEqual(['a3', 'a1', 'a2', 'a4']);
    expect((await p.listAlerts(T, { status: 'open', limit: 10 })).map((a) => a.id)).toEqual(['a3', 'a1']);
    expect((await p.alertByKey(T, 'k1'))?.id).toBe('a1');
    expect((await p.alertByKey('other', 'k1'))?.id).toBe('b1');
  });

  it('changes status only from the states given, and never updates the findings of a closed alert', async () => {
    const store = await open();
    const p = store.read.privacy;
    await p.insertAlert(alert('a1', 'k1', 500));
    expect(await p.setStatus(T, 'a1', ['open'], { status: 'investigating', assignee: 'user:po' }, 5)).toBe(true);
    expect(await p.setStatus(T, 'a1', ['open'], { status: 'investigating' }, 6)).toBe(false);
    expect(await p.setStatus('other', 'a1', ['investigating'], { status: 'closed', outcome: 'breach' }, 6)).toBe(false);
    const f = {
      detectors: '["off_hours"]',
      score_tenths: 800,
      first_at: 1000,
      last_at: 3000,
      reasons: '[]',
      evidence: '[9]',
    };
    expect(await p.updateFindings(T, 'a1', f, 7)).toBe(true);
    expect(await p.setStatus(T, 'a1', ['open', 'investigating'], { status: 'closed', outcome: 'sanction' }, 8)).toBe(
      true,
    );
    expect(await p.updateFindings(T, 'a1', { ...f, score_tenths: 999 }, 9)).toBe(false);
    expect(await p.getAlert(T, 'a1')).toMatchObject({
      status: 'closed',
      outcome: 'sanction',
      assignee: 'user:po',
      score_tenths: 800,
      updated_at: 8,
    });
  });

  it('refuses a suppression naming neither a detector nor a subject, and lists only unexpired, unremoved ones as active', async () => {
    const store = await open();
    const p = store.read.privacy;
    const s = (id: string, o: { detector?: string | null; subject?: string | null; expires_at: number }) => ({
      id,
      tenant_id: T,
      detector: o.detector ?? null,
      subject: o.subject ?? null,
      reason_ct: new Uint8Array([1, 2, 3]),
      created_by: 'user:po',
      created_at: 10,
      expires_at: o.expires_at,
      removed_at: null,
    });
    await expect(p.insertSuppression(s('x', { expires_at: 100 }))).rejects.toThrow();
    await p.insertSuppression(s('s1', { detector: 'off_hours', expires_at: 100 }));
    await p.insertSuppression(s('s2', { subject: 'user:u1', expires_at: 50 }));
    await p.insertSuppression(s('s3', { detector: 'volume_self', subject: 'user:u2', expires_at: 100 }));
    expect((await p.activeSuppressions(60)).map((x) => x.id)).toEqual(['s1', 's3']);
    expect(await p.removeSuppression(T, 's3', 70)).toBe(true);
    expect(await p.removeSuppression(T, 's3', 71)).toBe(false);
    expect((await p.activeSuppressions(60)).map((x) => x.id)).toEqual(['s1']);
    expect((await p.listSuppressions(T, 60, true)).map((x) => x.id).sort()).toEqual(['s1', 's2']);
    expect(Buffer.from((await p.getSuppression(T, 's1'))!.reason_ct)).toEqual(Buffer.from([1, 2, 3]));
  });

  it('flags a patient reference once per tenant, replacing its kind, and clears it', async () => {
    const store = await open();
    const p = store.read.privacy;
    expect(await p.setSensitive({ tenant_id: T, patient_ref: 'r1', kind: 'vip', set_by: 'user:a', set_at: 1 })).toBe(
      null,
    );
    expect(await p.setSensitive({ tenant_id: T, patient_ref: 'r1', kind: 'staff', set_by: 'user:a', set_at: 2 })).toBe(
      'vip',
    );
    expect(await p.listSensitive(T)).toEqual([
      { tenant_id: T, patient_ref: 'r1', kind: 'staff', set_by: 'user:a', set_at: 2 },
    ]);
    expect(await p.clearSensitive(T, 'r1')).toBe(true);
    expect(await p.clearSensitive(T, 'r1')).toBe(false);
    expect(await p.allSensitive()).toEqual([]);
  });

  it('saves the monitor progress compare-and-set, so a stale writer cannot save a batch twice', async () => {
    const store = await open();
    const p = store.read.privacy;
    expect(await p.state('m')).toBeUndefined();
    expect(await p.saveState('m', 0, { cursorIdx: 10, state: '{"a":1}' }, 5)).toBe(true);
    expect(await p.saveState('m', 0, { cursorIdx: 12, state: '{}' }, 6)).toBe(false);
    expect(await p.saveState('m', 10, { cursorIdx: 20, state: '{"a":2}' }, 7)).toBe(true);
    expect(await p.saveState('m', 10, { cursorIdx: 30, state: '{}' }, 8)).toBe(false);
    expect(await p.state('m')).toEqual({ cursorIdx: 20, state: '{"a":2}', updatedAt: 7 });
    // Inside a transaction that fails, nothing of it stays.
    await expect(
      store.transaction(async (tx) => {
        expect(await tx.privacy.saveState('m', 20, { cursorIdx: 40, state: '{}' }, 9)).toBe(true);
        throw new Error('crash between batches');
      }),
    ).rejects.toThrow('crash');
    expect((await p.state('m'))!.cursorIdx).toBe(20);
  });
});
