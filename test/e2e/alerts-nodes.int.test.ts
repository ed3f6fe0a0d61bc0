import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';

/**
 * Three nodes on one PostgreSQL database: A takes requests only, B and C run the timer workers.
 * Every alert escalates exactly once, whichever node fires it.
 */
describe.skipIf(!BACKENDS.includes('postgres'))('clinical alert timers on several nodes (PostgreSQL)', () => {
  const open: Harness[] = [];
  let db: TestDatabase;
  afterAll(async () => {
    for (const h of open.splice(0)) await h.close();
    await db?.drop();
  });

  it('alerts raised on a node without a worker escalate once each, on the worker nodes', async () => {
    db = await createTestDatabase('postgres');
    const a = await startSealpost({
      SEALPOST_DATABASE_URL: db.url,
      SEALPOST_WORKER: 'false',
      SEALPOST_QUIET_HOURS: 'off',
    });
    open.push(a);
    for (let i = 0; i < 2; i++)
      open.push(
        await startSealpost({
          SEALPOST_DATABASE_URL: db.url,
          SEALPOST_KEYRING_FILE: join(a.dataDir, 'keyring.json'),
          SEALPOST_QUIET_HOURS: 'off',
        }),
      );
    const [admin, n1, n2] = await Promise.all([
      staffWithSession(a, ['admin']),
      staffWithSession(a, ['nurse']),
      staffWithSession(a, ['nurse']),
    ]);
    for (const [p, phone] of [
      [n1, '+14155550121'],
      [n2, '+14155550122'],
    ] as const)
      expect(
        (
          await a.request(
            'PUT',
            `/v1/users/${p.userId}/alert-contacts`,
            {
              contacts: [{ kind: 'sms', value: phone }],
              settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
            },
            admin.headers,
          )
        ).status,
      ).toBe(200);
    const policy = await a.request(
      'POST',
      '/v1/escalation-policies',
      {
        name: 'fast',
        steps: [
          { targets: ['target'], channels: ['sms'], waitSeconds: 1 },
          { targets: [`user:${n2.userId}`], channels: ['sms'], waitSeconds: 3600 },
        ],
      },
      admin.headers,
    );
    expect(policy.status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await a.request('POST', '/v1/alerts', {
        priority: 'medium',
        target: `user:${n1.userId}`,
        summary: `Bed ${i} SpO2 low`,
        policyId: policy.body.id,
      });
      expect(r.status).toBe(201);
      ids.push(r.body.alertId);
    }
    await eventually(async () => {
      const rows = await db.query<{ n: string }>("select count(*) as n from alerts where state = 'escalated'");
      return Number(rows[0]!.n) === ids.length;
    }, 'every alert escalates');
    const escalations = await db.query<{ alert_id: string; n: string }>(
      "select alert_id, count(*) as n from alert_events where kind = 'escalated' group by alert_id",
    );
    expect(escalations).toHaveLength(ids.length);
    expect(escalations.every((r) => Number(r.n) === 1)).toBe(true);
    const audits = await db.query<{ n: string }>(
      "select count(*) as n from audit_entries where action = 'alert.escalated'",
    );
    expect(Number(audits[0]!.n)).toBe(ids.length);
    const owners = await db.query<{ fired_by: string }>(
      'select distinct fired_by from alert_timers where step = 1 and fired_at is not null',
    );
    // Every step-2 timer is marked with the node that fired it.
    expect(owners.length).toBeGreaterThanOrEqual(1);
    expect(owners.every((o) => o.fired_by)).toBe(true);
  }, 120_000);
});
