import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { deferPastQuietHours, isValidTimeZone, reminderTimes } from './time-policy.js';
import { parseDurationMinutes, parseQuietHours } from '../config/time-settings.js';

const NY = 'America/New_York';
const MADRID = 'Europe/Madrid';
const NIGHT = { startMinute: 21 * 60, endMinute: 8 * 60 }; // 21:00-08:00
const HOUR = 3_600_000;

const utc = (iso: string) => new Date(iso);
/** Wall-clock time and UTC offset of `d` in `zone`, e.g. "2026-03-08 08:00 -04:00". */
const wall = (d: Date, zone: string) => DateTime.fromJSDate(d, { zone }).toFormat('yyyy-MM-dd HH:mm ZZ');

describe('parseDurationMinutes', () => {
  it.each([
    ['7d', 10_080],
    ['1d', 1440],
    ['2h', 120],
    ['30m', 30],
    ['1d12h', 2160],
    ['2h30m', 150],
    ['1d0h5m', 1445],
    ['0d90m', 90],
  ])('reads %s as %i minutes', (s, minutes) => {
    expect(parseDurationMinutes(s)).toBe(minutes);
  });

  it.each([
    '',
    '0d',
    '0h0m',
    '7',
    'd',
    '7D',
    ' 7d',
    '7d ',
    '-1d',
    '1.5h',
    '1h1d',
    '7days',
    '1e3m',
    '9999999999999999999999d',
    '9'.repeat(400) + 'd',
  ])('rejects %j', (s) => {
    expect(() => parseDurationMinutes(s)).toThrow('bad duration');
  });
});

describe('parseQuietHours', () => {
  it('reads a window that crosses midnight as minutes after midnight', () => {
    expect(parseQuietHours('21:00-08:00')).toEqual({ startMinute: 1260, endMinute: 480 });
  });

  it('reads a window within one day', () => {
    expect(parseQuietHours('13:00-14:30')).toEqual({ startMinute: 780, endMinute: 870 });
    expect(parseQuietHours('00:00-23:59')).toEqual({ startMinute: 0, endMinute: 1439 });
  });

  it('rejects an empty window', () => {
    expect(() => parseQuietHours('21:00-21:00')).toThrow('empty quiet hours');
  });

  it.each(['', '21:00', '24:00-08:00', '9:00-08:00', '21:60-08:00', '21:00 - 08:00', '21:00-08:00:00', '21h-8h'])(
    'rejects %j',
    (s) => {
      expect(() => parseQuietHours(s)).toThrow('bad quiet hours');
    },
  );
});

describe('isValidTimeZone', () => {
  it('accepts IANA zones and rejects unknown names', () => {
    expect(isValidTimeZone(NY)).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });
});

describe('deferPastQuietHours', () => {
  it('leaves a time outside the window unchanged', () => {
    const noon = utc('2026-06-10T16:00:00Z'); // 12:00 EDT
    expect(deferPastQuietHours(noon, NY, NIGHT)).toEqual(noon);
    const justBefore = utc('2026-06-11T00:59:59Z'); // 20:59:59 EDT
    expect(deferPastQuietHours(justBefore, NY, NIGHT)).toEqual(justBefore);
  });

  it('treats the end of the window as outside it', () => {
    const eight = utc('2026-06-10T12:00:00Z'); // 08:00 EDT
    expect(deferPastQuietHours(eight, NY, NIGHT)).toEqual(eight);
  });

  it('moves a time late in the evening to 08:00 the next morning', () => {
    expect(deferPastQuietHours(utc('2026-06-11T01:00:00Z'), NY, NIGHT)).toEqual(utc('2026-06-11T12:00:00Z')); // 21:00 EDT
    expect(deferPastQuietHours(utc('2026-06-11T02:30:00Z'), NY, NIGHT)).toEqual(utc('2026-06-11T12:00:00Z')); // 22:30 EDT
  });

  it('moves a time after midnight to 08:00 the same morning', () => {
    expect(deferPastQuietHours(utc('2026-06-11T07:00:00Z'), NY, NIGHT)).toEqual(utc('2026-06-11T12:00:00Z')); // 03:00 EDT
    expect(deferPastQuietHours(utc('2026-06-11T11:59:30Z'), NY, NIGHT)).toEqual(utc('2026-06-11T12:00:00Z')); // 07:59:30 EDT
  });

  it('judges the window on the patient wall clock, not UTC', () => {
    // 22:00 UTC is 00:00 in Madrid (inside) but 18:00 in New York (outside).
    const at = utc('2026-06-10T22:00:00Z');
    expect(deferPastQuietHours(at, MADRID, NIGHT)).toEqual(utc('2026-06-11T06:00:00Z'));
    expect(deferPastQuietHours(at, NY, NIGHT)).toEqual(at);
  });

  it('handles a window that does not cross midnight', () => {
    const lunch = parseQuietHours('13:00-14:00');
    expect(deferPastQuietHours(utc('2026-06-10T17:30:00Z'), NY, lunch)).toEqual(utc('2026-06-10T18:00:00Z')); // 13:30 EDT
    expect(deferPastQuietHours(utc('2026-06-10T16:59:00Z'), NY, lunch)).toEqual(utc('2026-06-10T16:59:00Z')); // 12:59 EDT
    expect(deferPastQuietHours(utc('2026-06-10T18:00:00Z'), NY, lunch)).toEqual(utc('2026-06-10T18:00:00Z')); // 14:00 EDT
    expect(deferPastQuietHours(utc('2026-06-11T03:00:00Z'), NY, lunch)).toEqual(utc('2026-06-11T03:00:00Z')); // 23:00 EDT
  });

  it('leaves every time unchanged when there is no window', () => {
    const night = utc('2026-06-11T07:00:00Z'); // 03:00 EDT
    expect(deferPastQuietHours(night, NY, null)).toEqual(night);
  });

  describe('across daylight-saving changes the result is 08:00 local wall time', () => {
    it('New York spring-forward night (2026-03-08), from the evening before', () => {
      const out = deferPastQuietHours(utc('2026-03-08T04:00:00Z'), NY, NIGHT); // Sat 23:00 EST
      expect(wall(out, NY)).toBe('2026-03-08 08:00 -04:00');
      expect(out).toEqual(utc('2026-03-08T12:00:00Z'));
    });

    it('New York spring-forward night (2026-03-08), from before and after the skipped hour', () => {
      expect(deferPastQuietHours(utc('2026-03-08T06:30:00Z'), NY, NIGHT)).toEqual(utc('2026-03-08T12:00:00Z')); // 01:30 EST
      expect(deferPastQuietHours(utc('2026-03-08T07:30:00Z'), NY, NIGHT)).toEqual(utc('2026-03-08T12:00:00Z')); // 03:30 EDT
    });

    it('New York fall-back night (2026-11-01), from the evening before', () => {
      const out = deferPastQuietHours(utc('2026-11-01T02:00:00Z'), NY, NIGHT); // Sat 22:00 EDT
      expect(wall(out, NY)).toBe('2026-11-01 08:00 -05:00');
      expect(out).toEqual(utc('2026-11-01T13:00:00Z'));
    });

    it('New York fall-back night (2026-11-01), from either occurrence of the repeated 01:30', () => {
      expect(deferPastQuietHours(utc('2026-11-01T05:30:00Z'), NY, NIGHT)).toEqual(utc('2026-11-01T13:00:00Z')); // 01:30 EDT
      expect(deferPastQuietHours(utc('2026-11-01T06:30:00Z'), NY, NIGHT)).toEqual(utc('2026-11-01T13:00:00Z')); // 01:30 EST
    });

    it('Madrid spring-forward night (2026-03-29)', () => {
      const fromEvening = deferPastQuietHours(utc('2026-03-28T22:00:00Z'), MADRID, NIGHT); // Sat 23:00 CET
      expect(wall(fromEvening, MADRID)).toBe('2026-03-29 08:00 +02:00');
      expect(fromEvening).toEqual(utc('2026-03-29T06:00:00Z'));
      expect(deferPastQuietHours(utc('2026-03-29T00:30:00Z'), MADRID, NIGHT)).toEqual(utc('2026-03-29T06:00:00Z')); // 01:30 CET
    });
  });
});

