import { describe, expect, it } from 'vitest';
import { inPreferredOrder, parsePreferences, preferencesView } from './patient-preferences.js';
import type { PreferenceRow } from '../store/repositories/preference-repository.js';

const row = (values: ReturnType<typeof parsePreferences>): PreferenceRow => ({
  tenant_id: 't',
  patient_id: 'p',
  updated_at: Date.parse('2030-01-01T00:00:00Z'),
  ...values,
});

describe('patient preferences', () => {
  it('round-trips through the row: times as minutes of the day, channels as JSON', () => {
    const values = parsePreferences({
      channels: { follow_up: ['email', 'push'] },
      language: 'es',
      quietHours: { start: '21:30', end: '07:05' },
      noTextAfter: '20:00',
    });
    expect(values).toMatchObject({ quiet_start: 1290, quiet_end: 425, no_text_after: 1200, language: 'es' });
    expect(preferencesView('p', row(values))).toEqual({
      patientId: 'p',
      channels: { follow_up: ['email', 'push'] },
      language: 'es',
      quietHours: { start: '21:30', end: '07:05' },
      noTextAfter: '20:00',
      updatedAt: '2030-01-01T00:00:00.000Z',
    });
    expect(preferencesView('p', undefined)).toMatchObject({ channels: {}, quietHours: null, updatedAt: null });
  });

  it('orders contact points by the preference for the type, then by rank; other types keep rank order', () => {
    const contacts = [
      { id: 'a', system: 'sms' },
      { id: 'b', system: 'email' },
      { id: 'c', system: 'webhook' },
      { id: 'd', system: 'email' },
    ];
    const r = row(parsePreferences({ channels: { billing_statement: ['email', 'webhook'] } }));
    expect(inPreferredOrder(contacts, r, 'billing_statement').map((c) => c.id)).toEqual(['b', 'd', 'c', 'a']);
    expect(inPreferredOrder(contacts, r, 'follow_up').map((c) => c.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(inPreferredOrder(contacts, undefined, 'follow_up').map((c) => c.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  it.each([
    [{ channels: ['sms'] }, 'SP_PREFERENCE_UNKNOWN_TYPE', 'channels must be an object keyed by notification type'],
    [{ channels: { follow_up: 'sms' } }, 'SP_PREFERENCE_UNKNOWN_CHANNEL', 'channels.follow_up'],
    [{ language: 7 }, 'SP_PREFERENCE_INVALID_LANGUAGE', 'language: one of en, es'],
    [{ quietHours: { start: '22:00' } }, 'SP_PREFERENCE_INVALID_TIME', 'quietHours.end'],
    [{ quietHours: 'night' }, 'SP_PREFERENCE_INVALID_TIME', 'quietHours'],
    [{ noTextAfter: '20:60' }, 'SP_PREFERENCE_INVALID_TIME', 'noTextAfter'],
  ])('refuses %j with %s naming the field', (input, code, detail) => {
    expect(() => parsePreferences(input as never)).toThrow(expect.objectContaining({ code, detail }));
  });
});
