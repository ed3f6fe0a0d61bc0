import { describe, expect, it } from 'vitest';
import { decidingWindow, timeline, type RotationLayer } from './rotation.js';
import { instant, validLayer } from './schedule-validation.js';
import { handoffIndex, matches, rulePlan } from './rrule-rotation.js';
import { RRuleTemporal } from 'rrule-temporal';

const DAY = 86_400_000;
const users = ['u0', 'u1', 'u2'];
const custom = (rrule: string, startDate = '2000-01-01', handoffTime = '08:00'): RotationLayer => ({
  userIds: users,
  kind: 'custom',
  rrule,
  handoffTime,
  startDate,
});
const list = (n: number, step = 1) => Array.from({ length: n }, (_, i) => i * step).join(',');
/** Who is on call at `at`, the way the directory asks (window, then timeline over it). */
function onCall(zone: string, layer: RotationLayer, at: number): string[] {
  const w = decidingWindow(zone, [layer], [], at);
  if (!w) return [];
  return timeline(zone, [layer], [], w.start, w.end).find((s) => s.start <= at && s.end > at)!.userIds;
}
const refusal = (layer: RotationLayer) => {
  try {
    validLayer(layer, 'UTC', 0);
    return 'accepted';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

// Each test would have taken from seconds to a minute of CPU before hand-offs were counted per period.
describe('RRULE rotations cost the same whatever their age', { timeout: 10_000 }, () => {
  it('finds who is on call on a twice-daily rule started 25 years ago (counted by hand)', () => {
    const layer = validLayer(custom('FREQ=DAILY;BYHOUR=8,20'), 'UTC', 0);
    for (const at of ['2026-12-07T03:00:00Z', '2026-12-07T09:00:00Z', '2026-12-07T21:00:00Z', '2025-02-28T19:59:00Z']) {
      const t = Date.parse(at);
      const d = new Date(t);
      const day = Math.floor((t - Date.UTC(2000, 0, 1)) / DAY);
      const h = d.getUTCHours();
      // Hand-off 0 is 2000-01-01 08:00; two a day; before 08:00 the previous day's 20:00 shift runs.
      const index = 2 * day + (h >= 20 ? 1 : h >= 8 ? 0 : -1);
      expect(onCall('UTC', layer, t)).toEqual([users[index % 3]]);
    }
  });

  it('counts a fortnightly Monday/Thursday rule in Madrid since 2001 like a day-by-day walk', () => {
    const layer = validLayer(custom('FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH', '2001-01-01'), 'Europe/Madrid', 0);
    // Walk the days: weeks (Monday-based) 0, 2, 4… from 2001-01-01 (a Monday), hand-offs on Mon and Thu.
    const at = Date.parse('2026-06-10T12:00:00Z');
    let index = -1;
    for (let day = 0; Date.UTC(2001, 0, 1) + day * DAY + 6 * 3_600_000 <= at; day++) {
      const week = Math.floor(day / 7);
      if (week % 2 === 0 && (day % 7 === 0 || day % 7 === 3)) index++;
    }
    expect(onCall('Europe/Madrid', layer, at)).toEqual([users[index % 3]]);
  });

  it('lists 62 days of the busiest allowed rule (24 hand-offs a day since 2000) as consecutive hourly shifts', () => {
    const layer = validLayer(custom(`FREQ=DAILY;BYHOUR=${list(24)}`, '2000-01-01', '00:00'), 'UTC', 0);
    const from = Date.parse('2026-01-01T00:00:00Z');
    const shifts = timeline('UTC', [layer], [], from, from + 62 * DAY);
    expect(shifts).toHaveLength(62 * 24);
    const first = Math.round((from - Date.UTC(2000, 0, 1)) / 3_600_000);
    expect(shifts.slice(0, 4).map((s) => s.userIds[0])).toEqual([0, 1, 2, 3].map((k) => users[(first + k) % 3]));
  });

  it('refuses rules whose cost would grow: too many hand-offs a day, BYSECOND, BYSETPOS, long periods', () => {
    const refused = [
      `FREQ=DAILY;BYHOUR=${list(24)};BYMINUTE=${list(12, 5)}`,
      'FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12;BYMINUTE=0,30',
      'FREQ=DAILY;BYSECOND=0,1,2',
      'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1',
      'FREQ=MONTHLY;BYDAY=1MO',
      'FREQ=WEEKLY;BYDAY=1MO',
      'FREQ=YEARLY',
      'FREQ=WEEKLY;INTERVAL=13',
      'FREQ=DAILY;INTERVAL=13;BYDAY=MO',
      'FREQ=DAILY;FREQ=WEEKLY',
      'FREQ=DAILY;BYHOUR=24',
    ];
    for (const r of refused) expect([r, refusal(custom(r))]).toEqual([r, 'SP_SCHEDULE_ROTATION_INVALID']);
    for (const r of [
      'FREQ=WEEKLY;INTERVAL=12;BYDAY=MO',
      'FREQ=DAILY;INTERVAL=12;BYDAY=MO',
      `FREQ=DAILY;BYHOUR=${list(24)}`,
    ])
      expect([r, refusal(custom(r))]).toEqual([r, 'accepted']);
  });

  it('answers as fast in the year 9998 as today; instants past 9999 are refused', () => {
    const layer = validLayer(custom('FREQ=DAILY;BYHOUR=8,20'), 'UTC', 0);
    const at = instant('9998-06-01T12:00:00Z', 'at');
    const index = 2 * Math.round((Date.UTC(9998, 5, 1) - Date.UTC(2000, 0, 1)) / DAY);
    expect(onCall('UTC', layer, at)).toEqual([users[index % 3]]);
    expect(() => instant('+010000-01-01T00:00:00Z', 'at')).toThrow(
      expect.objectContaining({ code: 'SP_SCHEDULE_RANGE_INVALID' }),
    );
  });

  it('a stored rule the limits refuse fails at once with the rotation code instead of spinning', () => {
    const stored = custom(`FREQ=DAILY;BYHOUR=${list(24)};BYMINUTE=${list(12, 5)}`);
    const at = Date.parse('2026-12-07T03:00:00Z');
    expect(() => timeline('UTC', [stored], [], at, at + 1)).toThrow(
      expect.objectContaining({ code: 'SP_SCHEDULE_ROTATION_INVALID' }),
    );
  });
});

describe('the day walk agrees with rrule-temporal', () => {
  it('on DAILY and WEEKLY rules with INTERVAL, BYDAY, BYHOUR, BYMINUTE and WKST, from several starts', () => {
    const rules = [
      'FREQ=DAILY',
      'FREQ=DAILY;INTERVAL=3',
      'FREQ=DAILY;BYHOUR=8,20',
      'FREQ=DAILY;BYHOUR=20,8;BYMINUTE=15,0',
      'FREQ=DAILY;INTERVAL=2;BYDAY=MO,WE,FR',
      'FREQ=DAILY;BYMINUTE=45',
      'FREQ=WEEKLY',
      'FREQ=WEEKLY;BYDAY=MO,TH',
      'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH',
      'FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,TU;WKST=SU',
      'FREQ=WEEKLY;INTERVAL=3;BYDAY=SA,SU;WKST=TH;BYHOUR=7,19',
      'FREQ=WEEKLY;INTERVAL=12;BYDAY=WE',
    ];
    const stamp = (ms: number) =>
      new Date(ms)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}Z$/, 'Z');
    for (const rrule of rules)
      for (const [startDate, handoffTime] of [
        ['2000-01-01', '08:00'],
        ['2013-07-17', '23:30'],
        ['2026-03-29', '02:30'],
      ] as const) {
        const first = Date.UTC(
          +startDate.slice(0, 4),
          +startDate.slice(5, 7) - 1,
          +startDate.slice(8),
          +handoffTime.slice(0, 2),
          +handoffTime.slice(3),
        );
        const plan = rulePlan(rrule, first);
        const oracle = new RRuleTemporal({
          rruleString: `DTSTART:${stamp(first)}\nRRULE:${rrule}`,
          includeDtstart: false,
          maxIterations: 1_000_000,
        });
        for (const offsetDays of [0, 5, 400, 3000]) {
          const a = first + offsetDays * DAY + 3_600_000 * (offsetDays % 24);
          const b = a + 100 * DAY;
          const want = oracle
            .between(new Date(a), new Date(b - 1), true)
            .map((z) => z.epochMilliseconds)
            .filter((w) => w >= a && w < b);
          expect(want.length).toBeGreaterThan(0);
          expect([rrule, startDate, offsetDays, matches(plan, a, b)]).toEqual([rrule, startDate, offsetDays, want]);
        }
        // Counting per period gives what counting one by one does.
        const w = first + 700 * DAY + 12 * 3_600_000;
        const all = oracle.between(new Date(first), new Date(w - 1), true).filter((z) => z.epochMilliseconds < w);
        const next = oracle.between(new Date(w), new Date(w + 90 * DAY), true)[0]!.epochMilliseconds;
        const index = all.length + (all[0]?.epochMilliseconds === first ? 0 : 1);
        expect([rrule, startDate, handoffIndex(plan, next)]).toEqual([rrule, startDate, index]);
      }
  });
});
