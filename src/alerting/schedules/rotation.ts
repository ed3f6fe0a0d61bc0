import { Temporal } from 'temporal-polyfill';
import { AppError } from '../../core/errors.js';
import { handoffIndex, matches, rulePlan } from './rrule-rotation.js';

/**
 * One layer of an on-call schedule: a rotation of users handing over at a wall-clock time in the
 * schedule's zone. Shift `i` (i = 0, 1, …) starts at hand-off `i` and belongs to `userIds[i mod n]`.
 */
export interface RotationLayer {
  name?: string;
  userIds: string[];
  /** daily: a hand-off every day; weekly: every 7 days; custom: every `shiftHours` or per `rrule`. */
  kind: 'daily' | 'weekly' | 'custom';
  /** custom only: shift length in wall-clock hours (12 = hand-offs at 08:00 and 20:00). */
  shiftHours?: number;
  /** custom only: an RFC 5545 RRULE (without DTSTART, COUNT, UNTIL) whose occurrences are the hand-offs. */
  rrule?: string;
  /** Wall-clock hand-off time `HH:MM` in the schedule's zone. */
  handoffTime: string;
  /** The date (`YYYY-MM-DD`, in the schedule's zone) of the first hand-off; nobody before it. */
  startDate: string;
  /** When present, the layer has someone only inside these wall-clock windows (else always). */
  restrictions?: LayerWindow[];
}

/**
 * A wall-clock window of a layer: on each of `days` (ISO 1 = Monday … 7 = Sunday; every day when
 * absent) from `start` to `end` (`HH:MM`); an `end` at or before `start` ends the next day.
 */
export interface LayerWindow {
  days?: number[];
  start: string;
  end: string;
}

/** A user takes [start, end) (epoch ms) over every layer; a later override wins over an earlier one. */
export interface OverrideSpan {
  id: string;
  userId: string;
  start: number;
  end: number;
}

/** A stretch of the final timeline: who is on call from `start` to `end` (epoch ms). */
export interface Shift {
  start: number;
  end: number;
  /** Empty in a gap (nobody on call). */
  userIds: string[];
  /** Which layer (0-based) decided it, or which override. */
  layer?: number;
  overrideId?: string;
}

/** A layer's own shifts: consecutive, never overlapping, each [start, end). */
interface LayerShift {
  index: number;
  start: number;
  end: number;
}

/** Wall-clock reading (as if UTC) of an instant in `zone`: DST-free arithmetic on hand-offs. */
function wallOf(ms: number, zone: string): number {
  const z = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(zone);
  return Date.UTC(z.year, z.month - 1, z.day, z.hour, z.minute, z.second, z.millisecond);
}

/**
 * The instant of a wall-clock time in `zone`. A time in a spring-forward gap moves forward by the
 * gap, a time in a fall-back fold takes its earlier instant (Temporal's `compatible`): the mapping
 * never goes backwards, so consecutive hand-offs leave neither gaps nor overlaps.
 */
function instantOf(wall: number, zone: string): number {
  const d = new Date(wall);
  return Temporal.PlainDateTime.from({
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
  }).toZonedDateTime(zone, { disambiguation: 'compatible' }).epochMilliseconds;
}

