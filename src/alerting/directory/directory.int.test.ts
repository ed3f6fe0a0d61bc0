import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { describeEachBackend, freshDatabases, migratedStore } from '../../../test/helpers/backends.js';
import { loadConfig } from '../../config/load-config.js';
import type { CoreDeps, RequestContext } from '../../core/context.js';
import type { Kysely } from 'kysely';
import type { KyselyStore } from '../../store/kysely-store.js';
import type { Database } from '../../store/schema.js';
import { parseTarget } from '../alert-types.js';
import { ScheduleService } from '../schedules/schedule-service.js';
import { GroupService } from './group-service.js';
import { Directory } from './directory.js';

/** The store's query builder, to plant and read rows the way no service would. */
const dbOf = (store: KyselyStore) => (store as unknown as { db: Kysely<Database> }).db;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const ctx: RequestContext = { tenantId: 'default', actor: 'user:admin' };

async function seed(store: KyselyStore) {
  await store.transaction(async (tx) => {
    await tx.tenants.ensure('default', 'default', T0);
    await tx.tenants.ensure('other', 'other', T0);
    const users: [string, string, string][] = [
      ['default', 'u-active', 'active'],
      ['default', 'u-locked', 'locked'],
      ['default', 'u-disabled', 'disabled'],
      ['default', 'u-invited', 'invited'],
      ['other', 'x-other', 'active'],
    ];
    for (const [tenant, id, status] of users)
      await tx.users.insert({
        id,
        tenant_id: tenant,
        email: `${id}@x.test`,
        display_name: id,
        roles: 'nurse',
        status,
        password_hash: null,
        locked_until: null,
        sso_issuer: null,
        sso_subject: null,
        created_at: T0,
        updated_at: T0,
      });
  });
}

function services(store: KyselyStore) {
  const config = loadConfig({ SEALPOST_PUBLIC_URL: 'https://sealpost.test' });
  // Only what schedules and groups use: the store, the clock, ids and the public URL.
  const deps = { config, store, clock: () => new Date(T0), newId: uuidv7 } as unknown as CoreDeps;
  const schedules = new ScheduleService(deps);
  return { schedules, groups: new GroupService(deps), directory: new Directory(schedules) };
}

const resolve = (store: KyselyStore, d: Directory, target: string, at = T0) =>
  store.transaction((tx) => d.resolveInTx(tx, 'default', parseTarget(target), new Date(at)));
const check = (store: KyselyStore, d: Directory, target: string) =>
  store.transaction((tx) => d.checkInTx(tx, 'default', parseTarget(target)));

