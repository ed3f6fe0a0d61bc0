import { describe, expect, it } from 'vitest';
import { fhirDateRange, fhirDateWindow } from './fhir-audit-routes.js';

const t = (s: string) => Date.parse(s);

describe('FHIR date search values', () => {
  it('denote the range of their precision, in UTC unless a zone is given', () => {
    expect(fhirDateRange('2026')).toEqual({ start: t('2026-01-01T00:00:00Z'), end: t('2027-01-01T00:00:00Z') });
    expect(fhirDateRange('2026-12')).toEqual({ start: t('2026-12-01T00:00:00Z'), end: t('2027-01-01T00:00:00Z') });
    expect(fhirDateRange('2024-02-29')).toEqual({ start: t('2024-02-29T00:00:00Z'), end: t('2024-03-01T00:00:00Z') });
    expect(fhirDateRange('2026-05-04T10:30-04:00')).toEqual({
      start: t('2026-05-04T14:30:00Z'),
      end: t('2026-05-04T14:31:00Z'),
    });
    expect(fhirDateRange('2026-05-04T10:30:15Z')).toEqual({
      start: t('2026-05-04T10:30:15Z'),
      end: t('2026-05-04T10:30:16Z'),
    });
    expect(fhirDateRange('2026-05-04T10:30:15.5Z')).toEqual({
      start: t('2026-05-04T10:30:15.500Z'),
      end: t('2026-05-04T10:30:15.600Z'),
    });
    expect(fhirDateRange('2026-05-04T10:30:15.123456Z')).toEqual({
      start: t('2026-05-04T10:30:15.123Z'),
      end: t('2026-05-04T10:30:15.124Z'),
    });
  });

  it('refuses impossible dates and times, and times without a zone', () => {
    for (const v of [
      '2026-02-29',
      '2026-00-10',
      '2026-04-31',
      '2026-05-04T24:00Z',
      '2026-05-04T10:60Z',
      '2026-05-04T10:30',
      '26-05-04',
      '2026-5-4',
    ]) {
      expect(() => fhirDateRange(v), v).toThrow(expect.objectContaining({ code: 'SP_REQ_VALIDATION' }));
    }
  });

  it('combines prefixes into one half-open window over the recorded instant', () => {
    expect(fhirDateWindow([])).toEqual({ fromMs: undefined, toMs: undefined });
    expect(fhirDateWindow(['2026-05-04'])).toEqual({
      fromMs: t('2026-05-04T00:00:00Z'),
      toMs: t('2026-05-05T00:00:00Z'),
    });
    expect(fhirDateWindow(['eq2026-05-04'])).toEqual(fhirDateWindow(['2026-05-04']));
    expect(fhirDateWindow(['ge2026-05-04'])).toEqual({ fromMs: t('2026-05-04T00:00:00Z'), toMs: undefined });
    expect(fhirDateWindow(['gt2026-05-04'])).toEqual({ fromMs: t('2026-05-05T00:00:00Z'), toMs: undefined });
    expect(fhirDateWindow(['le2026-05-04'])).toEqual({ fromMs: undefined, toMs: t('2026-05-05T00:00:00Z') });
    expect(fhirDateWindow(['lt2026-05-04'])).toEqual({ fromMs: undefined, toMs: t('2026-05-04T00:00:00Z') });
    expect(fhirDateWindow(['ge2026-05', 'lt2026-05-10', 'ge2026-05-02'])).toEqual({
      fromMs: t('2026-05-02T00:00:00Z'),
      toMs: t('2026-05-10T00:00:00Z'),
    });
    for (const p of ['ne', 'sa', 'eb', 'ap']) expect(() => fhirDateWindow([`${p}2026`])).toThrow(/not supported/);
  });
});
