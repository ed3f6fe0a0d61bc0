import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseIdentifier } from '../hl7-apply/patient-mapping.js';
import {
  Hl7ParseError,
  MAX_REPETITIONS,
  escapeHl7,
  parseHl7,
  parseHl7Timestamp,
  splitBatch,
  unescapeHl7,
} from './message.js';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/hl7v2');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

/** The error a parse throws, with its location. */
function parseError(text: string): Hl7ParseError {
  try {
    parseHl7(text);
  } catch (e) {
    if (e instanceof Hl7ParseError) return e;
    throw e;
  }
  throw new Error('parsed without error');
}

const msh = (rest = 'ADT^A01^ADT_A01|C1|P|2.5') => `MSH|^~\\&|App|Fac|Rcv|RFac|20240102030405||${rest}`;

describe('the sample messages', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.hl7'));

  it('are all there (the fixtures directory is read)', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  it.each(files)('%s parses, with \\n segment ends as in the file and with \\r as on the wire', (file) => {
    const text = fixture(file);
    const a = parseHl7(text);
    const b = parseHl7(text.replace(/\r?\n/g, '\r'));
    expect(a.segments.length).toBeGreaterThan(1);
    expect(b.segments.map((s) => s.name)).toEqual(a.segments.map((s) => s.name));
    expect(a.segments[0]!.name).toBe('MSH');
    expect(a.type).toMatch(/^(ADT|SIU|ORU)$/);
    expect(a.trigger).toMatch(/^[ASR]\d\d$/);
    expect(a.controlId).not.toBe('');
    expect(a.version).toMatch(/^2\.[3-8](\.1)?$/);
    expect(a.text.includes('\n')).toBe(false);
  });

  it('SIU^S12 (v2.8): header, scheduling ids, start time, patient identifier', () => {
    const m = parseHl7(fixture('SIU-S12-01.hl7'));
    expect([m.type, m.trigger, m.controlId, m.version, m.processingId]).toEqual(['SIU', 'S12', 'MSG00012', '2.8', 'P']);
    expect([m.sendingApplication, m.sendingFacility, m.receivingApplication, m.receivingFacility]).toEqual([
      'SCHApp',
      'GHHSFacility',
      'EHRApp',
      'GHHRFacility',
    ]);
    const msh = m.segment('MSH')!;
    expect(msh.get(1)).toBe('|');
    expect(msh.get(2)).toBe('^~\\&');
    expect(msh.get(4, 2)).toBe('2.16.840.1.122848.1.30');
    expect(msh.get(9, 3)).toBe('SIU_S12');
    const sch = m.segment('SCH')!;
    expect([sch.get(1), sch.get(2)]).toEqual(['12345', '36996']);
    expect(m.segment('TQ1')!.get(7)).toMatch(/^\d{12}/);
    const pid = m.segment('PID')!;
    expect(pid.repetitions(3)).toBeGreaterThanOrEqual(1);
    expect(pid.get(3, 1)).not.toBe('');
    expect(m.all('AIL').length).toBeGreaterThanOrEqual(1);
  });

  it('ADT^A40 with two PID/MRG pairs: both are reachable with all()', () => {
    const m = parseHl7(fixture('ADT-A40-02.hl7'));
    expect([m.type, m.trigger, m.controlId]).toEqual(['ADT', 'A40', '8919-40']);
    expect(m.all('PID')).toHaveLength(2);
    expect(m.all('MRG')).toHaveLength(2);
    expect(m.segment('PID')!.get(3, 4)).toBe('BCBS');
    expect(m.segment('PID')!.get(3, 5)).toBe('MR');
    expect(m.segment('MRG')!.get(1)).not.toBe('');
  });

  it('ADT^A04 (v2.3) with a BOM and several PID-3 repetitions of different types', () => {
    const text = fixture('ADT04-28.hl7');
    expect(text.charCodeAt(0)).toBe(0xfeff);
    const m = parseHl7(text);
    expect([m.type, m.trigger, m.version, m.processingId]).toEqual(['ADT', 'A04', '2.3', 'T']);
    const pid = m.segment('PID')!;
    expect(pid.repetitions(3)).toBe(3);
    expect([pid.get(3, 1, 1, 1), pid.get(3, 4, 1, 1)]).toEqual(['0000000001', 'MR']);
    expect(pid.get(3, 4, 1, 2)).toBe('EHRID');
    expect(pid.get(3, 4, 1, 3)).toBe('NIST');
    expect(pid.get(3, 1, 1, 4)).toBe('');
    expect(pid.get(5, 1)).toBe('Bixby');
    expect(pid.get(5, 2)).toBe('Timothy');
  });

  it('ORU^R01: several OBR groups with their filler numbers and result status', () => {
    const m = parseHl7(fixture('LAB-ORU-1.hl7'));
    expect([m.type, m.trigger, m.controlId, m.version]).toEqual(['ORU', 'R01', '182', '2.5']);
    const obrs = m.all('OBR');
    expect(obrs).toHaveLength(2);
    expect(obrs[0]!.get(3)).toBe('82503246');
    expect([obrs[0]!.get(25), obrs[1]!.get(25)]).toEqual(['F', '']);
    const g = parseHl7(fixture('ORU-R01-RMGEAD.hl7')).segment('OBR')!;
    expect([g.get(3, 1), g.get(3, 2), g.get(25)]).toEqual(['1045813', 'GHH LAB', 'F']);
    const r = parseHl7(fixture('ORU-R01-01.hl7'));
    expect(r.controlId).toBe('2.16.840.1.114222.4.3.3.5.1.2-20120314235954.325');
    expect([r.version, r.acceptAckType, r.applicationAckType]).toEqual(['2.5.1', 'AL', 'NE']);
  });
});

