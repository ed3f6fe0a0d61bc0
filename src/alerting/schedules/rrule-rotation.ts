import { AppError } from '../../core/errors.js';

/**
 * RRULE rotations whose cost does not grow with their age. A rotation's shift `i` belongs to
 * `userIds[i mod n]`, so a lookup needs the number of hand-offs since the layer started. Counting
 * them one by one costs one step per hand-off since then (a rule started in 2000 with a hand-off every
 * five minutes: a minute of CPU inside an alert's transaction). Only rules whose wall-clock pattern
 * repeats with a short fixed period are accepted (DAILY or WEEKLY, with INTERVAL, plain BYDAY, BYHOUR
 * and BYMINUTE), so the count is `whole periods × hand-offs per period + the rest of one period`:
 * the same few hundred steps for a rotation started 25 years ago as for one started yesterday.
 *
 * Everything here is wall-clock time read as UTC (`wall` ms): the rule is evaluated without a zone
 * and rotation.ts maps each hand-off to its instant in the schedule's zone. Within this subset RFC 5545
 * is simple enough to evaluate directly (a day walk, no library iteration): the tests check it
 * against `rrule-temporal` on many rules.
 */

export const MAX_HANDOFFS_PER_DAY = 24;
export const MAX_PERIOD_DAYS = 84;
const DAY = 86_400_000;
/** The widest wall-clock span one enumeration may cover (a listing plus a period each side). */
const MAX_SPAN = 400 * DAY;
const FREQS = new Set(['DAILY', 'WEEKLY']);
const PARTS = new Set(['FREQ', 'INTERVAL', 'BYDAY', 'BYHOUR', 'BYMINUTE', 'WKST']);
const WEEKDAY = /^(MO|TU|WE|TH|FR|SA|SU)$/;

/** The parsed rule (RFC 5545 §3.3.10 restricted to the parts above). */
interface Rule {
  weekly: boolean;
  interval: number;
  /** ISO weekdays (1 = Monday) the rule keeps; null: every day (DAILY) or DTSTART's (WEEKLY). */
  days: Set<number> | null;
  /** Week start (ISO weekday) for WEEKLY with an INTERVAL. */
  wkst: number;
  /** Minutes after midnight of each hand-off of a kept day, ascending (null: DTSTART's). */
  hours: number[] | null;
  minutes: number[] | null;
}

export interface RulePlan {
  rrule: string;
  rule: Rule;
  /** The layer's first hand-off (DTSTART), wall ms; it is a hand-off even when the rule skips it. */
  first: number;
  /** The rule's occurrences after `first` repeat every `period` ms of wall-clock time… */
  period: number;
  /** …`perPeriod` of them in each period. */
  perPeriod: number;
  /** Whether `first` is itself an occurrence of the rule (else it is hand-off 0 on its own). */
  firstMatches: boolean;
}

const refuse = (detail: string) => new AppError('SP_SCHEDULE_ROTATION_INVALID', detail);

