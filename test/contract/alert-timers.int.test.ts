import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps } from '../../src/core/context.js';
import type { Store } from '../../src/store/store.js';
import { buildAlerting } from '../../src/alerting/alert-service.js';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';
import { FakeNotifier, FakeResolver } from '../helpers/alert-fakes.js';

const ctx = { tenantId: 'default', actor: 'test' };

/** Two steps, no wait after the first: every alert's step-2 timer is due as soon as it is triggered. */
const POLICY = {
  name: 'two steps',
  isDefault: true,
  steps: [
    { targets: ['target'], channels: ['sms'], waitSeconds: 0 },
    { targets: ['group:backup'], channels: ['sms'], waitSeconds: 3600 },
  ],
};

describeEachBackend('alert timers: durable, fired exactly once across nodes', (backend) => {
  const fresh = freshDatabases(backend);

  function node(db: TestDatabase, store: Store, notifier: FakeNotifier, owner: string) {
    const config = loadConfig({ ...db.env });
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const core: CoreDeps = {
      config,
      store,
      cipher: new EnvelopeCipher(keyring),
      templates: TemplateRegistry.load(),
      clock: () => new Date(),
      newId: uuidv7,
      wake: () => {},
    };
    return buildAlerting(core, { resolver: new FakeResolver(), notifier }, { owner, batchSize: 7 });
  }

  async function setup() {
    const db = await fresh({ prefix: 'sealpost-alert-timers-', migrated: true });
    const first = await migratedStore(db);
    await first.read.tenants.ensure('default', 'x', Date.now());
    // Two stores on PostgreSQL are two nodes (two pools); SQLite has one writer, so two workers share it.
    const second = backend === 'postgres' ? db.open() : first;
    const notifier = new FakeNotifier();
    const a = node(db, first, notifier, 'node-a');
    const b = node(db, second, notifier, 'node-b');
    await a.escalationPolicies.create(ctx, POLICY);
    return { db, first, second, notifier, a, b };
  }

  it('two workers firing the same 60 due timers fire each exactly once', async () => {
    const { db, notifier, a, b } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 60; i++)
      ids.push(
        (await a.alerts.trigger(ctx, { priority: 'medium', target: `user:u${i}`, summary: 'SpO2 low' })).alertId,
      );
    expect(notifier.planned.filter((p) => p.step === 1)).toHaveLength(0);
    const drain = async (w: typeof a) => {
      let n = 0;
      for (let k; (k = await w.alertTimers.fireDue(7));) n += k;
      return n;
    };
    const [na, nb] = await Promise.all(
      [drain(a), drain(b), drain(a), drain(b)].slice(0, backend === 'postgres' ? 4 : 2),
    );
    expect(na + nb).toBeGreaterThan(0);
    const second = notifier.planned.filter((p) => p.step === 1);
    expect(second).toHaveLength(60);
    expect(new Set(second.map((p) => p.alertId)).size).toBe(60);
    const fired = await db.query<{ n: number | string; fired_by: string }>(
      'select count(*) as n, fired_by from alert_timers where step = 1 and fired_at is not null group by fired_by',
    );
    expect(fired.reduce((s, r) => s + Number(r.n), 0)).toBe(60);
    const escalated = await db.query<{ n: number | string }>(
      "select count(*) as n from audit_entries where action = 'alert.escalated'",
    );
    expect(Number(escalated[0]!.n)).toBe(60);
    // The last step's timer (expiry) is the one left, once per alert.
    const left = await db.query<{ n: number | string }>(
      'select count(*) as n from alert_timers where fired_at is null',
    );
    expect(Number(left[0]!.n)).toBe(60);
    expect(ids).toHaveLength(60);
  });

  it('a node killed while it holds due timers: the other node fires them, once', async () => {
    const { db, first, second, notifier, a, b } = await setup();
    const { alertId } = await a.alerts.trigger(ctx, { priority: 'high', target: 'user:nurse', summary: 'Apnoea' });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // Node A claims the due timer and dies before committing (its connection is terminated).
    const dying = first
      .transaction(async (tx) => {
        const due = await tx.alerts.lockDue(Date.now(), 10);
        expect(due.map((t) => t.alert_id)).toContain(alertId);
        if (backend === 'postgres') {
          const [{ pid }] = await db.query<{ pid: number }>(
            "select pid from pg_stat_activity where datname = $1 and state = 'idle in transaction' and pid <> pg_backend_pid()",
            [db.name],
          );
          locked();
          await held;
          await db.query('select pg_terminate_backend($1)', [pid]);
          await tx.alerts.markFired(due[0]!.id, Date.now(), 'node-a');
        } else {
          locked();
          throw new Error('killed');
        }
      })
      .catch((e: unknown) => e);
    await isLocked;
    if (backend === 'postgres') {
      // While A holds it, B skips it (no waiting on the lock) ...
      expect(await b.alertTimers.fireDue(10)).toBe(0);
      release();
    }
    expect(await dying).toBeInstanceOf(Error);
    // ... and once A's connection is gone, B fires it at once: no lease to wait for.
    expect(await b.alertTimers.fireDue(10)).toBe(1);
    expect(notifier.planned.filter((p) => p.alertId === alertId && p.step === 1)).toHaveLength(1);
    expect(await b.alertTimers.fireDue(10)).toBe(0);
    void second;
  });

  it('escalates to step 2 when unanswered, stops on acknowledge; decline passes on at once; the last step expires', async () => {
    const { db, notifier, a } = await setup();
    const policy = await a.escalationPolicies.create(ctx, {
      name: 'slow',
      steps: [
        { targets: ['target'], channels: ['sms', 'email'], waitSeconds: 3600, repeat: { times: 2, everySeconds: 600 } },
        { targets: ['group:backup'], channels: ['paging'], waitSeconds: 3600 },
      ],
    });
    const one = await a.alerts.trigger(ctx, {
      priority: 'low',
      target: 'user:n1',
      summary: 'Lab ready',
      policyId: policy.id,
    });
    await a.alerts.decline(ctx, one.alertId, { userId: 'n1', via: 'api' });
    expect(notifier.planned.filter((p) => p.alertId === one.alertId).map((p) => [p.step, p.repeat, p.users])).toEqual([
      [0, 0, ['n1']],
      [1, 0, ['backup-1', 'backup-2']],
    ]);
    await a.alerts.acknowledge(ctx, one.alertId, { userId: 'backup-1', via: 'api' });
    expect(notifier.cancelled).toContain(one.alertId);
    const timers = await db.query<{ n: number | string }>(
      'select count(*) as n from alert_timers where alert_id = ? and fired_at is null'.replace(
        '?',
        backend === 'postgres' ? '$1' : '?',
      ),
      [one.alertId],
    );
    expect(Number(timers[0]!.n)).toBe(0);
    // Declining the final step expires the alert and tells the administrators.
    const two = await a.alerts.trigger(ctx, {
      priority: 'low',
      target: 'user:n2',
      summary: 'Lab ready',
      policyId: policy.id,
    });
    await a.alerts.decline(ctx, two.alertId, { userId: 'n2', via: 'api' });
    await a.alerts.decline(ctx, two.alertId, { userId: 'backup-1', via: 'api' });
    const v = await a.alerts.get(ctx, two.alertId, {});
    expect(v.state).toBe('expired');
    expect(v.timeline.map((e) => e.kind)).toEqual([
      'triggered',
      'notified',
      'declined',
      'escalated',
      'declined',
      'expired',
    ]);
    const admin = await db.query<{ kind: string }>('select kind from admin_alerts');
    expect(admin.map((r) => r.kind)).toContain('alert_unanswered');
    await expect(a.alerts.acknowledge(ctx, two.alertId, { userId: 'n2', via: 'api' })).rejects.toMatchObject({
      code: 'SP_ALERT_CLOSED',
    });
  });

  it('repeats re-notify the same step; nobody on call goes to the fallback with an administrator alert; nobody reachable falls through at once', async () => {
    const { db, notifier, a } = await setup();
    const p = (sql: string) => (backend === 'postgres' ? sql.replace('?', '$1') : sql);
    const policy = await a.escalationPolicies.create(ctx, {
      name: 'repeat',
      steps: [
        { targets: ['target'], channels: ['sms'], waitSeconds: 3600, repeat: { times: 1, everySeconds: 3600 } },
        { targets: ['schedule:gap'], channels: ['paging'], waitSeconds: 3600 },
      ],
      fallbackTargets: ['group:house'],
    });
    const { alertId } = await a.alerts.trigger(ctx, {
      priority: 'medium',
      target: 'user:n1',
      summary: 'Lab',
      policyId: policy.id,
    });
    const due = async () => {
      await db.query(p('update alert_timers set due_at = 0 where alert_id = ? and fired_at is null'), [alertId]);
      return a.alertTimers.fireDue(10);
    };
    expect(await due()).toBe(1); // the repeat of step 0
    expect(await due()).toBe(1); // step 1: the schedule has a gap
    expect(notifier.planned.filter((c) => c.alertId === alertId).map((c) => [c.step, c.repeat, c.users])).toEqual([
      [0, 0, ['n1']],
      [0, 1, ['n1']],
      [1, 0, ['house-1', 'house-2']],
    ]);
    const admin = await db.query<{ kind: string }>(p('select kind from admin_alerts where target_id = ?'), [alertId]);
    expect(admin.map((r) => r.kind)).toEqual(['no_one_on_call']);
    // Nobody reachable (no usable contact): the next step fires in the same transaction.
    const mute = await a.alerts.trigger(ctx, {
      priority: 'high',
      target: 'user:mute-1',
      summary: 'Lab',
      policyId: policy.id,
    });
    const v = await a.alerts.get(ctx, mute.alertId, {});
    expect(v).toMatchObject({ state: 'escalated', step: 1 });
    expect(notifier.planned.filter((c) => c.alertId === mute.alertId).map((c) => [c.step, c.bypassQuiet])).toEqual([
      [0, true],
      [1, true],
    ]);
  });

  it('triggers of one dedup key on two nodes at once fold into one open alert', async () => {
    const { db, a, b } = await setup();
    const input = { priority: 'medium' as const, target: 'user:n9', summary: 'Pump 7 occlusion', dedupKey: 'pump-7' };
    const results = await Promise.all([a, b, a, b, a, b].map((n) => n.alerts.trigger(ctx, input)));
    expect(new Set(results.map((r) => r.alertId)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results.map((r) => r.count).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const rows = await db.query<{ count: number | string }>('select count from alerts');
    expect(rows.map((r) => Number(r.count))).toEqual([6]);
    // Resolved, the key is free again: the next trigger raises a new alert.
    await a.alerts.resolve(ctx, results[0]!.alertId, { via: 'device' });
    expect((await b.alerts.trigger(ctx, input)).created).toBe(true);
  });
});
