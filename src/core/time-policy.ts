import { DateTime, IANAZone } from 'luxon';

/** Parses "7d", "1d", "2h", "30m" (or a sum like "1d12h") into minutes. Throws on anything else. */
export function parseDurationMinutes(s: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(s);
  if (!m || s === '') throw new Error('bad duration');
  const total = Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  // The digit runs are unbounded: without this, "9999999999999999999999d" came back as an imprecise
  // number and a 400-digit count as Infinity instead of being rejected.
  if (total <= 0 || !Number.isSafeInteger(total)) throw new Error('bad duration');
  return total;
}

/** Parses "21:00-08:00" into minutes after local midnight. A window may cross midnight. */
export function parseQuietHours(s: string): { startMinute: number; endMinute: number } {
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(s);
  if (!m) throw new Error('bad quiet hours');
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (start === end) throw new Error('empty quiet hours');
  return { startMinute: start, endMinute: end };
}

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
