import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ackWanted, buildAck, formatTimestamp, isEnhancedMode, type AckError } from './ack.js';
import { parseHl7, parseHl7Timestamp } from './message.js';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/hl7v2');
const now = new Date('2024-05-06T07:08:09.010Z');
const siuText = readFileSync(join(FIXTURES, 'SIU-S12-01.hl7'), 'utf8');
const siu = parseHl7(siuText);
const v24Text = readFileSync(join(FIXTURES, 'ORU-R01-RMGEAD.hl7'), 'utf8');
const v24 = parseHl7(v24Text);

const unknownPatient: AckError = {
  code: 'SP_HL7_UNKNOWN_PATIENT',
  hl7Code: '204',
  segment: 'PID',
  sequence: 5,
  field: 3,
};

describe('buildAck', () => {
  it('answers AA with sender and receiver swapped, MSA-2 = MSH-10, a fresh control id, same version', () => {
    const ack = parseHl7(buildAck(siu, siuText, 'AA', { controlId: 'SP-1', now }));
    expect([ack.type, ack.trigger, ack.controlId, ack.version, ack.processingId]).toEqual([
      'ACK',
      'S12',
      'SP-1',
      '2.8',
      'P',
    ]);
    const msh = ack.segment('MSH')!;
    expect(msh.get(9, 3)).toBe('ACK');
    expect([ack.sendingApplication, ack.sendingFacility]).toEqual(['EHRApp', 'GHHRFacility']);
    expect([ack.receivingApplication, ack.receivingFacility]).toEqual(['SCHApp', 'GHHSFacility']);
    // HD components are copied whole (namespace^universal id^type).
    expect(msh.get(6, 2)).toBe('2.16.840.1.122848.1.30');
    expect(parseHl7Timestamp(msh.get(7), 'UTC')).toEqual(now);
    const msa = ack.segment('MSA')!;
    expect([msa.get(1), msa.get(2), msa.get(3)]).toEqual(['AA', 'MSG00012', '']);
    expect(ack.segment('ERR')).toBeUndefined();
    expect([ack.acceptAckType, ack.applicationAckType]).toEqual(['', '']);
    expect(ack.segments.map((s) => s.name)).toEqual(['MSH', 'MSA']);
  });

  it.each(['AE', 'AR', 'CA', 'CE', 'CR'] as const)('writes %s in MSA-1', (code) => {
    const ack = parseHl7(buildAck(siu, siuText, code, { controlId: 'c', now }));
    expect(ack.segment('MSA')!.get(1)).toBe(code);
  });

  it('names the error in ERR (v2.5+): ERR-2 location, ERR-3 table 0357 + Sealpost code, ERR-4 severity', () => {
    const ack = parseHl7(buildAck(siu, siuText, 'AE', { controlId: 'c', now, error: unknownPatient }));
    const err = ack.segment('ERR')!;
    expect(err.get(1)).toBe('');
    expect([err.get(2, 1), err.get(2, 2), err.get(2, 3)]).toEqual(['PID', '1', '3']);
    expect([err.get(3, 1), err.get(3, 2), err.get(3, 3)]).toEqual(['204', 'SP_HL7_UNKNOWN_PATIENT', 'HL70357']);
    expect(err.get(4)).toBe('E');
    expect(err.get(8)).toBe('No patient has this identifier');
    // MSA-3 is withdrawn from v2.5 on.
    expect(ack.segment('MSA')!.get(3)).toBe('');
  });

  it('renders the segment position as its occurrence (the 2nd PID), as ERL-2 means', () => {
    const text = readFileSync(join(FIXTURES, 'ADT-A40-02.hl7'), 'utf8');
    const m = parseHl7(text);
    const second = m.segments.findIndex((s, i) => s.name === 'PID' && i > 2) + 1;
    const ack = parseHl7(
      buildAck(m, text, 'AE', { controlId: 'c', now, error: { ...unknownPatient, sequence: second, severity: 'W' } }),
    );
    expect(ack.segment('ERR')!.get(2, 2)).toBe('2');
    expect(ack.segment('ERR')!.get(4)).toBe('W');
  });

  it('for v2.3/2.4 also fills MSA-3 with the Sealpost code, MSA-6 and ERR-1 in the pre-2.5 form', () => {
    const ack = parseHl7(buildAck(v24, v24Text, 'AE', { controlId: 'c', now, error: unknownPatient }));
    expect(ack.version).toBe('2.4');
    expect(ack.segment('MSH')!.get(9, 3)).toBe('ACK');
    const msa = ack.segment('MSA')!;
    expect(msa.get(3)).toBe('SP_HL7_UNKNOWN_PATIENT: No patient has this identifier');
    expect([msa.get(6, 1), msa.get(6, 3)]).toEqual(['204', 'HL70357']);
    const err = ack.segment('ERR')!;
    expect([err.get(1, 1), err.get(1, 2), err.get(1, 3)]).toEqual(['PID', '5', '3']);
    expect([err.get(1, 4, 1), err.get(1, 4, 2), err.get(1, 4, 3)]).toEqual([
      '204',
      'SP_HL7_UNKNOWN_PATIENT',
      'HL70357',
    ]);
    expect(err.get(3, 1)).toBe('204');
  });

  it('writes MSH-9 as type^trigger for v2.3 (no message structure yet)', () => {
    const text = readFileSync(join(FIXTURES, 'ADT04-23.hl7'), 'utf8');
    const ack = parseHl7(buildAck(parseHl7(text), text, 'AA', { controlId: 'c', now }));
    expect(ack.version).toBe('2.3');
    expect(ack.segment('MSH')!.raw(9)).toBe('ACK^A04');
    expect(ack.segment('MSA')!.get(2)).toBe('Q123456789T123456789X123456');
  });

  it('keeps the message encoding characters and escapes with them', () => {
    const text = 'MSH*:!%$*App:1.2*Fac*Rcv*RFac*2024**ADT:A01*A%S%1*P*2.5\rPID*1';
    const m = parseHl7(text);
    const raw = buildAck(m, text, 'AE', {
      controlId: 'x:y',
      now,
      error: { code: 'SP_HL7_MISSING_FIELD', hl7Code: '101', segment: 'PID', sequence: 2, field: 3 },
    });
    expect(raw.startsWith('MSH*:!%$*Rcv*RFac*App:1.2*Fac*')).toBe(true);
    const ack = parseHl7(raw);
    expect(ack.encoding).toEqual(m.encoding);
    expect(ack.controlId).toBe('x:y');
    expect(ack.segment('MSA')!.get(2)).toBe('A:1');
    expect(ack.segment('ERR')!.get(3, 2)).toBe('SP_HL7_MISSING_FIELD');
  });

  it('keeps a v2.7 truncation character in MSH-2', () => {
    const text = 'MSH|^~\\&#|A|F|R|RF|2024||ADT^A08|C2|P|2.7';
    const ack = parseHl7(buildAck(parseHl7(text), text, 'CA', { controlId: 'c', now }));
    expect(ack.segment('MSH')!.get(2)).toBe('^~\\&#');
  });

  it('carries no content of the message beyond the routing header', () => {
    const text = `${siuText.split('\n')[0]}\rPID|1||MRN-SECRET^^^H^MR||PHI-NAME^Jane||19800101`;
    const ack = buildAck(parseHl7(text), text, 'AE', { controlId: 'c', now, error: unknownPatient });
    expect(ack).not.toMatch(/SECRET|PHI-NAME|Jane|19800101/);
  });
});