describe('fields, components, repetitions', () => {
  const m = parseHl7(
    [
      msh(),
      'PID|1||111^^^HOSP&1.2.3&ISO^MR~222^^^SSA^SS||Doe^Jane^^^Dr.||19800101||||||a@b.example~(555)123||||||||',
      'ZZZ|custom^thing|',
      'NTE|1||',
    ].join('\r'),
  );
  const pid = m.segment('PID')!;

  it('reads repetitions, components and sub-components, 1-based as in the standard', () => {
    expect(pid.get(3)).toBe('111');
    expect(pid.get(3, 4)).toBe('HOSP');
    expect(pid.get(3, 4, 2)).toBe('1.2.3');
    expect(pid.get(3, 4, 3)).toBe('ISO');
    expect(pid.get(3, 5)).toBe('MR');
    expect(pid.get(3, 1, 1, 2)).toBe('222');
    expect(pid.get(3, 4, 1, 2)).toBe('SSA');
    expect(pid.get(3, 4, 2, 2)).toBe('');
    expect(pid.repetitions(3)).toBe(2);
    expect(pid.components(3)).toBe(5);
    expect(pid.get(13, 1, 1, 2)).toBe('(555)123');
    expect(pid.get(5, 5)).toBe('Dr.');
  });

  it('tells empty from absent only through raw/fieldCount; get() answers "" for both', () => {
    expect(pid.get(2)).toBe('');
    expect(pid.get(2, 3)).toBe('');
    expect(pid.get(99)).toBe('');
    expect(pid.get(3, 9)).toBe('');
    expect(pid.get(3, 1, 1, 9)).toBe('');
    expect(pid.repetitions(2)).toBe(0);
    expect(pid.repetitions(99)).toBe(0);
    expect(pid.fieldCount).toBe(21);
    expect(m.segment('NTE')!.fieldCount).toBe(3);
    expect(pid.get(0)).toBe('');
    expect(pid.get(3, 0)).toBe('');
  });

  it('keeps unknown Z-segments as segments without interpreting them', () => {
    expect(m.segment('ZZZ')!.get(1, 2)).toBe('thing');
    expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'ZZZ', 'NTE']);
  });

  it('reads MSH-1 as the field separator and MSH-2 as the encoding characters', () => {
    const h = m.segment('MSH')!;
    expect(h.get(1)).toBe('|');
    expect(h.get(2)).toBe('^~\\&');
    expect(h.get(3)).toBe('App');
    expect(h.get(9, 2)).toBe('A01');
    expect(h.repetitions(2)).toBe(1);
    expect(m.acceptAckType).toBe('');
  });

  it('answers undefined for a segment that is not there', () => {
    expect(m.segment('OBR')).toBeUndefined();
    expect(m.all('OBR')).toEqual([]);
  });
});

