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

  it('never puts the summary into the error', () => {
    try {
      checkSummary(`Call ${PHI_MARKER} on +14155550101`);
      expect.unreachable();
    } catch (e) {
      expect(JSON.stringify(e) + String((e as Error).message)).not.toContain(PHI_MARKER);
    }
  });
});
