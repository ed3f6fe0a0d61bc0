import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';
import { v7 as uuidv7 } from 'uuid';
import { parseTarget } from '../../src/alerting/alert-types.js';
import { Directory } from '../../src/alerting/directory/directory.js';
import { ScheduleService } from '../../src/alerting/schedules/schedule-service.js';
import type { CoreDeps } from '../../src/core/context.js';

describe('staff groups and unit roles over the API, resolved by the directory', () => {
  let h: Harness;
  let admin: TestPerson, nurse: TestPerson, charge: TestPerson, stranger: TestPerson;
  const as = (p: TestPerson) => (method: string, path: string, body?: unknown) =>
    h.request(method, path, body, p.headers);
  const count = (table: string) => query(h.dataDir, `select count(*) as n from ${table}`)[0].n as number;
  const audits = (action: string) =>
    query(h.dataDir, 'select count(*) as n from audit_entries where action = ?', action)[0].n as number;
  // The directory as the alert service holds it, over the running server's store.
  const directory = () =>
    new Directory(
      new ScheduleService({
        config: h.app.config,
        store: h.app.store,
        clock: () => new Date(),
        newId: uuidv7,
      } as CoreDeps),
    );
  const resolve = (target: string, at: string) =>
    h.app.store.transaction((tx) => directory().resolveInTx(tx, 'default', parseTarget(target), new Date(at)));

  beforeAll(async () => {
    h = await startSealpost();
    [admin, nurse, charge, stranger] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse'], 'other-tenant'),
    ]);
  }, 120_000);
  afterAll(() => h?.close());

  it('creates, reads, replaces and deletes a group, each write audited; a nurse may read but not write', async () => {
    const created = await as(admin)('POST', '/v1/groups', { name: 'Rapid response', memberIds: [nurse.userId] });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await as(nurse)('GET', `/v1/groups/${id}`)).status).toBe(200);
    expect((await as(nurse)('PUT', `/v1/groups/${id}`, { name: 'x', memberIds: [] })).status).toBe(403);
    const replaced = await as(admin)('PUT', `/v1/groups/${id}`, {
      name: 'Rapid response',
      memberIds: [nurse.userId, charge.userId],
    });
    expect(replaced.body.memberIds).toEqual([nurse.userId, charge.userId]);
    expect(await resolve(`group:${id}`, '2026-01-01T00:00:00Z')).toEqual({ userIds: [nurse.userId, charge.userId] });
    expect((await as(admin)('GET', '/v1/groups')).body.items.map((g: { id: string }) => g.id)).toContain(id);
    expect((await as(admin)('DELETE', `/v1/groups/${id}`)).status).toBe(204);
    expect((await as(admin)('GET', `/v1/groups/${id}`)).body.code).toBe('SP_GROUP_NOT_FOUND');
    expect([audits('group.created'), audits('group.updated'), audits('group.deleted')]).toEqual([1, 1, 1]);
  });

  it('a unit role follows a schedule: whoever is on call holds it, plus the listed users', async () => {
    const schedule = await as(admin)('POST', '/v1/schedules', {
      name: '4 West charge',
      timeZone: 'America/New_York',
      layers: [
        { userIds: [charge.userId, nurse.userId], kind: 'weekly', handoffTime: '07:00', startDate: '2026-03-02' },
      ],
    });
    const put = await as(admin)('PUT', '/v1/units/4-west/roles/charge_nurse', { scheduleId: schedule.body.id });
    expect(put.status).toBe(201);
    expect(await resolve('charge_nurse@4-west', '2026-03-04T12:00:00Z')).toEqual({ userIds: [charge.userId] });
    expect(await resolve('charge_nurse@4-west', '2026-03-11T12:00:00Z')).toEqual({ userIds: [nurse.userId] });
    expect(await resolve('charge_nurse@4-west', '2026-02-01T12:00:00Z')).toEqual({
      userIds: [],
      empty: 'no_one_on_call',
    });
    const again = await as(admin)('PUT', '/v1/units/4-west/roles/charge_nurse', {
      userIds: [nurse.userId],
      scheduleId: schedule.body.id,
    });
    expect([again.status, again.body.userIds]).toEqual([200, [nurse.userId]]);
    expect(await resolve('charge_nurse@4-west', '2026-03-04T12:00:00Z')).toEqual({
      userIds: [nurse.userId, charge.userId],
    });
    expect((await as(admin)('GET', '/v1/units/4-west/roles/charge_nurse')).body.scheduleId).toBe(schedule.body.id);
    expect((await as(admin)('DELETE', '/v1/units/4-west/roles/charge_nurse')).status).toBe(204);
    expect((await as(admin)('GET', '/v1/units/4-west/roles/charge_nurse')).body.code).toBe('SP_UNIT_ROLE_NOT_FOUND');
    expect(await resolve('charge_nurse@4-west', '2026-03-04T12:00:00Z')).toEqual({
      userIds: [],
      empty: 'no_role_holder',
    });
    expect([audits('unit_role.assigned'), audits('unit_role.removed')]).toEqual([2, 1]);
  });

  it('refuses members of another tenant, unknown schedules and empty assignments, writing nothing', async () => {
    const before = [count('staff_groups'), count('unit_roles'), count('audit_entries')];
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/groups', { name: 'g', memberIds: [stranger.userId] }, 'SP_DIRECTORY_USER_UNKNOWN'],
      ['PUT', '/v1/units/icu/roles/charge_nurse', { userIds: [stranger.userId] }, 'SP_DIRECTORY_USER_UNKNOWN'],
      ['PUT', '/v1/units/icu/roles/charge_nurse', { scheduleId: 'no-such-schedule' }, 'SP_UNIT_ROLE_INVALID'],
      ['PUT', '/v1/units/icu/roles/charge_nurse', {}, 'SP_UNIT_ROLE_INVALID'],
      ['PUT', '/v1/units/icu/roles/Charge%20Nurse', { userIds: [nurse.userId] }, 'SP_REQ_VALIDATION'],
    ];
    for (const [method, path, body, code] of cases) {
      const r = await as(admin)(method, path, body);
      expect([r.status, r.body.code]).toEqual([400, code]);
    }
    expect([count('staff_groups'), count('unit_roles'), count('audit_entries')]).toEqual(before);
  });
});