describe('encoding characters', () => {
  it('uses custom delimiters from MSH-1 and MSH-2', () => {
    const m = parseHl7('MSH*:!%$*App*Fac*R*RF*2024**SIU:S12*X9*P*2.5\rPID*1**7:::H:MR!8:::H:PI**A%S%B:C$D');
    expect(m.encoding).toEqual({ field: '*', component: ':', repetition: '!', escape: '%', subcomponent: '$' });
    expect([m.type, m.trigger, m.controlId]).toEqual(['SIU', 'S12', 'X9']);
    const pid = m.segment('PID')!;
    expect(pid.get(3, 1, 1, 2)).toBe('8');
    expect(pid.get(5, 1)).toBe('A:B');
    expect(pid.get(5, 2, 2)).toBe('D');
  });

  it('accepts a fifth (truncation) character in v2.7+ and keeps it in MSH-2', () => {
    const m = parseHl7('MSH|^~\\&#|A|F|R|RF|2024||ADT^A08|C2|P|2.7\rPID|1||x#y');
    expect(m.segment('MSH')!.get(2)).toBe('^~\\&#');
    expect(m.segment('PID')!.get(3)).toBe('x#y');
    expect(m.encoding.subcomponent).toBe('&');
  });

  it.each([
    ['three characters', 'MSH|^~\\|A|F|R|RF|2024||ADT^A01|C|P|2.5'],
    ['six characters', 'MSH|^~\\&#!|A|F|R|RF|2024||ADT^A01|C|P|2.5'],
    ['a repeated character', 'MSH|^~^&|A|F|R|RF|2024||ADT^A01|C|P|2.5'],
    ['a letter', 'MSH|^~\\A|A|F|R|RF|2024||ADT^A01|C|P|2.5'],
    ['the field separator again', 'MSH|^~\\&|A|F|R|RF|2024||ADT^A01|C|P|2.5'.replace('^~\\&', '^~|&')],
  ])('refuses MSH-2 with %s (HL7 102 at MSH-2)', (_what, text) => {
    const e = parseError(text);
    expect([e.segment, e.sequence, e.field, e.hl7Code, e.code]).toEqual(['MSH', 1, 2, '102', 'SP_HL7_MALFORMED']);
  });

  it('refuses a letter, digit or space as field separator', () => {
    for (const text of ['MSHX^~\\&XA', 'MSH1^~\\&1A', 'MSH ^~\\& A', 'MSH']) {
      expect(parseError(text).field).toBe(1);
    }
  });
});

