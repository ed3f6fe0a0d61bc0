/**
 * Parsers of the time-valued settings (SEALPOST_REMINDER_OFFSETS, SEALPOST_QUIET_HOURS): text in,
 * the numbers core/time-policy.ts works with out.
 */

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
