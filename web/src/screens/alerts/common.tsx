import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import type { Problem } from '../../app/api';
import { useSession } from '../../app/session';

/**
 * An API refusal with its stable code and, where the API gives one, its PHI-free detail (the field
 * a validation error names): what the person needs to fix the input.
 */
export function ErrorNote({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  const p = error as Partial<Problem>;
  return (
    <p className="sp-problem" role="alert" data-code={p.code}>
      {t('common.error', { title: p.title ?? String(error), code: p.code ?? '?' })}
      {p.detail ? ` — ${p.detail}` : ''}
    </p>
  );
}

/**
 * Staff names by id: from the user list for people who may manage users, else from the messaging
 * directory (colleagues' names, for anyone who messages); without either, the opaque ids are shown.
 */
export function useStaffNames(): Map<string, string> {
  const { can } = useSession();
  const [names, setNames] = useState(new Map<string, string>());
  const source = can('user.manage') ? '/v1/users?limit=500' : can('message.use') ? '/v1/messaging/directory' : null;
  useEffect(() => {
    if (!source) return;
    let live = true;
    raw('GET', source)
      .then((r: { items: { id: string; displayName: string }[] }) => {
        if (live) setNames(new Map(r.items.map((u) => [u.id, u.displayName])));
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [source]);
  return names;
}

/** Ids typed as a comma- or space-separated list. */
export const splitIds = (s: string) => s.split(/[\s,]+/).filter(Boolean);

export const nameOf = (names: Map<string, string>, id: string) => names.get(id) ?? id;

/** Options for the staff picker (a datalist: ids, labelled with names where known). */
export function StaffOptions({ id, names }: { id: string; names: Map<string, string> }) {
  return (
    <datalist id={id}>
      {[...names].map(([uid, n]) => (
        <option key={uid} value={uid} label={n} />
      ))}
    </datalist>
  );
}

/** The local calendar date (YYYY-MM-DD) of an instant in an IANA zone. */
export function dateIn(zone: string, at: Date | string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(new Date(at));
  const get = (k: string) => parts.find((p) => p.type === k)!.value;
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** Wall-clock time of an instant in a zone, with the zone's abbreviation (EST/EDT): DST is visible. */
export function timeIn(zone: string, at: string, lang: string, withDate = false): string {
  return new Intl.DateTimeFormat(lang, {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
    ...(withDate ? { month: 'short', day: 'numeric' } : {}),
  }).format(new Date(at));
}

/** Calendar arithmetic on YYYY-MM-DD strings (dates, not instants: no zone involved). */
export function addDays(date: string, n: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
/** ISO weekday of a date, 1 = Monday. */
export const weekday = (date: string) => new Date(`${date}T00:00:00Z`).getUTCDay() || 7;

/**
 * The instant of a wall-clock time (`YYYY-MM-DDTHH:MM`) in an IANA zone, for an override typed in
 * the schedule's zone. The zone's offset comes from the browser's time-zone data (the same IANA
 * rules); a time that does not exist (skipped by DST) lands after the gap.
 */
export function instantOf(zone: string, local: string): string {
  const wall = Date.parse(`${local.slice(0, 16)}:00Z`);
  const offset = (t: number) => {
    const p = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(t));
    const g = (k: string) => Number(p.find((x) => x.type === k)!.value);
    return Date.UTC(g('year'), g('month') - 1, g('day'), g('hour'), g('minute'), g('second')) - t;
  };
  let t = wall - offset(wall);
  t = wall - offset(t);
  return new Date(t).toISOString();
}

/** Hours between two instants (a shift across a DST change is 23 or 25 h). */
export const hoursBetween = (a: string, b: string) =>
  Math.round(((Date.parse(b) - Date.parse(a)) / 3_600_000) * 10) / 10;

export const OPEN_STATES = ['triggered', 'notified', 'escalated', 'acknowledged'];
export const tone = (state: string) =>
  state === 'acknowledged' || state === 'resolved'
    ? ('ok' as const)
    : state === 'expired' || state === 'escalated'
      ? ('bad' as const)
      : ('warn' as const);