export function startWall(layer: RotationLayer): number {
  const [y, m, d] = layer.startDate.split('-').map(Number);
  const [hh, mm] = layer.handoffTime.split(':').map(Number);
  return Date.UTC(y!, m! - 1, d!, hh!, mm!);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * A hard bound on the steps of any loop here: inputs are validated so that no lookup comes near
 * it, and a layer stored before a limit existed fails with a clear error instead of spinning.
 */
const MAX_STEPS = 200_000;
function budget(): () => void {
  let n = 0;
  return () => {
    if (++n > MAX_STEPS) throw new AppError('SP_SCHEDULE_ROTATION_INVALID', 'lookup too costly');
  };
}

/** The shifts of an RRULE layer overlapping [from, to): hand-offs counted per period (rrule-rotation.ts). */
function ruleShifts(layer: RotationLayer, zone: string, from: number, to: number): LayerShift[] {
  const plan = rulePlan(layer.rrule!, startWall(layer));
  // Wall-clock margins of a period and a day on each side hold the hand-off before `from` and the one after `to`.
  const lo = Math.max(plan.first, wallOf(from, zone) - plan.period - DAY);
  const hi = Math.max(lo, wallOf(to, zone) + plan.period + DAY);
  const walls = matches(plan, lo, hi);
  if (lo === plan.first && walls[0] !== plan.first) walls.unshift(plan.first);
  const at = walls.map((w) => instantOf(w, zone));
  let k = 0;
  while (k + 1 < at.length && at[k + 1]! <= from) k++;
  let index = walls.length > 0 ? handoffIndex(plan, walls[k]!) : 0;
  const out: LayerShift[] = [];
  for (; k + 1 < at.length && at[k]! < to; k++, index++) {
    const start = at[k]!;
    const end = at[k + 1]!;
    // Two hand-offs on one instant (a spring-forward gap): the first has no length and no shift.
    if (end > start && end > from) out.push({ index, start, end });
  }
  return out;
}

/** A layer's shifts that overlap [from, to), in order. */
function layerShifts(layer: RotationLayer, zone: string, from: number, to: number): LayerShift[] {
  const out: LayerShift[] = [];
  if (layer.kind === 'custom' && layer.rrule) return ruleShifts(layer, zone, from, to);
  const period = layer.kind === 'daily' ? DAY : layer.kind === 'weekly' ? 7 * DAY : layer.shiftHours! * HOUR;
  const base = startWall(layer);
  const handoff = (i: number) => instantOf(base + i * period, zone);
  // Estimate from wall-clock time, then correct on instants (a fold or gap may shift by one).
  const step = budget();
  let i = Math.floor((wallOf(from, zone) - base) / period);
  while (i >= 0 && handoff(i) > from) (i--, step());
  while (handoff(i + 1) <= from) (i++, step());
  if (i < 0) i = 0;
  for (let start = handoff(i); start < to; i++) {
    step();
    const end = handoff(i + 1);
    // A shift wholly inside a spring-forward gap has no length: it does not exist.
    if (end > start && end > from) out.push({ index: i, start, end });
    start = end;
  }
  return out;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The instants of a layer's windows overlapping [from, to), sorted and merged. */
function windowsBetween(windows: readonly LayerWindow[], zone: string, from: number, to: number): [number, number][] {
  const spans: [number, number][] = [];
  // From the local day before `from` (a window may cross midnight) to the local day of `to`.
  const first = Math.floor(wallOf(from, zone) / DAY) - 1;
  const last = Math.floor(wallOf(to, zone) / DAY);
  const step = budget();
  for (let day = first; day <= last; day++) {
    step();
    const iso = ((((day + 3) % 7) + 7) % 7) + 1; // 1970-01-01 (day 0) was a Thursday (4)
    for (const w of windows) {
      if (w.days && !w.days.includes(iso)) continue;
      const a = minutes(w.start);
      const b = minutes(w.end) + (minutes(w.end) <= a ? 24 * 60 : 0);
      const start = instantOf(day * DAY + a * 60_000, zone);
      const end = instantOf(day * DAY + b * 60_000, zone);
      if (end > from && start < to && end > start) spans.push([start, end]);
    }
  }
  spans.sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const sp of spans) {
    const m = merged[merged.length - 1];
    if (m && sp[0] <= m[1]) m[1] = Math.max(m[1], sp[1]);
    else merged.push([...sp]);
  }
  return merged;
}

/** A layer's shifts over [from, to), cut to its windows when it has any. */
function layerPieces(layer: RotationLayer, zone: string, from: number, to: number): LayerShift[] {
  const shifts = layerShifts(layer, zone, from, to);
  if (!layer.restrictions?.length) return shifts;
  const windows = windowsBetween(layer.restrictions, zone, from, to);
  const out: LayerShift[] = [];
  for (const s of shifts)
    for (const [a, b] of windows) {
      const start = Math.max(s.start, a);
      const end = Math.min(s.end, b);
      if (end > start) out.push({ index: s.index, start, end });
    }
  return out;
}

interface Piece {
  start: number;
  end: number;
  userId: string;
  key: string;
  precedence: number;
  layer?: number;
  overrideId?: string;
}

/**
 * The final timeline over [from, to): overrides over layers, a later layer over an earlier one
 * where it has someone. Consecutive, never overlapping, clipped to the range; gaps appear as shifts
 * with no user. Adjacent pieces of the same layer shift or override stay one shift.
 */
export function timeline(
  zone: string,
  layers: readonly RotationLayer[],
  overrides: readonly OverrideSpan[],
  from: number,
  to: number,
): Shift[] {
  // Each layer's pieces are sorted and disjoint: one cursor per layer walks them once.
  const perLayer: Piece[][] = layers.map(() => []);
  const pieces: Piece[] = [];
  layers.forEach((layer, li) => {
    for (const s of layerPieces(layer, zone, from, to))
      perLayer[li]!.push({
        start: s.start,
        end: s.end,
        userId: layer.userIds[s.index % layer.userIds.length]!,
        key: `L${li}:${s.index}`,
        precedence: li,
        layer: li,
      });
  });
  for (const l of perLayer) pieces.push(...l);
  const ovs: Piece[] = [];
  overrides.forEach((o, oi) => {
    if (o.end > from && o.start < to && o.end > o.start)
      ovs.push({ ...o, key: `O:${o.id}`, precedence: 1_000_000 + oi, overrideId: o.id });
  });
  pieces.push(...ovs);
  const bounds = new Set<number>([from, to]);
  for (const p of pieces) {
    if (p.start > from && p.start < to) bounds.add(p.start);
    if (p.end > from && p.end < to) bounds.add(p.end);
  }
  const points = [...bounds].sort((a, b) => a - b);
  const out: (Shift & { key: string })[] = [];
  const cursor = perLayer.map(() => 0);
  // Overrides by start, swept once: only those begun and not yet ended are looked at per stretch.
  const byStart = [...ovs].sort((x, y) => x.start - y.start);
  let next = 0;
  let active: Piece[] = [];
  for (let k = 0; k + 1 < points.length; k++) {
    const a = points[k]!;
    const b = points[k + 1]!;
    while (next < byStart.length && byStart[next]!.start <= a) active.push(byStart[next++]!);
    active = active.filter((p) => p.end > a);
    // Overrides first (the latest covering one), else the highest layer with a piece here.
    let best: Piece | undefined;
    for (const p of active) if (p.end >= b && (!best || p.precedence > best.precedence)) best = p;
    perLayer.forEach((list, li) => {
      while (cursor[li]! < list.length && list[cursor[li]!]!.end <= a) cursor[li]!++;
    });
    if (!best)
      for (let li = perLayer.length - 1; li >= 0; li--) {
        const p = perLayer[li]![cursor[li]!];
        if (p && p.start <= a && p.end >= b) {
          best = p;
          break;
        }
      }
    const key = best?.key ?? 'gap';
    const last = out[out.length - 1];
    if (last && last.key === key) {
      last.end = b;
      continue;
    }
    out.push({
      key,
      start: a,
      end: b,
      userIds: best ? [best.userId] : [],
      ...(best?.layer !== undefined ? { layer: best.layer } : {}),
      ...(best?.overrideId !== undefined ? { overrideId: best.overrideId } : {}),
    });
  }
  return out.map(({ key: _key, ...s }) => s);
}

/**
 * The stretch of time around `at` whose deciding source (an override covering `at`, else the
 * highest layer with a shift there) is known: the caller reads the overrides of this window and
 * calls `timeline` over it to find the shift containing `at`. Null when nothing covers `at`.
 */
export function decidingWindow(
  zone: string,
  layers: readonly RotationLayer[],
  coveringOverrides: readonly OverrideSpan[],
  at: number,
): { start: number; end: number } | null {
  const o = coveringOverrides.filter((x) => x.start <= at && x.end > at).at(-1);
  if (o) return { start: o.start, end: o.end };
  for (let li = layers.length - 1; li >= 0; li--) {
    const s = layerPieces(layers[li]!, zone, at, at + 1)[0];
    if (s && s.start <= at) return { start: s.start, end: s.end };
  }
  return null;
}
