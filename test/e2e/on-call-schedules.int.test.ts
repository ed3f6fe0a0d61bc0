import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { readFileSync } from 'node:fs';
import { query } from '../helpers/db-snapshot.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';

const H = 3_600_000;

describe('on-call schedules over the API', () => {
  let h: Harness;
  let admin: TestPerson, nurse: TestPerson, nurse2: TestPerson, stranger: TestPerson;
  const as = (p: TestPerson) => (method: string, path: string, body?: unknown) =>
    h.request(method, path, body, p.headers);
  const count = (table: string) => query(h.dataDir, `select count(*) as n from ${table}`)[0].n as number;
  const audits = (action: string) =>
    query(h.dataDir, 'select count(*) as n from audit_entries where action = ?', action)[0].n as number;
  const layer = (over: Record<string, unknown> = {}) => ({
    userIds: [nurse.userId, nurse2.userId],
    kind: 'daily',
    handoffTime: '08:00',
    startDate: '2026-01-01',
    ...over,
  });

  beforeAll(async () => {
    h = await startSealpost();
    [admin, nurse, nurse2, stranger] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse'], 'other-tenant'),
    ]);
  }, 120_000);
  afterAll(() => h?.close());

  it('keeps a daily 08:00 hand-off at 08:00 in New York across both changes: 23 h and 25 h shifts, no gap, no overlap', async () => {
    const created = await as(admin)('POST', '/v1/schedules', {
      name: 'ICU',
      timeZone: 'America/New_York',
      layers: [layer()],
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(audits('schedule.created')).toBeGreaterThanOrEqual(1);
    for (const [from, to, odd] of [
      ['2026-03-05T08:00:00-05:00', '2026-03-11T08:00:00-04:00', 23],
      ['2026-10-29T08:00:00-04:00', '2026-11-04T08:00:00-05:00', 25],
    ] as const) {
      const r = await as(admin)(
        'GET',
        `/v1/schedules/${id}/shifts?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      );
      expect(r.status).toBe(200);
      const items = r.body.items as { start: string; end: string; userIds: string[] }[];
      expect(items.map((s) => (Date.parse(s.end) - Date.parse(s.start)) / H)).toEqual([24, 24, odd, 24, 24, 24]);
      for (let i = 1; i < items.length; i++) expect(items[i]!.start).toBe(items[i - 1]!.end);
      expect(items.every((s) => s.userIds.length === 1)).toBe(true);
    }
    const now = await as(admin)('GET', `/v1/schedules/${id}/on-call?at=2026-03-08T11:59:59Z`);
    expect(now.status).toBe(200);
    expect(now.body).toMatchObject({ start: '2026-03-07T13:00:00.000Z', end: '2026-03-08T12:00:00.000Z' });
    // The next instant belongs to the next shift, someone else.
    const next = await as(admin)('GET', `/v1/schedules/${id}/on-call?at=2026-03-08T12:00:00Z`);
    expect(next.body.start).toBe('2026-03-08T12:00:00.000Z');
    expect(next.body.userIds).not.toEqual(now.body.userIds);

    const ics = await as(admin)(
      'GET',
      `/v1/schedules/${id}/calendar.ics?from=2026-03-07T00:00:00Z&to=2026-03-09T00:00:00Z`,
    );
    expect(ics.status).toBe(200);
    expect(String(ics.headers['content-type'])).toMatch(/^text\/calendar/);
    expect(ics.text.startsWith('BEGIN:VCALENDAR\r\n')).toBe(true);
    expect(ics.text).toContain('DTSTART:20260307T130000Z\r\nDTEND:20260308T120000Z\r\n');
    expect(ics.text.split('\r\n').filter((l) => l === 'BEGIN:VEVENT')).toHaveLength(3);
  });

  it('a weekend layer restricted to Saturday 08:00 - Monday 08:00 takes those hours only', async () => {
    const weekend = layer({
      userIds: [nurse2.userId],
      kind: 'weekly',
      startDate: '2026-03-07',
      restrictions: [
        { days: [6], start: '08:00', end: '08:00' },
        { days: [7], start: '08:00', end: '08:00' },
      ],
    });
    const r = await as(admin)('POST', '/v1/schedules', {
      name: 'Weekdays and weekends',
      timeZone: 'Europe/Madrid',
      layers: [layer({ userIds: [nurse.userId] }), weekend],
    });
    expect(r.status).toBe(201);
    expect(r.body.layers[1].restrictions).toHaveLength(2);
    const shifts = await as(admin)(
      'GET',
      `/v1/schedules/${r.body.id}/shifts?from=2026-03-27T07:00:00Z&to=2026-03-31T06:00:00Z`,
    );
    expect(
      shifts.body.items.map((s: { start: string; userIds: string[] }) => [s.start, s.userIds[0] === nurse2.userId]),
    ).toEqual([
      ['2026-03-27T07:00:00.000Z', false],
      ['2026-03-28T07:00:00.000Z', true],
      ['2026-03-30T06:00:00.000Z', false],
    ]);
  });

  it('answers no_one_on_call before the first hand-off, and overrides and swaps change who is on call', async () => {
    const r = await as(admin)('POST', '/v1/schedules', {
      name: 'Later',
      timeZone: 'Europe/Madrid',
      layers: [layer({ startDate: '2027-01-01' })],
    });
    const id = r.body.id as string;
    const empty = await as(admin)('GET', `/v1/schedules/${id}/on-call?at=2026-06-01T12:00:00Z`);
    expect(empty.body).toMatchObject({ userIds: [], empty: 'no_one_on_call', start: null, end: null });

    const o = await as(admin)('POST', `/v1/schedules/${id}/overrides`, {
      userId: nurse2.userId,
      start: '2026-06-01T10:00:00Z',
      end: '2026-06-01T14:00:00Z',
    });
    expect(o.status).toBe(201);
    const covered = await as(admin)('GET', `/v1/schedules/${id}/on-call?at=2026-06-01T12:00:00Z`);
    expect(covered.body).toMatchObject({ userIds: [nurse2.userId], start: '2026-06-01T10:00:00.000Z' });

    // 2 and 3 January 2027: nurse's then nurse2's shift; swapped, each takes the other's day.
    const day1 = { start: '2027-01-01T07:00:00Z', end: '2027-01-02T07:00:00Z' };
    const day2 = { start: '2027-01-02T07:00:00Z', end: '2027-01-03T07:00:00Z' };
    const overridesBefore = count('on_call_overrides');
    const wrong = await as(admin)('POST', `/v1/schedules/${id}/swaps`, {
      a: { userId: nurse2.userId, ...day1 },
      b: { userId: nurse.userId, ...day2 },
    });
    expect([wrong.status, wrong.body.code]).toEqual([409, 'SP_SCHEDULE_SWAP_MISMATCH']);
    expect(count('on_call_overrides')).toBe(overridesBefore);
    const swap = await as(admin)('POST', `/v1/schedules/${id}/swaps`, {
      a: { userId: nurse.userId, ...day1 },
      b: { userId: nurse2.userId, ...day2 },
    });
    expect(swap.status).toBe(201);
    expect(swap.body.items).toHaveLength(2);
    const on = async (at: string) =>
      (await as(admin)('GET', `/v1/schedules/${id}/on-call?at=${at}`)).body.userIds as string[];
    expect(await on('2027-01-01T12:00:00Z')).toEqual([nurse2.userId]);
    expect(await on('2027-01-02T12:00:00Z')).toEqual([nurse.userId]);
    expect(audits('schedule.swap_added')).toBe(2);
    // Removing one half removes the swap.
    const del = await as(admin)('DELETE', `/v1/schedules/${id}/overrides/${swap.body.items[0].id}`);
    expect(del.status).toBe(204);
    expect(await on('2027-01-01T12:00:00Z')).toEqual([nurse.userId]);
    expect(await on('2027-01-02T12:00:00Z')).toEqual([nurse2.userId]);
    const list = await as(admin)(
      'GET',
      `/v1/schedules/${id}/overrides?from=2026-05-01T00:00:00Z&to=2026-06-30T00:00:00Z`,
    );
    expect(list.body.items.map((x: { id: string }) => x.id)).toEqual([o.body.id]);
  });

  it('refuses bad input with a specific code and writes nothing', async () => {
    const before = { schedules: count('on_call_schedules'), audit: count('audit_entries') };
    const cases: [unknown, string][] = [
      [{ name: 'x', timeZone: 'Mars/Olympus', layers: [layer()] }, 'SP_SCHEDULE_ZONE_INVALID'],
      [{ name: 'x', timeZone: '+02:00', layers: [layer()] }, 'SP_SCHEDULE_ZONE_INVALID'],
      [{ name: 'x', timeZone: 'UTC', layers: [layer({ handoffTime: '24:00' })] }, 'SP_SCHEDULE_HANDOFF_INVALID'],
      [{ name: 'x', timeZone: 'UTC', layers: [layer({ handoffTime: '8am' })] }, 'SP_SCHEDULE_HANDOFF_INVALID'],
      [{ name: 'x', timeZone: 'UTC', layers: [layer({ startDate: '2026-02-30' })] }, 'SP_SCHEDULE_HANDOFF_INVALID'],
      [{ name: 'x', timeZone: 'UTC', layers: [layer({ userIds: [] })] }, 'SP_SCHEDULE_ROTATION_INVALID'],
      [{ name: 'x', timeZone: 'UTC', layers: [layer({ kind: 'custom' })] }, 'SP_SCHEDULE_ROTATION_INVALID'],
      [
        { name: 'x', timeZone: 'UTC', layers: [layer({ kind: 'custom', rrule: 'FREQ=HOURLY;INTERVAL=12' })] },
        'SP_SCHEDULE_ROTATION_INVALID',
      ],
      [
        { name: 'x', timeZone: 'UTC', layers: [layer({ kind: 'custom', rrule: 'FREQ=DAILY;COUNT=3' })] },
        'SP_SCHEDULE_ROTATION_INVALID',
      ],
      [
        { name: 'x', timeZone: 'UTC', layers: [layer({ kind: 'custom', rrule: 'FREQ=SOMETIMES' })] },
        'SP_SCHEDULE_ROTATION_INVALID',
      ],
      [{ name: 'x', timeZone: 'UTC', layers: [layer({ userIds: [stranger.userId] })] }, 'SP_DIRECTORY_USER_UNKNOWN'],
      [
        {
          name: 'x',
          timeZone: 'UTC',
          layers: [layer({ restrictions: [{ days: [0], start: '08:00', end: '20:00' }] })],
        },
        'SP_SCHEDULE_ROTATION_INVALID',
      ],
      [{ name: 'x', timeZone: 'UTC', layers: [layer()], extra: 1 }, 'SP_REQ_VALIDATION'],
    ];
    for (const [body, code] of cases) {
      const r = await as(admin)('POST', '/v1/schedules', body);
      expect([r.status, r.body.code]).toEqual([400, code]);
    }
    const id = (await as(admin)('POST', '/v1/schedules', { name: 'ok', timeZone: 'UTC', layers: [layer()] })).body.id;
    const afterCreate = count('audit_entries');
    const ranges: [string, string][] = [
      [`/v1/schedules/${id}/shifts?from=2026-03-10T00:00:00Z&to=2026-03-01T00:00:00Z`, 'SP_SCHEDULE_RANGE_INVALID'],
      [`/v1/schedules/${id}/shifts?from=2026-01-01T00:00:00Z&to=2026-03-05T00:00:00Z`, 'SP_SCHEDULE_RANGE_INVALID'],
      [
        `/v1/schedules/${id}/calendar.ics?from=2026-01-01T00:00:00&to=2026-01-02T00:00:00Z`,
        'SP_SCHEDULE_RANGE_INVALID',
      ],
      [`/v1/schedules/${id}/on-call?at=yesterday`, 'SP_SCHEDULE_RANGE_INVALID'],
    ];
    for (const [path, code] of ranges) {
      const r = await as(admin)('GET', path);
      expect([r.status, r.body.code]).toEqual([400, code]);
    }
    const badOverride = await as(admin)('POST', `/v1/schedules/${id}/overrides`, {
      userId: stranger.userId,
      start: '2026-06-01T10:00:00Z',
      end: '2026-06-01T14:00:00Z',
    });
    expect(badOverride.body.code).toBe('SP_DIRECTORY_USER_UNKNOWN');
    const backwards = await as(admin)('POST', `/v1/schedules/${id}/overrides`, {
      userId: nurse.userId,
      start: '2026-06-01T14:00:00Z',
      end: '2026-06-01T10:00:00Z',
    });
    expect(backwards.body.code).toBe('SP_SCHEDULE_RANGE_INVALID');
    const replaced = await as(admin)('PUT', `/v1/schedules/${id}`, {
      name: 'ok',
      timeZone: 'Nowhere/City',
      layers: [],
    });
    expect(replaced.body.code).toBe('SP_SCHEDULE_ZONE_INVALID');
    expect((await as(admin)('GET', `/v1/schedules/${id}`)).body.layers).toHaveLength(1);
    expect(count('on_call_schedules')).toBe(before.schedules + 1);
    expect(count('on_call_overrides')).toBeGreaterThanOrEqual(0);
    expect(count('audit_entries')).toBe(afterCreate);
    expect(afterCreate).toBe(before.audit + 1);
  });

  it('never echoes what it refuses: a planted marker stays out of answers, the audit log and the server log', async () => {
    const cases: unknown[] = [
      { name: 'x', timeZone: PHI_MARKER, layers: [] },
      { name: 'x', timeZone: 'UTC', layers: [layer({ userIds: [PHI_MARKER] })] },
      { name: 'x', timeZone: 'UTC', layers: [layer({ kind: 'custom', rrule: `FREQ=DAILY;X-${PHI_MARKER}=1` })] },
    ];
    for (const body of cases) {
      const r = await as(admin)('POST', '/v1/schedules', body);
      expect(r.status).toBe(400);
      expect(r.text).not.toContain(PHI_MARKER);
    }
    const g = await as(admin)('POST', '/v1/groups', { name: 'g', memberIds: [PHI_MARKER] });
    expect([g.status, g.text.includes(PHI_MARKER)]).toEqual([400, false]);
    expect(query(h.dataDir, 'select count(*) as n from audit_entries where entry like ?', `%${PHI_MARKER}%`)[0].n).toBe(
      0,
    );
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(PHI_MARKER);
  });

  // Before hand-offs were counted per period, each of these took from seconds to a minute of CPU.
  describe('bounded work whatever the rotation', { timeout: 30_000 }, () => {
    const hours = Array.from({ length: 24 }, (_, i) => i).join(',');
    const fiveMinutes = Array.from({ length: 12 }, (_, i) => i * 5).join(',');

    it('refuses a rule with a hand-off every five minutes with 400, writing nothing', async () => {
      const before = { schedules: count('on_call_schedules'), audit: count('audit_entries') };
      const r = await as(admin)('POST', '/v1/schedules', {
        name: 'x',
        timeZone: 'UTC',
        layers: [
          layer({
            kind: 'custom',
            startDate: '2000-01-01',
            rrule: `FREQ=DAILY;BYHOUR=${hours};BYMINUTE=${fiveMinutes}`,
          }),
        ],
      });
      expect([r.status, r.body.code]).toEqual([400, 'SP_SCHEDULE_ROTATION_INVALID']);
      expect({ schedules: count('on_call_schedules'), audit: count('audit_entries') }).toEqual(before);
    });

    it('names the right nurse on a twice-daily rule started 25 years ago', async () => {
      const rrule = 'FREQ=DAILY;BYHOUR=8,20';
      const s = await as(admin)('POST', '/v1/schedules', {
        name: 'old',
        timeZone: 'UTC',
        layers: [layer({ kind: 'custom', startDate: '2001-01-01', rrule })],
      });
      expect(s.status).toBe(201);
      // Hand-off 0 is 2001-01-01 08:00 UTC, two a day: at 21:00 the hand-off of that evening runs.
      const at = '2026-12-07T21:00:00Z';
      const index = 2 * Math.round((Date.parse('2026-12-07') - Date.parse('2001-01-01')) / 86_400_000) + 1;
      const r = await as(admin)('GET', `/v1/schedules/${s.body.id}/on-call?at=${at}`);
      expect(r.body.userIds).toEqual([[nurse.userId, nurse2.userId][index % 2]]);
      expect([r.body.start, r.body.end]).toEqual(['2026-12-07T20:00:00.000Z', '2026-12-08T08:00:00.000Z']);
    });

    it('answers nobody on call, with the code logged, for a stored rule that the limits now refuse', async () => {
      const id = `legacy-${Date.now()}`;
      await h.app.store.transaction((tx) =>
        tx.onCall.insertSchedule({
          id,
          tenant_id: 'default',
          name: 'legacy',
          time_zone: 'UTC',
          layers: JSON.stringify([
            layer({
              kind: 'custom',
              startDate: '2000-01-01',
              rrule: `FREQ=DAILY;BYHOUR=${hours};BYMINUTE=${fiveMinutes}`,
            }),
          ]),
          created_by: admin.userId,
          created_at: Date.now(),
          updated_at: Date.now(),
        }),
      );
      const r = await as(admin)('GET', `/v1/schedules/${id}/on-call?at=2026-12-07T03:00:00Z`);
      expect([r.status, r.body.userIds, r.body.empty]).toEqual([200, [], 'no_one_on_call']);
      const log = readFileSync(h.logFile, 'utf8');
      expect(log).toContain(id);
      expect(log).toContain('SP_SCHEDULE_ROTATION_INVALID');
    });

    it('refuses the 1001st override within 62 days with 409, writing nothing', async () => {
      const s = await as(admin)('POST', '/v1/schedules', { name: 'busy', timeZone: 'UTC', layers: [layer()] });
      const t0 = Date.parse('2027-01-01T00:00:00Z');
      await h.app.store.transaction((tx) =>
        tx.onCall.insertOverrides(
          Array.from({ length: 1000 }, (_, i) => ({
            id: `${s.body.id}-o${i}`,
            tenant_id: 'default',
            schedule_id: s.body.id,
            user_id: nurse.userId,
            start_at: t0 + i * H,
            end_at: t0 + i * H + H / 2,
            swap_id: null,
            created_by: admin.userId,
            created_at: Date.now(),
          })),
        ),
      );
      const before = { overrides: count('on_call_overrides'), audit: count('audit_entries') };
      const o = await as(admin)('POST', `/v1/schedules/${s.body.id}/overrides`, {
        userId: nurse2.userId,
        start: '2027-02-20T00:00:00Z',
        end: '2027-02-20T06:00:00Z',
      });
      expect([o.status, o.body.code]).toEqual([409, 'SP_SCHEDULE_OVERRIDE_LIMIT']);
      expect({ overrides: count('on_call_overrides'), audit: count('audit_entries') }).toEqual(before);
      // Far enough away (more than 62 days after the last), there is room again.
      const later = await as(admin)('POST', `/v1/schedules/${s.body.id}/overrides`, {
        userId: nurse2.userId,
        start: '2027-05-01T00:00:00Z',
        end: '2027-05-01T06:00:00Z',
      });
      expect(later.status).toBe(201);
    });
  });

  it("is the tenant's own: another tenant's administrator finds nothing, a nurse may not write", async () => {
    const id = (await as(admin)('POST', '/v1/schedules', { name: 'mine', timeZone: 'UTC', layers: [layer()] })).body.id;
    const otherAdmin = await staffWithSession(h, ['admin'], 'other-tenant');
    expect((await as(otherAdmin)('GET', `/v1/schedules/${id}`)).body.code).toBe('SP_SCHEDULE_NOT_FOUND');
    expect((await as(otherAdmin)('DELETE', `/v1/schedules/${id}`)).body.code).toBe('SP_SCHEDULE_NOT_FOUND');
    expect((await as(nurse)('POST', '/v1/schedules', { name: 'n', timeZone: 'UTC', layers: [] })).status).toBe(403);
    expect((await as(admin)('DELETE', `/v1/schedules/${id}`)).status).toBe(204);
    expect((await as(admin)('GET', `/v1/schedules/${id}`)).status).toBe(404);
  });
});