describe('escape sequences', () => {
  const enc = parseHl7(msh()).encoding;

  it('turns \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ into the delimiters', () => {
    expect(unescapeHl7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', enc)).toBe('a|b^c&d~e\\f');
  });

  it('decodes \\Xhh\\ as UTF-8 (else Latin-1), including line ends', () => {
    expect(unescapeHl7('line1\\X0D\\line2\\X0A\\', enc)).toBe('line1\rline2\n');
    expect(unescapeHl7('caf\\XC3A9\\', enc)).toBe('café');
    expect(unescapeHl7('caf\\XE9\\', enc)).toBe('café');
  });

  it('renders formatting escapes as text and keeps the unknown ones as written', () => {
    expect(unescapeHl7('a\\.br\\b', enc)).toBe('a\nb');
    expect(unescapeHl7('\\H\\bold\\N\\', enc)).toBe('bold');
    expect(unescapeHl7('x\\.sp2\\y', enc)).toBe('x\n\ny');
    expect(unescapeHl7('\\Zcustom\\ \\C2842\\ \\.in+4\\', enc)).toBe('\\Zcustom\\ \\C2842\\ \\.in+4\\');
  });

  it('keeps an escape character that starts no sequence', () => {
    expect(unescapeHl7('C:\\temp', enc)).toBe('C:\\temp');
    expect(unescapeHl7('a\\b\\S\\', enc)).toBe('a\\b^');
    expect(unescapeHl7('\\', enc)).toBe('\\');
  });

  it('splits on delimiters before unescaping, so escaped delimiters stay inside their component', () => {
    const m = parseHl7(`${msh()}\rNTE|1||O\\S\\Brien^x\\T\\y&z\\R\\w~second\\F\\part`);
    const nte = m.segment('NTE')!;
    expect(nte.get(3, 1)).toBe('O^Brien');
    expect(nte.get(3, 2, 1)).toBe('x&y');
    expect(nte.get(3, 2, 2)).toBe('z~w');
    expect(nte.get(3, 1, 1, 2)).toBe('second|part');
    expect(nte.repetitions(3)).toBe(2);
  });

  it('uses the message escape character, not the default one', () => {
    const m = parseHl7('MSH|^~#&|A|F|R|RF|2024||ADT^A01|C|P|2.5\rNTE|1||a#S#b\\S\\c#X41#');
    expect(m.segment('NTE')!.get(3)).toBe('a^b\\S\\cA');
  });

  it('escapeHl7 is the inverse of unescapeHl7, and its output holds no delimiter or line end', () => {
    const text = 'a|b^c&d~e\\f\rg\nh é';
    const escaped = escapeHl7(text, enc);
    expect(escaped).not.toMatch(/[|^&~\r\n]/);
    expect(unescapeHl7(escaped, enc)).toBe(text);
  });
});

describe('segment ends, whitespace and text', () => {
  it('accepts \\r, \\n and \\r\\n segment ends mixed in one message, and blank lines', () => {
    const m = parseHl7(`${msh()}\r\nEVN|A01\n\nPID|1||9\r\r\nPV1|1\r`);
    expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1']);
    expect(m.text).toBe(`${msh()}\rEVN|A01\rPID|1||9\rPV1|1`);
  });

  it('strips a BOM and leading/trailing whitespace and blank lines', () => {
    const m = parseHl7(`\uFEFF\n\n  ${msh()}\rPID|1\r\n\n  \n`);
    expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'PID']);
    expect(m.controlId).toBe('C1');
  });

  it('keeps spaces at the end of the last field (they are part of its value)', () => {
    const m = parseHl7(`${msh()}\rNTE|1||text  \r\n \n`);
    expect(m.segment('NTE')!.get(3)).toBe('text  ');
  });

  it('keeps UTF-8 text (names in any script) intact', () => {
    const m = parseHl7(`${msh()}\rPID|1||1^^^H^MR||Müller^Zoë~田中^太郎||`);
    const pid = m.segment('PID')!;
    expect(pid.get(5, 1)).toBe('Müller');
    expect(pid.get(5, 2)).toBe('Zoë');
    expect(pid.get(5, 1, 1, 2)).toBe('田中');
  });

  it('keeps trailing empty fields, components and repetitions as empty', () => {
    const m = parseHl7(`${msh()}\rPID|1||1^^^^~||||||`);
    const pid = m.segment('PID')!;
    expect(pid.repetitions(3)).toBe(2);
    expect(pid.get(3, 5)).toBe('');
    expect(pid.get(3, 1, 1, 2)).toBe('');
    expect(pid.fieldCount).toBe(9);
  });
});

describe('messages that are not messages', () => {
  it('refuses text that does not start with MSH (HL7 100), naming no content', () => {
    for (const text of ['PID|1||secret-mrn', '', '   ', 'msh|^~\\&|A', 'FHS|^~\\&|A\rMSH|^~\\&|A']) {
      const e = parseError(text);
      expect(e.hl7Code).toBe('100');
      expect(e.sequence).toBe(1);
      expect(e.message).not.toContain('secret');
    }
  });

  it('refuses a truncated MSH without MSH-9 or MSH-10 (HL7 101)', () => {
    expect(parseError('MSH|^~\\&|A|F')).toMatchObject({ segment: 'MSH', field: 9, hl7Code: '101' });
    expect(parseError('MSH|^~\\&|A|F|R|RF|2024||ADT^A01')).toMatchObject({ segment: 'MSH', field: 10, hl7Code: '101' });
    expect(parseError('MSH|^~\\&')).toMatchObject({ field: 9 });
  });

  it('refuses a bad segment name with its position, never its text', () => {
    const e = parseError(`${msh()}\rPID|1\rSecretName Smith|x`);
    expect([e.segment, e.sequence, e.hl7Code]).toEqual([undefined, 3, '100']);
    expect(e.message).not.toMatch(/Secret|Smith/);
    expect(parseError(`${msh()}\rpid|1`).sequence).toBe(2);
    expect(parseError(`${msh()}\rPI|1`).sequence).toBe(2);
  });

  it('refuses a second MSH in one message (a batch must be split first)', () => {
    const e = parseError(`${msh()}\rPID|1\r${msh()}`);
    expect([e.segment, e.sequence, e.hl7Code]).toEqual(['MSH', 3, '100']);
  });

  it('never puts field contents into the error message', () => {
    const planted = 'PHI-MARKER-Jane-Doe';
    const texts = [
      `MSH|^~\\&|${planted}`,
      `MSH|^~${planted}`,
      `${planted}|MSH`,
      `${msh()}\r${planted}|1`,
      `MSH|^~\\&|${planted}|F|R|RF|2024||ADT^A01`,
    ];
    for (const t of texts) expect(parseError(t).message).not.toContain('PHI-MARKER');
  });
});

