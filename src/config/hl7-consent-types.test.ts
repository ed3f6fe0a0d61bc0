import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { parseHl7ConsentTypes } from './hl7-consent-types.js';

const base = { SEALPOST_DATA_DIR: '/tmp/x' };
const problems = (value: string): string => {
  try {
    loadConfig({ ...base, SEALPOST_HL7_CONSENT_TYPES: value });
  } catch (e) {
    return (e as { detail?: string }).detail ?? (e as Error).message;
  }
  return '';
};

describe('SEALPOST_HL7_CONSENT_TYPES', () => {
  it('is unset by default: no consent type is mapped', () => {
    expect(loadConfig(base).hl7.consentTypes).toBeUndefined();
    expect(loadConfig({ ...base, SEALPOST_HL7_CONSENT_TYPES: ' ' }).hl7.consentTypes).toBeUndefined();
  });

  it('maps CON-2 codes to a channel and a purpose, either of them possibly every one', () => {
    expect(
      loadConfig({ ...base, SEALPOST_HL7_CONSENT_TYPES: 'SMSAPPT=sms:appointment, TXT = sms:*,EMAIL=email:*,ALL=*:*' })
        .hl7.consentTypes,
    ).toEqual({
      SMSAPPT: { channel: 'sms', purpose: 'appointment' },
      TXT: { channel: 'sms', purpose: '*' },
      EMAIL: { channel: 'email', purpose: '*' },
      ALL: { channel: '*', purpose: '*' },
    });
  });

  it('refuses start-up on a bad entry, naming the variable and the problem', () => {
    for (const [value, expected] of [
      ['SMSAPPT', 'is not CODE=channel:purpose'],
      ['SMSAPPT=sms', 'is not CODE=channel:purpose'],
      ['SMSAPPT=fax:appointment', 'channel "fax" must be one of sms, email, webhook, push, *'],
      ['SMSAPPT=sms:marketing', 'purpose "marketing" must be one of'],
      ['SMS^APPT=sms:*', 'code "SMS^APPT" must be 1 to 64 letters'],
      ['TXT=sms:*,TXT=email:*', 'code "TXT" is mapped twice'],
      ['TXT=sms:*,,EMAIL=email:*', 'an empty entry'],
    ]) {
      const p = problems(value);
      expect(p, value).toContain('SEALPOST_HL7_CONSENT_TYPES');
      expect(p, value).toContain(expected);
    }
  });

  it('reports every bad entry together', () => {
    const errors: string[] = [];
    parseHl7ConsentTypes('A=fax:*,B=sms:x,C=sms:*', errors);
    expect(errors).toHaveLength(2);
  });
});
