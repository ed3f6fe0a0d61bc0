import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useAsync } from '../../components/kit';
import { addDays, dateIn, ErrorNote, hoursBetween, nameOf, timeIn, weekday } from './common';
import type { Shift } from './schedule-types';

/** The first and last date shown: a week from Monday, or the six weeks around a month. */
export function rangeOf(mode: 'week' | 'month', anchor: string): { first: string; days: string[] } {
  const start = mode === 'week' ? anchor : `${anchor.slice(0, 8)}01`;
  const first = addDays(start, 1 - weekday(start));
  const n = mode === 'week' ? 7 : 42;
  return { first, days: Array.from({ length: n }, (_, i) => addDays(first, i)) };
}

/**
 * Who is on call, by day, in the schedule's zone. The shifts come from the server (GET
 * /v1/schedules/{id}/shifts), which applies the zone's DST rules; the browser only places each
 * shift on the local dates it touches and writes its times in the zone (a 23 h or 25 h shift shows
 * as such), and never computes a rotation itself.
 */
export function ScheduleCalendar({
  scheduleId,
  zone,
  names,
  version,
  onRange,
}: {
  scheduleId: string;
  zone: string;
  names: Map<string, string>;
  version: number;
  onRange?: (from: string, to: string) => void;
}) {
  const { t, i18n } = useTranslation();
  const [mode, setMode] = useState<'week' | 'month'>('week');
  const [anchor, setAnchor] = useState(() => dateIn(zone, new Date()));
  const { first, days } = rangeOf(mode, anchor);
  const last = days[days.length - 1]!;
  // A day of margin on each side covers any zone's offset from UTC; shifts are then placed by local date.
  const from = `${addDays(first, -1)}T00:00:00Z`;
  const to = `${addDays(last, 2)}T00:00:00Z`;
  const shifts = useAsync(async () => {
    onRange?.(from, to);
    const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const r = (await raw('GET', `/v1/schedules/${encodeURIComponent(scheduleId)}/shifts?${q}`)) as { items: Shift[] };
    return r.items.map((s) => ({ ...s, d0: dateIn(zone, s.start), d1: dateIn(zone, new Date(Date.parse(s.end) - 1)) }));
  }, [scheduleId, zone, from, to, version]);
  const step = (dir: number) => setAnchor((a) => (mode === 'week' ? addDays(a, 7 * dir) : shiftMonth(a, dir)));
  const dayLabel = (d: string) =>
    new Date(`${d}T12:00:00Z`).toLocaleDateString(i18n.language, {
      timeZone: 'UTC',
      weekday: 'short',
      month: 'short',
      day: 'numeric',
    });
  const month = anchor.slice(0, 7);

  return (
    <section className="sp-alerts-calendar" aria-labelledby="cal-heading">
      <h2 id="cal-heading">{t('alerts.calendar.title')}</h2>
      <p className="sp-intro">{t('alerts.calendar.zone', { zone })}</p>
      <div className="sp-actions">
        <div role="group" aria-label={t('alerts.calendar.view')} className="sp-alerts-radios">
          {(['week', 'month'] as const).map((m) => (
            <button
              key={m}
              type="button"
              className={`sp-button${mode === m ? ' sp-primary' : ''}`}
              aria-pressed={mode === m}
              onClick={() => setMode(m)}
            >
              {t(`alerts.calendar.${m}`)}
            </button>
          ))}
        </div>
        <button type="button" className="sp-button" onClick={() => step(-1)}>
          {t('alerts.calendar.previous')}
        </button>
        <button type="button" className="sp-button" onClick={() => step(1)}>
          {t('alerts.calendar.next')}
        </button>
        <label className="sp-alerts-inline">
          {t('alerts.calendar.goTo')}
          <input
            type="date"
            value={anchor}
            onChange={(e) => /^\d{4}-\d{2}-\d{2}$/.test(e.target.value) && setAnchor(e.target.value)}
          />
        </label>
      </div>
      <ErrorNote error={shifts.error} />
      <p role="status" className="sp-visually-hidden">
        {shifts.loading ? t('app.loading') : t('alerts.calendar.range', { first, last })}
      </p>
      <ol className={`sp-alerts-days sp-alerts-${mode}`} data-testid="calendar">
        {days.map((d) => {
          const here = (shifts.data ?? []).filter((s) =>
            mode === 'week' ? s.d0 <= d && d <= s.d1 : s.d0 === d || (d === first && s.d0 < d && d <= s.d1),
          );
          const outside = mode === 'month' && d.slice(0, 7) !== month;
          return (
            <li key={d} className={outside ? 'sp-alerts-outside' : undefined} data-date={d}>
              <h3>{dayLabel(d)}</h3>
              <ul>
                {here.map((s, i) => (
                  <li
                    key={i}
                    className={s.userIds.length ? (s.overrideId ? 'sp-alerts-override' : '') : 'sp-alerts-gap'}
                  >
                    <span className="sp-alerts-who">
                      {s.userIds.length
                        ? s.userIds.map((u) => nameOf(names, u)).join(', ')
                        : t('alerts.calendar.nobody')}
                    </span>
                    <span className="sp-alerts-when">
                      {timeIn(zone, s.start, i18n.language, s.d0 !== d)} –{' '}
                      {timeIn(zone, s.end, i18n.language, s.d1 !== d)} (
                      {t('alerts.calendar.hours', { h: hoursBetween(s.start, s.end) })})
                    </span>
                    {s.overrideId && <span className="sp-alerts-tag">{t('alerts.calendar.override')}</span>}
                  </li>
                ))}
              </ul>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function shiftMonth(date: string, dir: number): string {
  const d = new Date(`${date.slice(0, 8)}01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + dir);
  return d.toISOString().slice(0, 10);
}
