import { Temporal } from 'temporal-polyfill';
import { AppError } from '../../core/errors.js';
import { startWall, type RotationLayer } from './rotation.js';
import { rulePlan } from './rrule-rotation.js';

/** Longest range a listing or an export covers. */
export const MAX_RANGE_DAYS = 62;
export const MAX_LAYERS = 10;
export const MAX_ROTATION_USERS = 100;

const HANDOFF = /^([01]\d|2[0-3]):[0-5]\d$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * The canonical IANA name of `zone`, or 400 SP_SCHEDULE_ZONE_INVALID. Offsets (`+02:00`) are
 * refused: a fixed offset has no daylight-saving rules, which is what a schedule's zone is for.
 */
export function canonicalZone(zone: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(zone)) throw new AppError('SP_SCHEDULE_ZONE_INVALID');
  try {
    return Temporal.ZonedDateTime.from({ timeZone: zone, year: 2026, month: 1, day: 1 }).timeZoneId;
  } catch {
    throw new AppError('SP_SCHEDULE_ZONE_INVALID');
  }
}

function checkDate(s: string, field: string): void {
  const m = DATE.exec(s);
  const ok =
    m !== null &&
    Number(m[1]) >= 2000 &&
    Number(m[1]) <= 2100 &&
    (() => {
      try {
        Temporal.PlainDate.from(s, { overflow: 'reject' });
        return true;
      } catch {
        return false;
      }
    })();
  if (!ok) throw new AppError('SP_SCHEDULE_HANDOFF_INVALID', field);
}

/** Checks one layer and returns it without unknown members; 400 with the field named (never a value). */
export function validLayer(layer: RotationLayer, _zone: string, i: number): RotationLayer {
  const f = `layers[${i}]`;
  if (!HANDOFF.test(layer.handoffTime)) throw new AppError('SP_SCHEDULE_HANDOFF_INVALID', `${f}.handoffTime`);
  checkDate(layer.startDate, `${f}.startDate`);
  if (layer.userIds.length === 0 || layer.userIds.length > MAX_ROTATION_USERS)
    throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}.userIds`);
  const windows = layer.restrictions ?? [];
  if (windows.length > 14) throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}.restrictions`);
  windows.forEach((w, j) => {
    const days = w.days ?? [];
    const ok =
      HANDOFF.test(w.start) &&
      HANDOFF.test(w.end) &&
      days.every((d) => Number.isInteger(d) && d >= 1 && d <= 7) &&
      new Set(days).size === days.length &&
      (w.days === undefined || days.length > 0);
    if (!ok) throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}.restrictions[${j}]`);
  });
  const out: RotationLayer = {
    ...(layer.name !== undefined ? { name: layer.name } : {}),
    ...(windows.length > 0
      ? { restrictions: windows.map((w) => ({ ...(w.days ? { days: [...w.days] } : {}), start: w.start, end: w.end })) }
      : {}),
    userIds: [...layer.userIds],
    kind: layer.kind,
    handoffTime: layer.handoffTime,
    startDate: layer.startDate,
  };
  if (layer.kind !== 'custom') {
    if (layer.shiftHours !== undefined || layer.rrule !== undefined)
      throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}: shiftHours and rrule are for custom rotations`);
    return out;
  }
  if ((layer.shiftHours === undefined) === (layer.rrule === undefined))
    throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}: a custom rotation has shiftHours or rrule`);
  if (layer.shiftHours !== undefined) {
    if (!Number.isInteger(layer.shiftHours) || layer.shiftHours < 1 || layer.shiftHours > 744)
      throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}.shiftHours`);
    return { ...out, shiftHours: layer.shiftHours };
  }
  const rrule = layer
    .rrule!.trim()
    .replace(/^RRULE:/i, '')
    .toUpperCase();
  // DTSTART comes from startDate + handoffTime; a rule that ends would leave its last shift open. Only
  // rules whose cost does not grow with their age pass (rrule-rotation.ts); the reason names no value.
  if (rrule.length > 300) throw new AppError('SP_SCHEDULE_ROTATION_INVALID', `${f}.rrule`);
  rulePlan(rrule, startWall(out), `${f}.rrule`);
  return { ...out, rrule };
}

/** Parses an ISO 8601 instant with a zone offset (or Z); 400 SP_SCHEDULE_RANGE_INVALID otherwise. */
export function instant(s: string, field: string): number {
  const ms = /(Z|[+-]\d{2}:?\d{2})$/i.test(s) ? Date.parse(s) : NaN;
  // Four-digit years only: rotations are computed in calendar terms that end at 9999.
  if (!Number.isFinite(ms) || ms < 0 || ms >= Date.UTC(9999, 0, 1))
    throw new AppError('SP_SCHEDULE_RANGE_INVALID', field);
  return ms;
}

/** A listing range: `from` before `to`, at most MAX_RANGE_DAYS. */
export function range(from: string, to: string): { from: number; to: number } {
  const a = instant(from, 'from');
  const b = instant(to, 'to');
  if (a >= b) throw new AppError('SP_SCHEDULE_RANGE_INVALID', 'from must be before to');
  if (b - a > MAX_RANGE_DAYS * 86_400_000)
    throw new AppError('SP_SCHEDULE_RANGE_INVALID', `at most ${MAX_RANGE_DAYS} days`);
  return { from: a, to: b };
}