function ints(v: string, lo: number, hi: number, what: string): number[] {
  const xs = v.split(',').map((s) => (/^\d{1,2}$/.test(s) ? Number(s) : NaN));
  if (xs.some((x) => !(x >= lo && x <= hi))) throw refuse(what);
  return [...new Set(xs)];
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

const ISO: Record<string, number> = { MO: 1, TU: 2, WE: 3, TH: 4, FR: 5, SA: 6, SU: 7 };

/** Checks the rule's parts and returns it with its wall-clock period in days; 400 with the reason otherwise. */
function parse(rrule: string, field: string): { rule: Rule; period: number } {
  const parts = new Map<string, string>();
  for (const p of rrule.split(';')) {
    const [k, v, extra] = p.split('=');
    if (!k || v === undefined || extra !== undefined || parts.has(k) || !PARTS.has(k))
      throw refuse(`${field}: only FREQ, INTERVAL, BYDAY, BYHOUR, BYMINUTE and WKST, once each`);
    parts.set(k, v);
  }
  const freq = parts.get('FREQ') ?? '';
  if (!FREQS.has(freq)) throw refuse(`${field}: FREQ is DAILY or WEEKLY`);
  const interval = parts.has('INTERVAL') ? ints(parts.get('INTERVAL')!, 1, 99, `${field}: INTERVAL`)[0]! : 1;
  const days = parts.has('BYDAY') ? parts.get('BYDAY')!.split(',') : [];
  if (days.some((d) => !WEEKDAY.test(d))) throw refuse(`${field}: BYDAY takes plain weekdays (MO…SU)`);
  if (parts.has('WKST') && !WEEKDAY.test(parts.get('WKST')!)) throw refuse(`${field}: WKST`);
  const hourList = parts.has('BYHOUR') ? ints(parts.get('BYHOUR')!, 0, 23, `${field}: BYHOUR`) : null;
  const minuteList = parts.has('BYMINUTE') ? ints(parts.get('BYMINUTE')!, 0, 59, `${field}: BYMINUTE`) : null;
  const hours = hourList?.length ?? 1;
  const mins = minuteList?.length ?? 1;
  if (hours * mins > MAX_HANDOFFS_PER_DAY)
    throw refuse(`${field}: at most ${MAX_HANDOFFS_PER_DAY} hand-offs a day (BYHOUR × BYMINUTE)`);
  // DAILY with BYDAY repeats when both the day step and the weekday line up again.
  const period = freq === 'WEEKLY' ? 7 * interval : days.length > 0 ? (interval * 7) / gcd(interval, 7) : interval;
  if (period > MAX_PERIOD_DAYS) throw refuse(`${field}: the pattern repeats at most every ${MAX_PERIOD_DAYS} days`);
  const rule: Rule = {
    weekly: freq === 'WEEKLY',
    interval,
    days: days.length > 0 ? new Set(days.map((d) => ISO[d]!)) : null,
    wkst: ISO[parts.get('WKST') ?? 'MO']!,
    hours: hourList && [...hourList].sort((a, b) => a - b),
    minutes: minuteList && [...minuteList].sort((a, b) => a - b),
  };
  return { rule, period };
}

const isoDay = (day: number) => ((((day + 3) % 7) + 7) % 7) + 1; // day 0 (1970-01-01) was a Thursday
const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * The rule's occurrences in [a, b) (wall ms, a ≥ plan.first), by walking the days of the range:
 * DAILY keeps every INTERVAL-th day from DTSTART's, WEEKLY every INTERVAL-th week (weeks start on
 * WKST) and in it DTSTART's weekday or BYDAY; BYDAY filters the days; each kept day hands over at
 * BYHOUR × BYMINUTE (DTSTART's hour or minute where absent). Nothing before DTSTART.
 */
export function matches(plan: RulePlan, a: number, b: number): number[] {
  if (b <= a) return [];
  if (b - a > MAX_SPAN) throw refuse('rrule: lookup span too long');
  const { rule, first } = plan;
  const firstDay = Math.floor(first / DAY);
  const firstMinute = Math.floor((first - firstDay * DAY) / 60_000);
  const hours = rule.hours ?? [Math.floor(firstMinute / 60)];
  const minutes = rule.minutes ?? [firstMinute % 60];
  const times = hours.flatMap((h) => minutes.map((m) => (h * 60 + m) * 60_000));
  const days = rule.days ?? (rule.weekly ? new Set([isoDay(firstDay)]) : null);
  const weekOf = (day: number) => day - mod(isoDay(day) - rule.wkst, 7);
  const out: number[] = [];
  for (let day = Math.floor(a / DAY); day * DAY < b; day++) {
    if (day < firstDay) continue;
    const inPhase = rule.weekly
      ? mod((weekOf(day) - weekOf(firstDay)) / 7, rule.interval) === 0
      : mod(day - firstDay, rule.interval) === 0;
    if (!inPhase || (days && !days.has(isoDay(day)))) continue;
    for (const t of times) {
      const w = day * DAY + t;
      if (w >= a && w < b && w >= first) out.push(w);
    }
  }
  return out;
}

const plans = new Map<string, RulePlan>();
const MAX_PLANS = 1000;

/** The counting plan of a rule started at wall time `first`; throws 400 SP_SCHEDULE_ROTATION_INVALID. */
export function rulePlan(rrule: string, first: number, field = 'rrule'): RulePlan {
  const key = `${first}|${rrule}`;
  const known = plans.get(key);
  if (known) return known;
  const { rule, period: days } = parse(rrule, field);
  const period = days * DAY;
  let plan: RulePlan = { rrule, rule, first, period, perPeriod: 0, firstMatches: false };
  let inFirst: number[];
  try {
    inFirst = matches(plan, first, first + period);
  } catch {
    throw refuse(field);
  }
  if (inFirst.length === 0) throw refuse(`${field}: no hand-off`);
  plan = { ...plan, perPeriod: inFirst.length, firstMatches: inFirst[0] === first };
  if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value!);
  plans.set(key, plan);
  return plan;
}

/** The index of hand-off `wall` (an occurrence, or `first`): the number of hand-offs before it. */
export function handoffIndex(plan: RulePlan, wall: number): number {
  if (wall <= plan.first) return 0;
  const q = Math.floor((wall - plan.first) / plan.period);
  const before = q * plan.perPeriod + matches(plan, plan.first + q * plan.period, wall).length;
  return before + (plan.firstMatches ? 0 : 1);
}
