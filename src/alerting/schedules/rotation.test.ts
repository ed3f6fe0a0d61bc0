import { describe, expect, it } from 'vitest';
import { Temporal } from 'temporal-polyfill';
import { decidingWindow, timeline, type RotationLayer } from './rotation.js';

const H = 3_600_000;
const ms = (s: string) => Date.parse(s);
const local = (t: number, zone: string) => Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(zone);

/** Both changes of 2026 in each zone: [zone, spring-forward date, fall-back date] (local dates). */
const ZONES: [string, string, string][] = [
  ['America/New_York', '2026-03-08', '2026-11-01'],
  ['Europe/Madrid', '2026-03-29', '2026-10-25'],
  ['Australia/Sydney', '2026-10-04', '2026-04-05'],
];

const daily: RotationLayer = { userIds: ['a', 'b', 'c'], kind: 'daily', handoffTime: '08:00', startDate: '2026-01-01' };
const weekly: RotationLayer = { ...daily, kind: 'weekly', startDate: '2026-01-05' };

function expectContiguous(shifts: { start: number; end: number }[], from: number, to: number) {
  expect(shifts[0]!.start).toBe(from);
  expect(shifts.at(-1)!.end).toBe(to);
  for (let i = 1; i < shifts.length; i++) expect(shifts[i]!.start).toBe(shifts[i - 1]!.end);
}

describe('rotation across daylight-saving changes', () => {
  for (const [zone, spring, fall] of ZONES) {
    for (const [change, date, hours] of [
      ['spring-forward', spring, 23],
      ['fall-back', fall, 25],
    ] as const) {
      it(`a daily 08:00 hand-off stays 08:00 in ${zone} around its ${change} (${date}), that shift lasting ${hours} h`, () => {
        const day = Temporal.PlainDate.from(date);
        // From 08:00 three days before to 08:00 three days after: the range is hand-off aligned.
        const from = day
          .subtract({ days: 3 })
          .toZonedDateTime({ timeZone: zone, plainTime: '08:00' }).epochMilliseconds;
        const to = day.add({ days: 3 }).toZonedDateTime({ timeZone: zone, plainTime: '08:00' }).epochMilliseconds;
        const shifts = timeline(zone, [daily], [], from, to);
        expect(shifts).toHaveLength(6);
        expectContiguous(shifts, from, to);
        for (const s of shifts) {
          expect(local(s.start, zone).toPlainTime().toString()).toBe('08:00:00');
          expect(s.userIds).toHaveLength(1);
        }
        // The change happens in the early hours of `date`: the shift that started the day before holds it.
        const lengths = shifts.map((s) => (s.end - s.start) / H);
        expect(lengths).toEqual([24, 24, hours, 24, 24, 24]);
        // The rotation goes on in order: a, b, c, a …
        const users = shifts.map((s) => s.userIds[0]);
        for (let i = 1; i < users.length; i++)
          expect(['a', 'b', 'c'].indexOf(users[i]!)).toBe((['a', 'b', 'c'].indexOf(users[i - 1]!) + 1) % 3);
      });

      it(`a weekly 08:00 hand-off stays 08:00 in ${zone} around its ${change}, the week holding it lasting ${168 + hours - 24} h`, () => {
        const day = Temporal.PlainDate.from(date);
        const from = day
          .subtract({ days: 21 })
          .toZonedDateTime({ timeZone: zone, plainTime: '00:00' }).epochMilliseconds;
        const to = day.add({ days: 21 }).toZonedDateTime({ timeZone: zone, plainTime: '00:00' }).epochMilliseconds;
        const shifts = timeline(zone, [weekly], [], from, to);
        expectContiguous(shifts, from, to);
        const inner = shifts.slice(1, -1);
        for (const s of inner) {
          expect(local(s.start, zone).toPlainTime().toString()).toBe('08:00:00');
          expect(local(s.start, zone).dayOfWeek).toBe(1);
        }
        const lengths = inner.map((s) => (s.end - s.start) / H);
        expect(lengths.filter((l) => l !== 168)).toEqual([168 + hours - 24]);
      });
    }
  }

  it('a hand-off inside the spring-forward gap happens when the clocks resume (02:30 → 03:30), never twice', () => {
    const zone = 'America/New_York';
    const layer: RotationLayer = { ...daily, handoffTime: '02:30' };
    const from = ms('2026-03-06T12:00:00Z');
    const to = ms('2026-03-11T12:00:00Z');
    const shifts = timeline(zone, [layer], [], from, to);
    expectContiguous(shifts, from, to);
    const starts = shifts.slice(1).map((s) => local(s.start, zone).toPlainDateTime().toString());
    expect(starts).toEqual([
      '2026-03-07T02:30:00',
      '2026-03-08T03:30:00',
      '2026-03-09T02:30:00',
      '2026-03-10T02:30:00',
      '2026-03-11T02:30:00',
    ]);
  });

  it('12-hour custom shifts hand over at 08:00 and 20:00 wall-clock, the night of the change lasting 11 h', () => {
    const zone = 'Europe/Madrid';
    const layer: RotationLayer = {
      userIds: ['d', 'n'],
      kind: 'custom',
      shiftHours: 12,
      handoffTime: '08:00',
      startDate: '2026-03-01',
    };
    const from = ms('2026-03-28T07:00:00Z'); // 08:00 CET
    const to = ms('2026-03-30T06:00:00Z'); // 08:00 CEST
    const shifts = timeline(zone, [layer], [], from, to);
    expect(shifts.map((s) => (s.end - s.start) / H)).toEqual([12, 11, 12, 12]);
    expect(shifts.map((s) => s.userIds[0])).toEqual(['d', 'n', 'd', 'n']);
  });

  it('an RRULE rotation hands over at its occurrences in the zone (Monday and Thursday 08:00), across the change', () => {
    const zone = 'America/New_York';
    const layer: RotationLayer = {
      userIds: ['a', 'b'],
      kind: 'custom',
      rrule: 'FREQ=WEEKLY;BYDAY=MO,TH',
      handoffTime: '08:00',
      startDate: '2026-03-02',
    };
    const from = ms('2026-03-02T13:00:00Z');
    const to = ms('2026-03-16T12:00:00Z');
    const shifts = timeline(zone, [layer], [], from, to);
    expectContiguous(shifts, from, to);
    expect(shifts.map((s) => local(s.start, zone).toPlainDateTime().toString())).toEqual([
      '2026-03-02T08:00:00',
      '2026-03-05T08:00:00',
      '2026-03-09T08:00:00',
      '2026-03-12T08:00:00',
    ]);
    expect(shifts.map((s) => s.userIds[0])).toEqual(['a', 'b', 'a', 'b']);
    // Thursday 5th to Monday 9th holds the spring-forward: 4 days minus one hour.
    expect((shifts[1]!.end - shifts[1]!.start) / H).toBe(95);
    // A listing that starts mid-rotation keeps the rotation's order.
    const later = timeline(zone, [layer], [], ms('2026-03-10T00:00:00Z'), ms('2026-03-13T00:00:00Z'));
    expect(later.map((s) => s.userIds[0])).toEqual(['a', 'b']);
  });
});

