import { DateTime } from 'luxon';
import type { Language } from '../domain.js';

/**
 * Locale-aware formatting of normalised template values. Inputs are the output of validateData
 * (datetime: ISO 8601 instant, date: YYYY-MM-DD, money: number), so nothing here re-validates.
 */

const DATETIME_FORMAT: Record<Language, string> = {
  en: "cccc, d LLLL yyyy 'at' HH:mm",
  // "a las" would need "a la" for 1 o'clock; a comma reads naturally for every hour.
  es: "cccc, d 'de' LLLL 'de' yyyy, HH:mm",
};

const DATE_FORMAT: Record<Language, string> = {
  en: 'cccc, d LLLL yyyy',
  es: "cccc, d 'de' LLLL 'de' yyyy",
};

/**
 * "Tuesday, 3 March 2026 at 09:30 (America/New_York)": wall time in the patient's zone, with the zone
 * named so a patient who travels is not misled about which clock is meant.
 */
export function formatDateTime(iso: string, language: Language, timeZone: string): string {
  const local = DateTime.fromISO(iso, { zone: timeZone }).setLocale(language);
  return `${local.toFormat(DATETIME_FORMAT[language])} (${timeZone})`;
}

/** A calendar date has no zone: it is the same day for everyone, so it is formatted as given. */
export function formatDate(isoDate: string, language: Language): string {
  return DateTime.fromISO(isoDate, { zone: 'UTC' }).setLocale(language).toFormat(DATE_FORMAT[language]);
}

// Intl formatters are costly to build and immutable: keep one per (kind, language, currency).
const formatters = new Map<string, Intl.NumberFormat>();
function numberFormat(id: string, language: Language, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  let f = formatters.get(id);
  if (!f) formatters.set(id, (f = new Intl.NumberFormat(language, options)));
  return f;
}

export function formatMoney(amount: number, currency: string, language: Language): string {
  return numberFormat(`money/${language}/${currency}`, language, { style: 'currency', currency }).format(amount);
}

/** "24 hours" / "1 hour" / "24 horas": the unit is part of the value so templates need no plural rules. */
export function formatHours(hours: number, language: Language): string {
  return numberFormat(`hours/${language}`, language, { style: 'unit', unit: 'hour', unitDisplay: 'long' }).format(
    hours,
  );
}
