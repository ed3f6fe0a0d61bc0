import { describe, expect, it } from 'vitest';
import { checkSummary, markersOf } from './alert-summary.js';
import { PHI_MARKER } from '../core/templates/template-test-fixtures.js';

const patient = markersOf({
  name: { given: ['Ana', 'María'], family: 'López Díaz' },
  birthDate: '1980-04-02',
  identifiers: [{ system: 'urn:mrn', value: 'MRN-77421' }],
});
const code = (s: string, p = patient) => {
  try {
    checkSummary(s, p);
    return null;
  } catch (e) {
    return (e as { code: string; detail?: string }).code;
  }
};

describe('PHI check of alert summaries', () => {
  it('accepts short clinical summaries without identifying data', () => {
    for (const s of [
      'Bed 12 SpO2 below 88',
      'Critical potassium 6.8',
      'Pump occlusion, room 4-west 12',
      'HR 152 sustained',
    ])
      expect(code(s), s).toBeNull();
  });

  it('refuses contacts, links, long digit runs, dates and overlong text', () => {
    for (const s of [
      'Call nurse@clinic.org',
      'Call +1 (415) 555-0101',
      'See https://ehr/x',
      'see www.example.org',
      'Account 1234567',
      'DOB 02/04/1980',
      'Admitted 2031-02-03',
      'Seen 3 Feb 1980',
      'x'.repeat(161),
      '',
      'line\nbreak',
    ])
      expect(code(s), s).toBe('SP_ALERT_SUMMARY_PHI');
  });

  it("refuses the patient's name parts, birth date and identifiers, whatever the case or punctuation", () => {
    for (const s of [
      'lopez? no: LÓPEZ in bed 4',
      'maría desaturating',
      'Díaz fell',
      'ref mrn77421',
      'born 02.04.1980 x',
    ])
      expect(code(s), s).toBe('SP_ALERT_SUMMARY_PHI');
    // Words merely containing a name part are fine ("Ana" inside "anaphylaxis").
    expect(code('Suspected anaphylaxis bed 3')).toBeNull();
  });

  it('compares after NFKC and without diacritics: full-width digits, accented spellings', () => {
    const smith = markersOf({
      name: { given: ['John'], family: 'Smith' },
      birthDate: '1961-02-03',
      identifiers: [{ system: 'urn:mrn', value: '4829173' }],
    });
    for (const s of [
      'Bed 4 MRN ４８２９１７３',
      'Bed 4 ref ４８２９-１７３',
      'DOB ０３/０２/１９６１',
      'Mr Smíth fell',
      'Mr ＳＭＩＴＨ fell',
      'Jóhn desaturating',
    ])
      expect(code(s, smith), s).toBe('SP_ALERT_SUMMARY_PHI');
    // A patient whose record carries the accent, a summary that does not.
    expect(code('Lopez fell')).toBe('SP_ALERT_SUMMARY_PHI');
    expect(code('Diaz fell')).toBe('SP_ALERT_SUMMARY_PHI');
  });

  it('refuses local phone numbers (3 + 4 digits) but not vital signs or beds', () => {
    for (const s of ['call 555-0100', 'call 555 0100', 'ext 555.0100', 'call ５５５-０１００'])
      expect(code(s), s).toBe('SP_ALERT_SUMMARY_PHI');
    for (const s of [
      'SpO2 84',
      'Bed 12',
      'K+ 6.8',
      'BP 190/110 HR 131',
      'Glucose 2.8 mmol/L, bed 4-west 12',
      'Temp 39.4, RR 28',
      'INR 4.2 Hb 7.1',
      'Room 312 bed 2',
    ])
      expect(code(s), s).toBeNull();
  });

  it('never puts the summary into the error', () => {
    try {
      checkSummary(`Call ${PHI_MARKER} on +14155550101`);
      expect.unreachable();
    } catch (e) {
      expect(JSON.stringify(e) + String((e as Error).message)).not.toContain(PHI_MARKER);
    }
  });
});