describe('layers and overrides', () => {
  const zone = 'UTC';
  const base: RotationLayer = { userIds: ['a', 'b'], kind: 'daily', handoffTime: '08:00', startDate: '2026-01-01' };
  const nights: RotationLayer = {
    userIds: ['n'],
    kind: 'custom',
    rrule: 'FREQ=DAILY;BYHOUR=8,20',
    handoffTime: '08:00',
    startDate: '2026-06-01',
  };

  it('an override takes its range from every layer; the shifts around it are cut, not overlapped', () => {
    const from = ms('2026-02-01T08:00:00Z');
    const to = ms('2026-02-02T08:00:00Z');
    const shifts = timeline(
      zone,
      [base],
      [{ id: 'o1', userId: 'x', start: ms('2026-02-01T12:00:00Z'), end: ms('2026-02-01T14:00:00Z') }],
      from,
      to,
    );
    expect(shifts.map((s) => [new Date(s.start).toISOString().slice(11, 16), s.userIds[0]])).toEqual([
      ['08:00', shifts[0]!.userIds[0]],
      ['12:00', 'x'],
      ['14:00', shifts[0]!.userIds[0]],
    ]);
    expect(shifts[1]!.overrideId).toBe('o1');
  });

  it('a later override wins over an earlier one where they overlap', () => {
    const from = ms('2026-02-01T08:00:00Z');
    const to = ms('2026-02-01T20:00:00Z');
    const shifts = timeline(
      zone,
      [base],
      [
        { id: 'o1', userId: 'x', start: ms('2026-02-01T10:00:00Z'), end: ms('2026-02-01T16:00:00Z') },
        { id: 'o2', userId: 'y', start: ms('2026-02-01T12:00:00Z'), end: ms('2026-02-01T14:00:00Z') },
      ],
      from,
      to,
    );
    expect(shifts.map((s) => s.userIds[0]).slice(1)).toEqual(['x', 'y', 'x', shifts[0]!.userIds[0]]);
  });

  it('a higher layer wins where it has someone; before it starts the lower layer holds', () => {
    const shifts = timeline(zone, [base, nights], [], ms('2026-05-31T08:00:00Z'), ms('2026-06-02T08:00:00Z'));
    expect(shifts.map((s) => s.layer)).toEqual([0, 1, 1]);
    expect(shifts.map((s) => s.userIds[0]).slice(1)).toEqual(['n', 'n']);
  });

  it('nobody is on call before the first layer starts: the gap is a shift with no user', () => {
    const shifts = timeline(zone, [nights], [], ms('2026-05-31T00:00:00Z'), ms('2026-06-01T12:00:00Z'));
    expect(shifts[0]).toMatchObject({
      start: ms('2026-05-31T00:00:00Z'),
      end: ms('2026-06-01T08:00:00Z'),
      userIds: [],
    });
    expect(decidingWindow(zone, [nights], [], ms('2026-05-31T12:00:00Z'))).toBeNull();
  });

  it('the deciding window of an instant is its override, else its highest layer shift', () => {
    const at = ms('2026-02-01T13:00:00Z');
    const o = { id: 'o1', userId: 'x', start: ms('2026-02-01T12:00:00Z'), end: ms('2026-02-01T14:00:00Z') };
    expect(decidingWindow(zone, [base], [o], at)).toEqual({ start: o.start, end: o.end });
    expect(decidingWindow(zone, [base], [], at)).toEqual({
      start: ms('2026-02-01T08:00:00Z'),
      end: ms('2026-02-02T08:00:00Z'),
    });
  });
});