describe('reminderTimes', () => {
  const WEEK = 7 * 1440;
  const DAY = 1440;
  const TWO_HOURS = 120;

  it('puts reminders 7 days, 1 day and 2 hours before the appointment, in the given order', () => {
    const start = utc('2026-06-15T13:00:00Z'); // Mon 09:00 EDT
    expect(reminderTimes(start, NY, [WEEK, DAY, TWO_HOURS])).toEqual([
      utc('2026-06-08T13:00:00Z'),
      utc('2026-06-14T13:00:00Z'),
      utc('2026-06-15T11:00:00Z'),
    ]);
  });

  it('keeps the local wall time for a 1-day reminder across spring-forward (a 23-hour gap)', () => {
    const start = utc('2026-03-08T13:00:00Z'); // Sun 09:00 EDT
    const [dayBefore] = reminderTimes(start, NY, [DAY]);
    expect(wall(dayBefore, NY)).toBe('2026-03-07 09:00 -05:00');
    expect(start.getTime() - dayBefore.getTime()).toBe(23 * HOUR);
  });

  it('keeps the local wall time for a 1-day reminder across fall-back (a 25-hour gap)', () => {
    const start = utc('2026-11-01T14:00:00Z'); // Sun 09:00 EST
    const [dayBefore] = reminderTimes(start, NY, [DAY]);
    expect(wall(dayBefore, NY)).toBe('2026-10-31 09:00 -04:00');
    expect(start.getTime() - dayBefore.getTime()).toBe(25 * HOUR);
  });

  it('keeps the local wall time for day-sized reminders across the Madrid change', () => {
    const start = utc('2026-03-29T08:00:00Z'); // Sun 10:00 CEST
    const [weekBefore, dayBefore] = reminderTimes(start, MADRID, [WEEK, DAY]);
    expect(wall(weekBefore, MADRID)).toBe('2026-03-22 10:00 +01:00');
    expect(wall(dayBefore, MADRID)).toBe('2026-03-28 10:00 +01:00');
  });

  it('makes a 2-hour reminder exactly 2 hours early even when the wall clock jumps', () => {
    const start = utc('2026-03-08T07:30:00Z'); // 03:30 EDT, just after the skipped hour
    const [twoHours] = reminderTimes(start, NY, [TWO_HOURS]);
    expect(start.getTime() - twoHours.getTime()).toBe(2 * HOUR);
    expect(wall(twoHours, NY)).toBe('2026-03-08 00:30 -05:00');
  });

  it('applies the day part of a mixed offset in local days and the rest as exact minutes', () => {
    const start = utc('2026-03-08T13:00:00Z'); // Sun 09:00 EDT
    const [out] = reminderTimes(start, NY, [DAY + 12 * 60]);
    expect(wall(out, NY)).toBe('2026-03-06 21:00 -05:00');
  });

  it('returns no reminders for no offsets', () => {
    expect(reminderTimes(utc('2026-06-15T13:00:00Z'), NY, [])).toEqual([]);
  });
});
