import { DateTime } from 'luxon';
import { AppError } from '../errors.js';
import type { TemplateVariable } from './template-registry.js';

/**
 * Validation and normalisation of the `data` object of a notification against a template's declared
 * variables. Every message names the field and what is wrong with it and never echoes the value:
 * the value is PHI and error messages travel to logs and API callers (DESIGN.md promise 1).
 */

/** Data key (not a placeholder) that picks the currency of every money variable of a template. */
export const CURRENCY_KEY = 'currency';
export const DEFAULT_CURRENCY = 'USD';
export const MAX_STRING_LENGTH = 1000;

// Extended ISO 8601 with a mandatory offset: a time without one is ambiguous for a patient whose zone
// differs from the sender's.
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;
const CURRENCY_CODE = /^[A-Z]{3}$/;
// Tab, LF and CR are allowed (multi-line instructions); other C0 controls and DEL are not.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

type Normalised = Record<string, string | number>;

function invalid(field: string, what: string): AppError {
  return new AppError('SP_NOTIFICATION_INVALID_DATA', `data.${field}: ${what}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function normaliseValue(v: TemplateVariable, raw: unknown): string | number {
  switch (v.kind) {
    case 'string': {
      if (typeof raw !== 'string') throw invalid(v.name, 'must be a string');
      const s = raw.replace(/\r\n?/g, '\n').trim();
      if (s === '') throw invalid(v.name, 'must not be empty');
      if (s.length > MAX_STRING_LENGTH) throw invalid(v.name, `must be at most ${MAX_STRING_LENGTH} characters`);
      if (CONTROL.test(s)) throw invalid(v.name, 'must not contain control characters');
      return s;
    }
    case 'datetime': {
      const what = 'must be an ISO 8601 date-time with offset (YYYY-MM-DDThh:mm[:ss]±hh:mm or Z)';
      if (typeof raw !== 'string' || !ISO_DATETIME.test(raw)) throw invalid(v.name, what);
      const dt = DateTime.fromISO(raw, { setZone: true });
      if (!dt.isValid) throw invalid(v.name, what);
      // Stored and compared in UTC (DESIGN.md API conventions); rendering uses the patient's zone.
      return dt.toUTC().toISO({ suppressMilliseconds: true }) as string;
    }
    case 'date': {
      const what = 'must be a calendar date (YYYY-MM-DD)';
      if (typeof raw !== 'string' || !ISO_DATE.test(raw)) throw invalid(v.name, what);
      if (!DateTime.fromISO(raw, { zone: 'UTC' }).isValid) throw invalid(v.name, what);
      return raw;
    }
    case 'money': {
      const what = 'must be a non-negative amount (number or decimal string)';
      let n: number;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'string' && DECIMAL.test(raw)) n = Number(raw);
      else throw invalid(v.name, what);
      if (!Number.isFinite(n) || n < 0) throw invalid(v.name, what);
      return n;
    }
  }
}

function normaliseCurrency(raw: unknown): string {
  if (typeof raw !== 'string' || !CURRENCY_CODE.test(raw)) {
    throw invalid(CURRENCY_KEY, 'must be a 3-letter ISO 4217 code in upper case');
  }
  return raw;
}

/**
 * Checks `data` against `variables` and returns the normalised copy: strings trimmed, date-times in
 * UTC, money as numbers, and (when the template has a money variable) `currency` defaulted. `null`
 * counts as absent, since JSON callers commonly send it for "no value".
 */
export function normaliseTemplateData(variables: readonly TemplateVariable[], data: unknown): Normalised {
  if (!isPlainObject(data)) {
    throw new AppError('SP_NOTIFICATION_INVALID_DATA', 'data: must be a JSON object');
  }
  const declared = new Map(variables.map((v) => [v.name, v]));
  const usesMoney = variables.some((v) => v.kind === 'money');
  for (const key of Object.keys(data)) {
    if (declared.has(key) || (usesMoney && key === CURRENCY_KEY)) continue;
    // A key is caller-chosen text (it could be anything, PHI included): never echoed.
    throw new AppError('SP_NOTIFICATION_INVALID_DATA', 'data: has a field that is not part of this notification type');
  }
  const out: Normalised = {};
  for (const v of variables) {
    const raw = Object.hasOwn(data, v.name) ? data[v.name] : undefined;
    if (raw === undefined || raw === null) {
      if (v.required) throw invalid(v.name, 'is required');
      continue;
    }
    out[v.name] = normaliseValue(v, raw);
  }
  if (usesMoney) {
    const raw = Object.hasOwn(data, CURRENCY_KEY) ? data[CURRENCY_KEY] : undefined;
    out[CURRENCY_KEY] = raw === undefined || raw === null ? DEFAULT_CURRENCY : normaliseCurrency(raw);
  }
  return out;
}