describe('layers restricted to wall-clock windows', () => {
  const weekdays: RotationLayer = { userIds: ['a', 'b'], kind: 'daily', handoffTime: '08:00', startDate: '2026-01-01' };
  const weekend: RotationLayer = {
    userIds: ['w'],
    kind: 'weekly',
    handoffTime: '08:00',
    startDate: '2026-01-03',
    // Saturday 08:00 to Monday 08:00, as two windows that meet at midnight-crossing ends.
    restrictions: [
      { days: [6], start: '08:00', end: '08:00' },
      { days: [7], start: '08:00', end: '08:00' },
    ],
  };

  it('a weekend layer covers Saturday 08:00 to Monday 08:00 only; the weekday rotation holds the rest', () => {
    const zone = 'Europe/Madrid';
    // Friday 27 March 08:00 CET to Tuesday 31 March 08:00 CEST: the weekend holds the spring-forward.
    const from = ms('2026-03-27T07:00:00Z');
    const to = ms('2026-03-31T06:00:00Z');
    const shifts = timeline(zone, [weekdays, weekend], [], from, to);
    expectContiguous(shifts, from, to);
    expect(shifts.map((s) => [local(s.start, zone).toPlainDateTime().toString(), s.layer])).toEqual([
      ['2026-03-27T08:00:00', 0],
      ['2026-03-28T08:00:00', 1],
      ['2026-03-30T08:00:00', 0],
    ]);
    expect(shifts[1]).toMatchObject({ userIds: ['w'] });
    expect((shifts[1]!.end - shifts[1]!.start) / H).toBe(47);
    // The weekday rotation's Monday shift is its own (the shifts under the weekend are hidden, not moved).
    expect(shifts[2]!.userIds).toHaveLength(1);
  });

  it('a night window 20:00-08:00 stays wall-clock across the fall-back (13 h that night), and outside it the layer has nobody', () => {
    const zone = 'America/New_York';
    const nights: RotationLayer = { ...weekdays, userIds: ['n'], restrictions: [{ start: '20:00', end: '08:00' }] };
    const from = ms('2026-10-31T12:00:00Z'); // 08:00 EDT Saturday
    const to = ms('2026-11-01T13:00:00Z'); // 08:00 EST Sunday
    const shifts = timeline(zone, [nights], [], from, to);
    expect(shifts.map((s) => [s.userIds, (s.end - s.start) / H])).toEqual([
      [[], 12],
      [['n'], 13],
    ]);
    expect(decidingWindow(zone, [nights], [], ms('2026-10-31T15:00:00Z'))).toBeNull();
  });
});

describe('a long listing', () => {
  it('lists 62 days of hourly hand-offs on ten layers as 1488 consecutive shifts of the top layer', () => {
    const layers: RotationLayer[] = Array.from({ length: 10 }, (_, i) => ({
      userIds: [`l${i}a`, `l${i}b`],
      kind: 'custom',
      shiftHours: 1,
      handoffTime: '00:00',
      startDate: '2026-01-01',
    }));
    const from = ms('2026-02-01T00:00:00Z');
    const to = from + 62 * 24 * H;
    const shifts = timeline('UTC', layers, [], from, to);
    expect(shifts).toHaveLength(62 * 24);
    expect(shifts.every((s) => s.layer === 9 && s.end - s.start === H)).toBe(true);
  });
});

describe('RRULE rotations started long ago', () => {
  it('give the same owners as the equivalent daily rotation, whatever order the instants are asked in', () => {
    const zone = 'Australia/Sydney';
    const daily: RotationLayer = {
      userIds: ['a', 'b', 'c', 'd'],
      kind: 'daily',
      handoffTime: '07:30',
      startDate: '2001-05-03',
    };
    const rrule: RotationLayer = { ...daily, kind: 'custom', rrule: 'FREQ=DAILY' };
    for (const day of ['2026-04-04', '2030-10-06', '2012-01-01', '2026-04-06', '2001-05-04', '2099-12-30']) {
      const from = Date.parse(`${day}T00:00:00Z`);
      const to = from + 3 * 24 * H;
      const a = timeline(zone, [daily], [], from, to);
      const b = timeline(zone, [rrule], [], from, to);
      expect(b.map((s) => [s.start, s.end, s.userIds])).toEqual(a.map((s) => [s.start, s.end, s.userIds]));
    }
  });
});
