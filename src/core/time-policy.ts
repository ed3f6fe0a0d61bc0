import { DateTime, IANAZone } from 'luxon';

const zoneValidity = new Map<string, boolean>();

/** IANA zone check. Cached: luxon answers by building an Intl.DateTimeFormat, which is slow. */
export function isValidTimeZone(zone: string): boolean {
  let ok = zoneValidity.get(zone);
  if (ok === undefined) {
    ok = IANAZone.isValidZone(zone);
    if (zoneValidity.size < 10_000) zoneValidity.set(zone, ok);
  }
  return ok;
}

/**
 * If `at` falls inside the quiet window in `zone`, returns the instant the window ends (local wall
 * time, so DST shifts are respected); otherwise returns `at` unchanged.
 */
export function deferPastQuietHours(
  at: Date,
  zone: string,
  quiet: { startMinute: number; endMinute: number } | null,
): Date {
  if (!quiet) return at;
  const local = DateTime.fromJSDate(at, { zone });
  const minute = local.hour * 60 + local.minute;
  const { startMinute: s, endMinute: e } = quiet;
  const crossesMidnight = s > e;
  const inside = crossesMidnight ? minute >= s || minute < e : minute >= s && minute < e;
  if (!inside) return at;
  // The window ends today if we are before its end on the same local day, else tomorrow.
  const endDay = crossesMidnight && minute >= s ? local.plus({ days: 1 }) : local;
  const end = endDay.set({ hour: Math.floor(e / 60), minute: e % 60, second: 0, millisecond: 0 });
  return end.toJSDate();
}

/**
 * Reminder times for an appointment: for each offset, `start` minus the offset. Day-sized offsets are
 * taken in the patient's local calendar (a 1-day reminder for a 09:00 appointment goes at 09:00 the
 * day before, also across a DST change); smaller offsets are exact durations.
 */
export function reminderTimes(start: Date, zone: string, offsetsMinutes: readonly number[]): Date[] {
  const local = DateTime.fromJSDate(start, { zone });
  return offsetsMinutes.map((off) => {
    const days = Math.floor(off / 1440);
    const rest = off % 1440;
    return local.minus({ days }).minus({ minutes: rest }).toJSDate();
  });
}
