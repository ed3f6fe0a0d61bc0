/**
 * iCalendar (RFC 5545) export of on-call shifts, written by hand: CRLF line ends, content lines
 * folded at 75 octets without splitting a UTF-8 sequence (§3.1), TEXT values escaped (§3.3.11),
 * times in UTC (`…Z`, §3.3.5 form 2) so no VTIMEZONE is needed and every client agrees on the instant.
 */

export interface CalendarShift {
  start: number;
  end: number;
  userIds: string[];
  /** Display text per user id (falls back to the id). */
  label?: string;
}

/** Escapes a TEXT value: backslash, semicolon, comma and line breaks. */
export function escapeText(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n');
}

/** Folds one content line into lines of at most 75 octets (continuations start with one space). */
export function foldLine(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= 75) return line;
  const parts: string[] = [];
  let start = 0;
  let limit = 75;
  while (start < bytes.length) {
    let end = Math.min(start + limit, bytes.length);
    // Never cut inside a multi-byte character: back up to a lead byte.
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
    parts.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
    limit = 74; // the leading space of a continuation counts
  }
  return parts.join('\r\n ');
}

export function icsTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** A VCALENDAR of the shifts that have someone on call (gaps are not events). */
export function renderCalendar(
  cal: { scheduleId: string; name: string; timeZone: string; host: string },
  shifts: readonly CalendarShift[],
  now: number,
): string {
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Sealpost//On-call schedules//EN',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    `X-WR-CALNAME:${escapeText(cal.name)}`,
    `X-WR-TIMEZONE:${escapeText(cal.timeZone)}`,
  ];
  for (const s of shifts) {
    if (s.userIds.length === 0) continue;
    lines.push(
      'BEGIN:VEVENT',
      `UID:${cal.scheduleId}-${icsTime(s.start)}@${cal.host}`,
      `DTSTAMP:${icsTime(now)}`,
      `DTSTART:${icsTime(s.start)}`,
      `DTEND:${icsTime(s.end)}`,
      `SUMMARY:${escapeText(`On call (${cal.name}): ${s.label ?? s.userIds.join(', ')}`)}`,
      'TRANSP:TRANSPARENT',
      'END:VEVENT',
    );
  }
  lines.push('END:VCALENDAR');
  return lines.map(foldLine).join('\r\n') + '\r\n';
}