describe('batches', () => {
  const a = `${msh('ADT^A01|B1|P|2.5')}\rPID|1||1`;
  const b = `${msh('ADT^A08|B2|P|2.5')}\rPID|1||2\rPV1|1`;

  it('splits FHS/BHS/BTS/FTS envelopes into their messages', () => {
    const file = ['FHS|^~\\&|A|F', 'BHS|^~\\&|A|F', a, b, 'BTS|2', 'FTS|1'].join('\n');
    const parts = splitBatch(file);
    expect(parts).toEqual([a, b]);
    expect(parts.map((p) => parseHl7(p).controlId)).toEqual(['B1', 'B2']);
  });

  it('splits a batch with BHS only, several batches in one file and \\r\\n ends', () => {
    expect(splitBatch(['BHS|^~\\&', a, 'BTS|1'].join('\r\n'))).toEqual([a]);
    expect(splitBatch(['FHS|^~\\&', 'BHS|^~\\&', a, 'BTS|1', 'BHS|^~\\&', b, 'BTS|1', 'FTS|2'].join('\r'))).toEqual([
      a,
      b,
    ]);
  });

  it('splits concatenated messages without an envelope, and leaves one message as it is', () => {
    expect(splitBatch(`${a}\n${b}\n`)).toEqual([a, b]);
    expect(splitBatch(a)).toEqual([a]);
    expect(splitBatch(`\uFEFF${a}\r\n`)).toEqual([a]);
  });

  it('returns a bad message of a batch as its own text, so the others still parse', () => {
    const bad = 'MSH|^~|broken';
    const parts = splitBatch(['BHS|^~\\&', a, bad, 'NTE|1', b, 'BTS|3'].join('\r'));
    expect(parts).toEqual([a, `${bad}\rNTE|1`, b]);
    expect(() => parseHl7(parts[1]!)).toThrow(Hl7ParseError);
    expect(parseHl7(parts[2]!).controlId).toBe('B2');
  });

  it('keeps segments before the first MSH as a part of their own, which does not parse', () => {
    const parts = splitBatch(['BHS|^~\\&', 'PID|1', a, 'BTS|2'].join('\r'));
    expect(parts).toEqual(['PID|1', a]);
    expect(() => parseHl7(parts[0]!)).toThrow(Hl7ParseError);
  });

  it('returns nothing for an empty batch', () => {
    expect(splitBatch('FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|1')).toEqual([]);
  });
});

