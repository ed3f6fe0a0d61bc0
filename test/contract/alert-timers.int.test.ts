import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps } from '../../src/core/context.js';
import type { Store } from '../../src/store/store.js';
import { buildAlerting, TIMELINE_MAX } from '../../src/alerting/alert-service.js';
import { TOLD_KINDS } from '../../src/alerting/alert-access.js';
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

  function node(
    db: TestDatabase,
    store: Store,
    notifier: FakeNotifier,
    owner: string,
    resolver: FakeResolver = new FakeResolver(),
  ) {
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
    return buildAlerting(core, { resolver, notifier }, { owner, batchSize: 7 });
  }

  async function setup() {
    const db = await fresh({ prefix: 'sealpost-alert-timers-', migrated: true });
    const first = await migratedStore(db);
    await first.read.tenants.ensure('default', 'x', Date.now());
    // Two stores on PostgreSQL are two nodes (two pools); SQLite has one writer, so two workers share it.
    const second = backend === 'postgres' ? db.open() : first;
    const notifier = new FakeNotifier();
    const resolver = new FlakyResolver();
    const a = node(db, first, notifier, 'node-a', resolver);
    const b = node(db, second, notifier, 'node-b');
    await a.escalationPolicies.create(ctx, POLICY);
    return { db, first, second, notifier, resolver, a, b };
  }
  const sql = (s: string) => (backend === 'postgres' ? s.replace(/\?/g, () => `$${(n = (n ?? 0) + 1)}`) : s);
  let n: number | undefined;
  const q = (s: string) => ((n = 0), sql(s));

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

  it('a timer whose firing throws is retried with backoff, stays unfired, and raises an administrator alert after 5 failures', async () => {
    const { db, notifier, resolver, a } = await setup();
    const { alertId } = await a.alerts.trigger(ctx, { priority: 'medium', target: 'user:n1', summary: 'Lab' });
    const unfired = async () =>
      db.query<{ due_at: number | string }>(
        q('select due_at from alert_timers where alert_id = ? and fired_at is null'),
        [alertId],
      );
    const due = async () => {
      await db.query(q('update alert_timers set due_at = 0 where alert_id = ? and fired_at is null'), [alertId]);
      return a.alertTimers.fireDue(7);
    };
    // Fails once (the batch), then succeeds on its own: not dropped, fired.
    resolver.failFor('group:backup', 1);
    expect(await a.alertTimers.fireDue(7)).toBe(1);
    expect(notifier.planned.filter((p) => p.alertId === alertId && p.step === 1)).toHaveLength(1);

    const two = await a.alerts.trigger(ctx, { priority: 'medium', target: 'user:n2', summary: 'Lab' });
    resolver.failFor('group:backup', 1000);
    const before = Date.now();
    expect(await a.alertTimers.fireDue(7)).toBe(1);
    let rows = await db.query<{ due_at: number | string }>(
      q('select due_at from alert_timers where alert_id = ? and fired_at is null and step = 1'),
      [two.alertId],
    );
    expect(rows).toHaveLength(1); // still unfired, postponed by the first backoff (1 s)
    expect(Number(rows[0]!.due_at)).toBeGreaterThanOrEqual(before + 1000);
    expect(a.alertTimers.retryDelayMs(2)).toBe(2000);
    expect(a.alertTimers.retryDelayMs(3)).toBe(4000);
    const adminAlerts = async () =>
      (await db.query<{ kind: string }>(q('select kind from admin_alerts where target_id = ?'), [two.alertId])).map(
        (r) => r.kind,
      );
    for (let i = 2; i <= 4; i++) {
      await db.query(q('update alert_timers set due_at = 0 where alert_id = ? and fired_at is null'), [two.alertId]);
      await a.alertTimers.fireDue(7);
    }
    expect(await adminAlerts()).toEqual([]);
    await db.query(q('update alert_timers set due_at = 0 where alert_id = ? and fired_at is null'), [two.alertId]);
    await a.alertTimers.fireDue(7);
    expect(await adminAlerts()).toEqual(['alert_timer_failed']);
    rows = await db.query(q('select due_at from alert_timers where alert_id = ? and fired_at is null and step = 1'), [
      two.alertId,
    ]);
    expect(rows).toHaveLength(1); // still tried, at the slow pace
    expect(a.alertTimers.retryDelayMs(6)).toBe(60_000);
    // The directory recovers: the step fires, once.
    resolver.failFor('group:backup', 0);
    await db.query(q('update alert_timers set due_at = 0 where alert_id = ? and fired_at is null'), [two.alertId]);
    expect(await a.alertTimers.fireDue(7)).toBe(1);
    expect(notifier.planned.filter((p) => p.alertId === two.alertId && p.step === 1)).toHaveLength(1);
    expect(await adminAlerts()).toEqual(['alert_timer_failed']);
    const v = await a.alerts.get(ctx, two.alertId, {});
    expect(v.timeline.map((e) => e.kind)).toContain('timer_failed');
    void unfired;
    void due;
  });

  it('two concurrent declines of step 0 on a 3-step policy end at step 1; a repeated decline is a no-op', async () => {
    const { a, notifier } = await setup();
    const policy = await a.escalationPolicies.create(ctx, {
      name: 'three',
      steps: [
        { targets: ['target'], channels: ['sms'], waitSeconds: 3600 },
        { targets: ['user:n2'], channels: ['sms'], waitSeconds: 3600 },
        { targets: ['user:n3'], channels: ['sms'], waitSeconds: 3600 },
      ],
    });
    const { alertId } = await a.alerts.trigger(ctx, {
      priority: 'low',
      target: 'user:n1',
      summary: 'Lab',
      policyId: policy.id,
    });
    const by = { userId: 'n1', via: 'sms' as const };
    await Promise.all([a.alerts.decline(ctx, alertId, by), a.alerts.decline(ctx, alertId, by)]);
    let v = await a.alerts.get(ctx, alertId, {});
    expect(v).toMatchObject({ state: 'escalated', step: 1 });
    // Twilio resends "1D" later: still step 1; someone never told of step 1 cannot pass it on either.
    const again = await a.alerts.respond(ctx, alertId, 'decline', by);
    expect(again).toMatchObject({ state: 'escalated', step: 1 });
    await a.alerts.decline(ctx, alertId, { userId: 'n3', via: 'api' });
    v = await a.alerts.get(ctx, alertId, {});
    expect(v).toMatchObject({ state: 'escalated', step: 1 });
    expect(v.timeline.filter((e) => e.kind === 'declined')).toHaveLength(1);
    expect(notifier.planned.filter((p) => p.alertId === alertId).map((p) => p.step)).toEqual([0, 1]);
    // The step-1 recipient's decline applies: step 2.
    expect(await a.alerts.respond(ctx, alertId, 'decline', { userId: 'n2', via: 'api' })).toMatchObject({ step: 2 });
  });

  it('a fold with a higher priority raises the alert and re-notifies whoever acknowledged it; folds do not grow the timeline', async () => {
    const { a, notifier, db } = await setup();
    const input = { priority: 'low' as const, target: 'user:n5', summary: 'Pump 9 occlusion', dedupKey: 'pump-9' };
    const { alertId } = await a.alerts.trigger(ctx, input);
    for (let i = 0; i < 20; i++) await a.alerts.trigger(ctx, input);
    await a.alerts.acknowledge(ctx, alertId, { userId: 'n5', via: 'api' });
    const planned = notifier.planned.filter((p) => p.alertId === alertId).length;
    const r = await a.alerts.trigger(ctx, { ...input, priority: 'high' });
    expect(r).toEqual({ alertId, created: false, count: 22 });
    const v = await a.alerts.get(ctx, alertId, {});
    expect(v).toMatchObject({ priority: 'high', state: 'acknowledged', count: 22 });
    const again = notifier.planned.filter((p) => p.alertId === alertId).slice(planned);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ users: ['n5'], bypassQuiet: true });
    // One fold entry and one priority change on the timeline, however many folds; every fold audited.
    expect(v.timeline.filter((e) => e.kind === 'folded')).toHaveLength(1);
    expect(v.timeline.find((e) => e.kind === 'priority_raised')?.data).toMatchObject({ from: 'low', to: 'high' });
    const audits = await db.query<{ action: string }>(
      q("select action from audit_entries where entry like ? and action in ('alert.folded', 'alert.priority_raised')"),
      [`%${alertId}%`],
    );
    expect(audits.filter((x) => x.action === 'alert.folded')).toHaveLength(21);
    expect(audits.filter((x) => x.action === 'alert.priority_raised')).toHaveLength(1);
    // A lower priority changes nothing.
    await a.alerts.trigger(ctx, { ...input, priority: 'medium' });
    expect((await a.alerts.get(ctx, alertId, {})).priority).toBe('high');
  });

  it('the timeline read is capped at the newest 500 entries; answering reads only who was told', async () => {
    const { a, first } = await setup();
    const { alertId } = await a.alerts.trigger(ctx, { priority: 'low', target: 'user:n7', summary: 'Lab' });
    const t0 = Date.now();
    await first.transaction(async (tx) => {
      for (let i = 0; i < 600; i++)
        await tx.alerts.insertEvent({
          id: `e-${String(i).padStart(4, '0')}`,
          tenant_id: 'default',
          alert_id: alertId,
          at: t0 + 1000 + i,
          kind: 'note',
          actor: 'test',
          data: JSON.stringify({ i }),
        });
    });
    const v = await a.alerts.get(ctx, alertId, {});
    expect(v.timeline).toHaveLength(TIMELINE_MAX);
    expect(v.timeline.at(-1)!.data).toEqual({ i: 599 });
    expect(v.timeline[0]!.data).toEqual({ i: 100 });
    const told = await first.read.alerts.events('default', alertId, { kinds: TOLD_KINDS });
    expect(told.map((e) => e.kind)).toEqual(['notified']);
    // The person told (entry far older than the last 500) may still answer.
    expect(await a.alerts.respond(ctx, alertId, 'acknowledge', { userId: 'n7', via: 'paging' })).toMatchObject({
      state: 'acknowledged',
    });
  });
});

/** FakeResolver whose resolution of one target throws the next `n` times (a directory outage). */
class FlakyResolver extends FakeResolver {
  private failing = new Map<string, number>();
  failFor(target: string, n: number): void {
    this.failing.set(target, n);
  }
  override async resolveInTx(...args: Parameters<FakeResolver['resolveInTx']>) {
    const t = args[2];
    const key = t.kind === 'group' ? `group:${t.groupId}` : '';
    const left = this.failing.get(key) ?? 0;
    if (left > 0) {
      this.failing.set(key, left - 1);
      throw new Error('directory unavailable');
    }
    return super.resolveInTx(...args);
  }
}
