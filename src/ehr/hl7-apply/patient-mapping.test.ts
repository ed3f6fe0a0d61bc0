import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../hl7/message.js';
import type { SenderView } from './hl7-senders.js';
import { chooseIdentifier, contactPoints, hl7Date, language, patientFromPid, patientName } from './patient-mapping.js';
import { Hl7ApplyError } from './apply-error.js';

const sender = (o: Partial<SenderView> = {}): SenderView => ({
  id: 's1',
  tenantId: 'default',
  app: 'APP',
  facility: 'FAC',
  patientIdAuthority: null,
  timeZone: 'America/Chicago',
  phoneRegion: 'US',
  certSha256: null,
  resultHolds: [],
  createdAt: '2021-01-01T00:00:00.000Z',
  removedAt: null,
  ...o,
});

const pid = (fields: string) =>
  parseHl7(`MSH|^~\\&|APP|FAC|||20210101||ADT^A04|1|P|2.5\rPID|${fields}`).segment('PID')!;

describe('the patient identifier a sender means (PID-3)', () => {
  const p = pid('1||X1^^^OTHER^PI~M42^^^HOSP&1.2.3&ISO^MR~S9^^^USSSA^SS');

  it('takes the identifier of the configured authority, by namespace or by OID', () => {
    expect(chooseIdentifier(p, 3, sender({ patientIdAuthority: 'OTHER' }))).toEqual({ system: 'OTHER', value: 'X1' });
    expect(chooseIdentifier(p, 3, sender({ patientIdAuthority: '1.2.3' }))).toEqual({ system: '1.2.3', value: 'M42' });
    expect(chooseIdentifier(p, 3, sender({ patientIdAuthority: 'NOPE' }))).toBeNull();
  });

  it('else the MR-typed one, never the SSN, in the system the sender owns (never the CX-4 it writes)', () => {
    expect(chooseIdentifier(p, 3, sender())).toEqual({ system: 'urn:sealpost:hl7:APP|FAC', value: 'M42' });
  });

  it('qualifies an MR without authority by the sender, and reads a type misplaced into CX-4', () => {
    expect(chooseIdentifier(pid('1||0001^^^MR'), 3, sender())).toEqual({
      system: 'urn:sealpost:hl7:APP|FAC',
      value: '0001',
    });
    expect(chooseIdentifier(pid('1||0002^^^^MR'), 3, sender())).toEqual({
      system: 'urn:sealpost:hl7:APP|FAC',
      value: '0002',
    });
  });

  it('takes a single bare identifier, but not one of several untyped ones', () => {
    expect(chooseIdentifier(pid('1||555'), 3, sender())).toEqual({ system: 'urn:sealpost:hl7:APP|FAC', value: '555' });
    expect(chooseIdentifier(pid('1||555~666'), 3, sender())).toBeNull();
    expect(chooseIdentifier(pid('1||'), 3, sender())).toBeNull();
  });
});

describe('demographics from PID', () => {
  it('reads the legal name, the birth date as written, and the language', () => {
    const p = pid('1||1^^^H^MR||Nick^Bob~Smith^Robert^J^^^^L||19800131120000+0100||||||||es-MX');
    expect(patientName(p)).toEqual({ family: 'Smith', given: ['Robert', 'J'] });
    expect(hl7Date(p.get(7))).toBe('1980-01-31');
    expect(language(p)).toBe('es');
    expect(language(pid('1||||||||||||||||FRE^French'))).toBeUndefined();
  });

  it('turns PID-13/14 into contact points: mobile first, e-mail by XTN-4 or NET, fax and unusable numbers skipped', () => {
    const p = pid(
      '1||1^^^H^MR||Doe^Jane||19800101||||||^PRN^PH^^1^312^5550100~^NET^Internet^jane@example.org~^PRN^FX^^1^312^5550199~^PRN^CP^^^415^5550123~garbage|(312)555-0177',
    );
    const { telecom, skipped } = contactPoints(p, sender());
    expect(telecom).toEqual([
      { system: 'sms', value: '+14155550123', rank: 1 },
      { system: 'sms', value: '+13125550100', rank: 2 },
      { system: 'sms', value: '+13125550177', rank: 3 },
      { system: 'email', value: 'jane@example.org', rank: 4 },
    ]);
    expect(skipped).toBe(1);
  });

  it('refuses to create a patient without a name or birth date, naming the field', () => {
    const msg = parseHl7('MSH|^~\\&|APP|FAC|||20210101||ADT^A04|1|P|2.5\rPID|1||1^^^H^MR||Doe^Jane||1980x');
    const e = (() => {
      try {
        patientFromPid(msg, msg.segment('PID')!, sender());
      } catch (err) {
        return err as Hl7ApplyError;
      }
    })();
    expect(e).toBeInstanceOf(Hl7ApplyError);
    expect(e?.code).toBe('SP_HL7_INVALID_FIELD');
    expect(e?.where).toEqual({ segment: 'PID', sequence: 2, field: 7 });
    const noName = parseHl7('MSH|^~\\&|APP|FAC|||20210101||ADT^A04|1|P|2.5\rPID|1||1^^^H^MR||||19800101');
    expect(() => patientFromPid(noName, noName.segment('PID')!, sender())).toThrow(/PID-5/);
  });
});