describe('parseHl7Timestamp', () => {
  const iso = (v: string, zone = 'UTC') => parseHl7Timestamp(v, zone)?.toISOString() ?? null;

  it('reads every precision, missing parts as the start of the period', () => {
    expect(iso('2024')).toBe('2024-01-01T00:00:00.000Z');
    expect(iso('202403')).toBe('2024-03-01T00:00:00.000Z');
    expect(iso('20240315')).toBe('2024-03-15T00:00:00.000Z');
    expect(iso('2024031514')).toBe('2024-03-15T14:00:00.000Z');
    expect(iso('202403151430')).toBe('2024-03-15T14:30:00.000Z');
    expect(iso('20240315143059')).toBe('2024-03-15T14:30:59.000Z');
    expect(iso('20240315143059.1')).toBe('2024-03-15T14:30:59.100Z');
    expect(iso('20240315143059.12')).toBe('2024-03-15T14:30:59.120Z');
    expect(iso('20240315143059.123')).toBe('2024-03-15T14:30:59.123Z');
    expect(iso('20240315143059.1234')).toBe('2024-03-15T14:30:59.123Z');
  });

  it('applies an explicit offset at any precision, whatever the zone', () => {
    expect(iso('198908181126+0215', 'America/New_York')).toBe('1989-08-18T09:11:00.000Z');
    expect(iso('20240315-0500', 'Asia/Tokyo')).toBe('2024-03-15T05:00:00.000Z');
    expect(iso('20240315143059.5+0000', 'Europe/Paris')).toBe('2024-03-15T14:30:59.500Z');
    expect(iso('2024031514-0930')).toBe('2024-03-15T23:30:00.000Z');
    expect(iso('20240101000000+1400')).toBe('2023-12-31T10:00:00.000Z');
  });

  it('reads a time stamp without offset as wall time in the zone', () => {
    expect(iso('202407011200', 'Europe/Paris')).toBe('2024-07-01T10:00:00.000Z');
    expect(iso('202401011200', 'Europe/Paris')).toBe('2024-01-01T11:00:00.000Z');
    expect(iso('20240315', 'America/New_York')).toBe('2024-03-15T04:00:00.000Z');
  });

  it('moves a wall time in a spring-forward gap forward by the gap (02:30 → 03:30)', () => {
    // New York, 10 March 2024: 02:00 EST jumps to 03:00 EDT.
    expect(iso('202403100230', 'America/New_York')).toBe('2024-03-10T07:30:00.000Z');
    expect(iso('202403100200', 'America/New_York')).toBe('2024-03-10T07:00:00.000Z');
    expect(iso('202403100300', 'America/New_York')).toBe('2024-03-10T07:00:00.000Z');
    // Paris, 31 March 2024: 02:00 CET jumps to 03:00 CEST.
    expect(iso('202403310215', 'Europe/Paris')).toBe('2024-03-31T01:15:00.000Z');
  });

  it('takes the earlier instant for a wall time in a fall-back overlap (the first 01:30)', () => {
    // New York, 3 November 2024: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    expect(iso('202411030130', 'America/New_York')).toBe('2024-11-03T05:30:00.000Z');
    expect(iso('202411030059', 'America/New_York')).toBe('2024-11-03T04:59:00.000Z');
    expect(iso('202411030200', 'America/New_York')).toBe('2024-11-03T07:00:00.000Z');
    // Lord Howe Island falls back by 30 minutes.
    expect(iso('202404070145', 'Australia/Lord_Howe')).toBe('2024-04-06T14:45:00.000Z');
  });

  it.each([
    ['month 13', '20241301'],
    ['month 00', '20240001'],
    ['30 February', '20240230'],
    ['29 February of a common year', '20230229'],
    ['31 April', '20240431'],
    ['day 00', '20240100'],
    ['hour 24', '2024010124'],
    ['minute 60', '202401011260'],
    ['second 60', '20240101125960'],
    ['an odd number of digits', '20290801070'],
    ['a fraction without seconds', '202401011200.5'],
    ['five fraction digits', '20240101120000.12345'],
    ['offset minutes 60', '20240101+0160'],
    ['offset beyond 14 hours', '20240101+1500'],
    ['a two-digit year', '24'],
    ['letters', '2024O101'],
    ['ISO 8601 separators', '2024-01-01T00:00:00Z'],
    ['empty', ''],
  ])('answers null for %s', (_what, value) => {
    expect(parseHl7Timestamp(value, 'UTC')).toBeNull();
  });

  it('accepts 29 February of a leap year and answers null for an unknown zone', () => {
    expect(iso('20240229')).toBe('2024-02-29T00:00:00.000Z');
    expect(iso('20000229')).toBe('2000-02-29T00:00:00.000Z');
    expect(iso('19000229')).toBeNull();
    expect(parseHl7Timestamp('20240101', 'Not/AZone')).toBeNull();
    expect(parseHl7Timestamp('20240101+0100', 'Not/AZone')?.toISOString()).toBe('2023-12-31T23:00:00.000Z');
  });
});

