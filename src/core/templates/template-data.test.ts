import { describe, expect, it } from 'vitest';
import { NOTIFICATION_TYPES } from '../domain.js';
import type { NotificationType } from '../domain.js';
import { TemplateRegistry } from './template-registry.js';
import { FULL_DATA, PHI_MARKER, appErrorOf } from './template-test-fixtures.js';

const registry = TemplateRegistry.load();

describe('TemplateRegistry.validateData', () => {
  it.each(NOTIFICATION_TYPES)('accepts complete data for %s', (type) => {
    expect(() => registry.validateData(type, FULL_DATA[type])).not.toThrow();
  });

  it.each(NOTIFICATION_TYPES)('validates its own output for %s unchanged, so stored data renders later', (type) => {
    const once = registry.validateData(type, FULL_DATA[type]);
    expect(registry.validateData(type, once)).toEqual(once);
  });

  it('normalises date-times to UTC, trims strings and drops null optionals', () => {
    const out = registry.validateData('appointment_reminder', {
      start: '2026-03-03T09:30:00.000-05:00',
      location: '  Room 4 \r\n Building B ',
      clinicianName: null,
    });
    expect(out).toEqual({ start: '2026-03-03T14:30:00Z', location: 'Room 4 \n Building B' });
  });

  it('turns a decimal string amount into a number and defaults the currency to USD', () => {
    const out = registry.validateData('billing_statement', {
      amount: '12.50',
      dueDate: '2026-04-01',
      statementId: 'S1',
    });
    expect(out).toEqual({ amount: 12.5, dueDate: '2026-04-01', statementId: 'S1', currency: 'USD' });
  });

  it('accepts an explicit currency for a template with money', () => {
    const data = { amount: 0, dueDate: '2026-04-01', statementId: 'S1', currency: 'EUR' };
    expect(registry.validateData('billing_statement', data).currency).toBe('EUR');
  });

  it('rejects a currency key on a template without money', () => {
    const e = appErrorOf(() => registry.validateData('follow_up', { ...FULL_DATA.follow_up, currency: 'USD' }));
    expect(e.detail).toBe('data: has a field that is not part of this notification type');
  });

  it.each([
    ['null', null],
    ['an array', [1, 2]],
    ['a string', 'start=2026-03-03'],
    ['a class instance', new Date('2026-03-03T00:00:00Z')],
  ])('rejects data that is %s', (_what, data) => {
    const e = appErrorOf(() => registry.validateData('appointment_reminder', data));
    expect(e.code).toBe('SP_NOTIFICATION_INVALID_DATA');
    expect(e.detail).toBe('data: must be a JSON object');
  });

  it('names a missing required field', () => {
    const e = appErrorOf(() => registry.validateData('medication_reminder', { medicationName: 'Metformin' }));
    expect(e.code).toBe('SP_NOTIFICATION_INVALID_DATA');
    expect(e.detail).toBe('data.dosage: is required');
  });

  it('rejects an unknown field without echoing its name or value (both are caller text)', () => {
    const e = appErrorOf(() =>
      registry.validateData('follow_up', { ...FULL_DATA.follow_up, diagnosis_hiv: `HIV ${PHI_MARKER}` }),
    );
    expect(e.detail).toBe('data: has a field that is not part of this notification type');
    expect(e.message).not.toContain(PHI_MARKER);
    expect(e.message).not.toContain('diagnosis_hiv');
  });

  it('does not echo an unknown field name that does not look like a field name', () => {
    const key = `Patient has HIV ${PHI_MARKER}`;
    const e = appErrorOf(() => registry.validateData('follow_up', { ...FULL_DATA.follow_up, [key]: 1 }));
    expect(e.code).toBe('SP_NOTIFICATION_INVALID_DATA');
    expect(e.message).not.toContain(PHI_MARKER);
  });

  const bad: Array<[string, NotificationType, string, unknown]> = [
    ['a number for a string', 'follow_up', 'reason', 987654321],
    ['a blank string', 'follow_up', 'reason', `   `],
    ['a string over 1000 characters', 'follow_up', 'reason', `${PHI_MARKER} ${'x'.repeat(1000)}`],
    ['a string with a control character', 'follow_up', 'reason', `${PHI_MARKER}\u0007`],
    ['a date-time without offset', 'appointment_reminder', 'start', '2026-03-03T09:30:00'],
    ['a date-time that is free text', 'appointment_reminder', 'start', `tomorrow ${PHI_MARKER}`],
    ['an impossible date-time', 'appointment_reminder', 'start', '2026-02-30T09:30:00Z'],
    ['a number for a date-time', 'medication_reminder', 'doseTime', 1772548200000],
    ['an impossible date', 'follow_up', 'dueDate', '2026-02-30'],
    ['a date in another format', 'follow_up', 'dueDate', '03/04/2026'],
    ['a date-time for a date', 'follow_up', 'dueDate', '2026-04-01T00:00:00Z'],
    ['a negative amount', 'billing_statement', 'amount', -4242.17],
    ['an amount with a comma', 'billing_statement', 'amount', '4242,17'],
    ['an amount in exponent form', 'billing_statement', 'amount', '4e3'],
    ['an infinite amount', 'billing_statement', 'amount', Number.POSITIVE_INFINITY],
    ['a non-numeric amount', 'billing_statement', 'amount', `${PHI_MARKER}`],
    ['a lower-case currency', 'billing_statement', 'currency', 'eur'],
    ['a currency name', 'billing_statement', 'currency', 'Euro'],
  ];

  it.each(bad)('rejects %s, naming the field but not the value', (_what, type, field, value) => {
    const e = appErrorOf(() => registry.validateData(type, { ...FULL_DATA[type], [field]: value }));
    expect(e.code).toBe('SP_NOTIFICATION_INVALID_DATA');
    expect(e.detail).toMatch(new RegExp(`^data\\.${field}: `));
    const shown = String(value).trim();
    if (shown !== '') expect(e.message).not.toContain(shown);
    expect(e.message).not.toContain(PHI_MARKER);
  });

  it('rejects an unknown notification type', () => {
    const e = appErrorOf(() => registry.validateData('diagnosis_ready' as NotificationType, {}));
    expect(e.code).toBe('SP_NOTIFICATION_UNKNOWN_TYPE');
  });
});