describe('buildAck for a message that could not be parsed', () => {
  const error: AckError = { code: 'SP_HL7_MALFORMED', hl7Code: '102', segment: 'MSH', sequence: 1, field: 2 };

  it('salvages MSH-3 to MSH-6, MSH-10 and MSH-12 of a header with good encoding characters', () => {
    const raw = 'MSH|^~\\&|App^x|Fac|Rcv|RFac|2024||ADT^A01|CTRL-7|P|2.4\rPID|1\rbad segment';
    const ack = parseHl7(buildAck(null, raw, 'AE', { controlId: 'c', now, error }));
    expect([ack.sendingApplication, ack.sendingFacility, ack.receivingApplication, ack.receivingFacility]).toEqual([
      'Rcv',
      'RFac',
      'App',
      'Fac',
    ]);
    expect([ack.trigger, ack.version, ack.processingId]).toEqual(['A01', '2.4', 'P']);
    expect(ack.segment('MSA')!.get(2)).toBe('CTRL-7');
    expect(ack.segment('MSA')!.get(3)).toBe('SP_HL7_MALFORMED: The HL7 v2 message cannot be parsed');
    expect(ack.segment('ERR')!.get(2, 1)).toBe('MSH');
  });

  it('escapes salvaged values when the encoding characters are unusable', () => {
    const raw = 'MSH|^~|A&B|F|R|RF|2024||ADT^A01|C^TL~X|P|2.5';
    const ackText = buildAck(null, raw, 'AR', { controlId: 'c', now, error });
    const ack = parseHl7(ackText);
    expect(ack.encoding.component).toBe('^');
    expect(ack.receivingApplication).toBe('A&B');
    expect(ack.segment('MSA')!.get(2)).toBe('C^TL~X');
    expect(ack.trigger).toBe('');
    expect(ack.version).toBe('2.5');
  });

  it('answers something parseable for text that is not HL7 at all, with an empty MSA-2', () => {
    for (const raw of ['', 'hello\rworld', 'PID|1||x', '\u0000\u0001', 'MSH']) {
      const ack = parseHl7(buildAck(null, raw, 'AE', { controlId: 'c', now, error: { ...error, segment: undefined } }));
      expect(ack.type).toBe('ACK');
      expect(ack.segment('MSA')!.get(2)).toBe('');
      expect(ack.segment('ERR')!.get(3, 2)).toBe('SP_HL7_MALFORMED');
    }
  });

  it('cuts salvaged values to 199 characters and never copies a line end', () => {
    const raw = `MSH|^~\\&|${'A'.repeat(5000)}|F|R|RF|2024||ADT^A01|${'9'.repeat(300)}\nPID|1|x`;
    const ack = buildAck(null, raw, 'AE', { controlId: 'c', now, error });
    expect(ack.split('\r')).toHaveLength(3);
    expect(parseHl7(ack).receivingApplication).toHaveLength(199);
    expect(parseHl7(ack).segment('MSA')!.get(2)).toHaveLength(199);
  });
});

describe('acknowledgement modes', () => {
  it('is enhanced mode when MSH-15 or MSH-16 is valued', () => {
    expect(isEnhancedMode(siu)).toBe(false);
    expect(isEnhancedMode(parseHl7(readFileSync(join(FIXTURES, 'ORU-R01-01.hl7'), 'utf8')))).toBe(true);
    expect(isEnhancedMode(null)).toBe(false);
  });

  it('follows table 0155: AL always, NE never, ER on error, SU on success', () => {
    expect([ackWanted('AL', true), ackWanted('AL', false)]).toEqual([true, true]);
    expect([ackWanted('NE', true), ackWanted('NE', false)]).toEqual([false, false]);
    expect([ackWanted('ER', true), ackWanted('ER', false)]).toEqual([false, true]);
    expect([ackWanted('SU', true), ackWanted('SU', false)]).toEqual([true, false]);
    expect(ackWanted('', false)).toBe(true);
  });

  it('formats time stamps in UTC with milliseconds and an explicit offset', () => {
    expect(formatTimestamp(now)).toBe('20240506070809.010+0000');
  });
});