describeEachBackend('the directory resolves targets to reachable people', (backend) => {
  const fresh = freshDatabases(backend);

  it('names active (and sign-in-locked) users only, never users of another tenant', async () => {
    const store = await migratedStore(await fresh());
    await seed(store);
    const { directory } = services(store);
    expect(await resolve(store, directory, 'user:u-active')).toEqual({ userIds: ['u-active'] });
    expect(await resolve(store, directory, 'user:u-locked')).toEqual({ userIds: ['u-locked'] });
    expect(await resolve(store, directory, 'user:u-disabled')).toEqual({ userIds: [], empty: 'user_inactive' });
    // Invited (not yet enrolled) colleagues are reached: a nudge is PHI-free and can be answered by SMS.
    expect(await resolve(store, directory, 'user:u-invited')).toEqual({ userIds: ['u-invited'] });
    expect(await resolve(store, directory, 'user:x-other')).toEqual({ userIds: [], empty: 'user_inactive' });
    await check(store, directory, 'user:u-disabled');
    await expect(check(store, directory, 'user:x-other')).rejects.toMatchObject({ code: 'SP_ALERT_TARGET_NOT_FOUND' });
    await store.close();
  });

  it('resolves a schedule to whoever is on call at the instant, and a gap to no_one_on_call', async () => {
    const store = await migratedStore(await fresh());
    await seed(store);
    const { schedules, directory } = services(store);
    const s = await schedules.create(ctx, {
      name: 'ICU nights',
      timeZone: 'Europe/Madrid',
      layers: [{ userIds: ['u-active', 'u-disabled'], kind: 'daily', handoffTime: '08:00', startDate: '2026-03-02' }],
    });
    // Before the first hand-off: nobody.
    expect(await resolve(store, directory, `schedule:${s.id}`)).toEqual({ userIds: [], empty: 'no_one_on_call' });
    // 2 March 10:00 Madrid: the first shift (u-active).
    expect(await resolve(store, directory, `schedule:${s.id}`, Date.parse('2026-03-02T09:00:00Z'))).toEqual({
      userIds: ['u-active'],
    });
    // 3 March: u-disabled's shift, who cannot be reached.
    expect(await resolve(store, directory, `schedule:${s.id}`, Date.parse('2026-03-03T09:00:00Z'))).toEqual({
      userIds: [],
      empty: 'no_one_on_call',
    });
    // An override gives that shift's afternoon to u-locked.
    await schedules.addOverride(ctx, s.id, {
      userId: 'u-locked',
      start: '2026-03-03T12:00:00Z',
      end: '2026-03-03T16:00:00Z',
    });
    const now = await schedules.onCall(ctx, s.id, '2026-03-03T13:00:00Z');
    expect(now).toMatchObject({ userIds: ['u-locked'], start: Date.parse('2026-03-03T12:00:00Z') });
    expect(await resolve(store, directory, `schedule:${s.id}`, Date.parse('2026-03-03T13:00:00Z'))).toEqual({
      userIds: ['u-locked'],
    });
    await expect(check(store, directory, 'schedule:nope')).rejects.toMatchObject({ code: 'SP_ALERT_TARGET_NOT_FOUND' });
    expect(await resolve(store, directory, 'schedule:nope')).toEqual({ userIds: [], empty: 'no_one_on_call' });
    await store.close();
  });

  it('resolves groups and unit roles (listed users plus the on-call of the schedule they follow)', async () => {
    const store = await migratedStore(await fresh());
    await seed(store);
    const { schedules, groups, directory } = services(store);
    const g = await groups.create(ctx, { name: 'Rapid response', memberIds: ['u-active', 'u-disabled', 'u-locked'] });
    expect(await resolve(store, directory, `group:${g.id}`)).toEqual({ userIds: ['u-active', 'u-locked'] });
    await groups.update(ctx, g.id, { name: 'Rapid response', memberIds: ['u-disabled'] });
    expect(await resolve(store, directory, `group:${g.id}`)).toEqual({ userIds: [], empty: 'empty_group' });
    await groups.remove(ctx, g.id);
    expect(await resolve(store, directory, `group:${g.id}`)).toEqual({ userIds: [], empty: 'empty_group' });
    await expect(check(store, directory, `group:${g.id}`)).rejects.toMatchObject({ code: 'SP_ALERT_TARGET_NOT_FOUND' });

    expect(await resolve(store, directory, 'charge_nurse@4-west')).toEqual({ userIds: [], empty: 'no_role_holder' });
    await check(store, directory, 'charge_nurse@4-west');
    const s = await schedules.create(ctx, {
      name: '4 West charge',
      timeZone: 'America/New_York',
      layers: [{ userIds: ['u-locked'], kind: 'weekly', handoffTime: '07:00', startDate: '2026-03-02' }],
    });
    await groups.putUnitRole(ctx, '4-west', 'charge_nurse', { scheduleId: s.id });
    expect(await resolve(store, directory, 'charge_nurse@4-west')).toEqual({ userIds: [], empty: 'no_one_on_call' });
    const at = Date.parse('2026-03-04T12:00:00Z');
    expect(await resolve(store, directory, 'charge_nurse@4-west', at)).toEqual({ userIds: ['u-locked'] });
    const { created } = await groups.putUnitRole(ctx, '4-west', 'charge_nurse', {
      userIds: ['u-active', 'u-locked'],
      scheduleId: s.id,
    });
    expect(created).toBe(false);
    expect(await resolve(store, directory, 'charge_nurse@4-west', at)).toEqual({ userIds: ['u-active', 'u-locked'] });
    await store.close();
  });

  it("resolves a patient's care team to its reachable members; an unknown patient is not found", async () => {
    const store = await migratedStore(await fresh());
    await seed(store);
    const { directory } = services(store);
    await dbOf(store)
      .insertInto('patients')
      .values({
        tenant_id: 'default',
        id: 'p1',
        pseudonym: 'ps1',
        name_ct: new Uint8Array([1]),
        birth_date_ct: new Uint8Array([1]),
        language: 'en',
        time_zone: 'UTC',
        request_hash: 'h',
        created_at: T0,
        updated_at: T0,
      } as never)
      .execute();
    expect(await resolve(store, directory, 'careteam:p1')).toEqual({ userIds: [], empty: 'no_care_team' });
    await store.transaction(async (tx) => {
      for (const u of ['u-disabled', 'u-active'])
        await tx.access.addCareTeamMember({
          tenant_id: 'default',
          patient_id: 'p1',
          user_id: u,
          added_by: 'user:admin',
          created_at: T0,
        });
    });
    expect(await resolve(store, directory, 'careteam:p1')).toEqual({ userIds: ['u-active'] });
    await check(store, directory, 'careteam:p1');
    await expect(check(store, directory, 'careteam:p2')).rejects.toMatchObject({ code: 'SP_ALERT_TARGET_NOT_FOUND' });
    await store.close();
  });

  it('refuses a rotation, group or role naming a user of another tenant, writing nothing (no row, no audit entry)', async () => {
    const store = await migratedStore(await fresh());
    await seed(store);
    const { schedules, groups } = services(store);
    const count = async () =>
      (
        await dbOf(store)
          .selectFrom('audit_entries')
          .select((e) => e.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n;
    const before = Number(await count());
    await expect(
      schedules.create(ctx, {
        name: 'x',
        timeZone: 'UTC',
        layers: [{ userIds: ['u-active', 'x-other'], kind: 'daily', handoffTime: '08:00', startDate: '2026-03-02' }],
      }),
    ).rejects.toMatchObject({ code: 'SP_DIRECTORY_USER_UNKNOWN' });
    await expect(groups.create(ctx, { name: 'g', memberIds: ['x-other'] })).rejects.toMatchObject({
      code: 'SP_DIRECTORY_USER_UNKNOWN',
    });
    await expect(groups.putUnitRole(ctx, 'icu', 'charge_nurse', { userIds: ['x-other'] })).rejects.toMatchObject({
      code: 'SP_DIRECTORY_USER_UNKNOWN',
    });
    await expect(groups.putUnitRole(ctx, 'icu', 'charge_nurse', { scheduleId: 'nope' })).rejects.toMatchObject({
      code: 'SP_UNIT_ROLE_INVALID',
    });
    expect(Number(await count())).toBe(before);
    for (const table of ['on_call_schedules', 'staff_groups', 'unit_roles'] as const)
      expect(await dbOf(store).selectFrom(table).selectAll().execute()).toEqual([]);
    // A write that succeeds is audited with it.
    await groups.create(ctx, { name: 'g', memberIds: ['u-active'] });
    const actions = await dbOf(store).selectFrom('audit_entries').select('action').execute();
    expect(actions.map((a) => a.action)).toContain('group.created');
    await store.close();
  });
});