describe('repetition cost and cap', () => {
  /** PID-3 with `n` repetitions `ID<r>^^^AUTH<r>&urn:oid:1.2.<r>&ISO^MR`. */
  const pidWith = (n: number) =>
    `${msh()}\rPID|1||${Array.from({ length: n }, (_, i) => `ID${i + 1}^^^AUTH${i + 1}&urn:oid:1.2.${i + 1}&ISO^MR`).join('~')}\r`;

  /** Calls of String.prototype.indexOf and split made by `fn` (the parser's only scanning primitives). */
  function scans(fn: () => void): number {
    const proto = String.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const original = { indexOf: proto.indexOf!, split: proto.split! };
    let calls = 0;
    for (const name of ['indexOf', 'split'] as const) {
      const f = original[name];
      proto[name] = function (this: string, ...a: unknown[]) {
        calls++;
        return f.apply(this, a);
      };
    }
    try {
      fn();
    } finally {
      proto.indexOf = original.indexOf;
      proto.split = original.split;
    }
    return calls;
  }

  it(`parses a field of ${MAX_REPETITIONS} repetitions and reads each one in a constant number of scans`, () => {
    const pid = parseHl7(pidWith(MAX_REPETITIONS)).segment('PID')!;
    const read: string[] = [];
    const calls = scans(() => {
      for (let r = 1; r <= pid.repetitions(3); r++) {
        read.push(`${pid.get(3, 1, 1, r)}|${pid.get(3, 4, 1, r)}|${pid.get(3, 4, 2, r)}|${pid.get(3, 5, 1, r)}`);
      }
    });
    expect(read).toHaveLength(MAX_REPETITIONS);
    expect(read[0]).toBe('ID1|AUTH1|urn:oid:1.2.1|MR');
    expect(read[MAX_REPETITIONS - 1]).toBe(
      `ID${MAX_REPETITIONS}|AUTH${MAX_REPETITIONS}|urn:oid:1.2.${MAX_REPETITIONS}|MR`,
    );
    // Rescanning the field from its start for every repetition would be ~N²/2 = 500,000 scans per get.
    expect(calls).toBeLessThan(20 * MAX_REPETITIONS);
  });

  it('keeps the patient mapping loop over PID-3 linear', () => {
    const pid = parseHl7(pidWith(MAX_REPETITIONS)).segment('PID')!;
    const sender = {
      app: 'A',
      facility: 'F',
      patientIdAuthority: `AUTH${MAX_REPETITIONS}`,
      phoneRegion: 'US',
      timeZone: 'UTC',
    };
    let chosen: unknown;
    const calls = scans(() => {
      chosen = chooseIdentifier(pid, 3, sender as Parameters<typeof chooseIdentifier>[2]);
    });
    expect(chosen).toEqual({ system: `AUTH${MAX_REPETITIONS}`, value: `ID${MAX_REPETITIONS}` });
    expect(calls).toBeLessThan(20 * MAX_REPETITIONS);
  });

  it(`refuses a message with a field of more than ${MAX_REPETITIONS} repetitions (102, SP_HL7_MALFORMED)`, () => {
    const e = parseError(pidWith(MAX_REPETITIONS + 1));
    expect(e).toMatchObject({ code: 'SP_HL7_MALFORMED', hl7Code: '102', segment: 'PID', sequence: 2, field: 3 });
    expect(e.message).not.toContain('ID1');
    // Empty repetitions count too (PID-13 of separators only).
    expect(parseError(`${msh()}\rPID|1||X||||||||||${'~'.repeat(MAX_REPETITIONS)}\r`)).toMatchObject({
      segment: 'PID',
      field: 13,
      hl7Code: '102',
    });
    expect(
      parseHl7(`${msh()}\rPID|1||X||||||||||${'~'.repeat(MAX_REPETITIONS - 1)}\r`)
        .segment('PID')!
        .repetitions(13),
    ).toBe(MAX_REPETITIONS);
  });

  it('does not count MSH-2 (the encoding characters) as repetitions, and caches without changing values', () => {
    const m = parseHl7(`${msh()}\rPID|1||A~B^^^X~~C\r`);
    expect(m.segments[0]!.get(2)).toBe('^~\\&');
    const pid = m.segment('PID')!;
    expect([1, 2, 3, 4, 5].map((r) => pid.get(3, 1, 1, r))).toEqual(['A', 'B', '', 'C', '']);
    expect([1, 2, 3, 4].map((r) => pid.components(3, r))).toEqual([1, 4, 0, 1]);
    expect(pid.get(3, 4, 1, 2)).toBe('X');
    expect(pid.get(3, 1, 1, 0)).toBe('');
    expect(pid.repetitions(3)).toBe(4);
    expect(pid.repetitions(99)).toBe(0);
  });
});
