import { describe, expect, it } from 'vitest';
import { escapeText, foldLine, renderCalendar } from './ical.js';

describe('iCalendar export', () => {
  it('escapes backslashes, semicolons, commas and line breaks in TEXT values', () => {
    expect(escapeText('a\\b;c,d\ne')).toBe('a\\\\b\\;c\\,d\\ne');
  });

  it('folds lines at 75 octets without splitting a UTF-8 character, and unfolds to the original', () => {
    const line = 'SUMMARY:' + 'é'.repeat(100);
    const folded = foldLine(line);
    for (const l of folded.split('\r\n')) expect(Buffer.byteLength(l, 'utf8')).toBeLessThanOrEqual(75);
    expect(folded).not.toContain('\uFFFD');
    expect(folded.replace(/\r\n /g, '')).toBe(line);
  });

  it('writes one VEVENT per staffed shift in UTC, CRLF-terminated, skipping gaps', () => {
    const text = renderCalendar(
      { scheduleId: 's1', name: 'ICU, nights; west', timeZone: 'Europe/Madrid', host: 'sealpost.test' },
      [
        { start: Date.parse('2026-03-28T07:00:00Z'), end: Date.parse('2026-03-29T06:00:00Z'), userIds: ['u1'] },
        { start: Date.parse('2026-03-29T06:00:00Z'), end: Date.parse('2026-03-30T06:00:00Z'), userIds: [] },
      ],
      Date.parse('2026-03-01T00:00:00Z'),
    );
    expect(text.endsWith('END:VCALENDAR\r\n')).toBe(true);
    expect(text.split('\r\n').filter((l) => l === 'BEGIN:VEVENT')).toHaveLength(1);
    expect(text).toContain('\r\nDTSTART:20260328T070000Z\r\nDTEND:20260329T060000Z\r\n');
    expect(text).toContain('X-WR-CALNAME:ICU\\, nights\\; west\r\n');
    expect(text.replace(/\r\n/g, '')).not.toMatch(/\n/);
  });
});
