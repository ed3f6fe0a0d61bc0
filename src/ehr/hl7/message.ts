/**
 * HL7 v2 message parsing (versions 2.3 to 2.8): encoding characters from MSH-1/MSH-2, repetitions,
 * components, sub-components, escape sequences, `\r` / `\n` / `\r\n` segment ends, batches.
 *
 * The parser keeps each field's raw (escaped) text and splits it only when a value is asked for, so a
 * message with hundreds of unused fields costs one split per segment. Nothing here logs or puts message
 * content into an error: HL7 messages are PHI, so errors name the segment, its position and the field.
 */
import { DateTime } from 'luxon';

/** The delimiters of one message (HL7 v2 §2.5.4), taken from MSH-1 and MSH-2. */
export interface Hl7Encoding {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

/** The standard encoding characters `|^~\&`, used when building messages from scratch. */
export const DEFAULT_ENCODING: Readonly<Hl7Encoding> = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
});

/**
 * A message that cannot be parsed. The message text names where (segment name, its 1-based position in the
 * message, field number) and what kind of problem, never the content: HL7 messages are PHI.
 */
export class Hl7ParseError extends Error {
  readonly segment?: string;
  /** The segment's index in the message, 1-based. */
  readonly sequence?: number;
  readonly field?: number;
  /** HL7 table 0357 code for the ERR segment: '100' segment sequence, '102' data type, '101' required field. */
  readonly hl7Code: string;
  /** The Sealpost error code of every parse failure. */
  readonly code = 'SP_HL7_MALFORMED';
  constructor(message: string, where: { segment?: string; sequence?: number; field?: number; hl7Code?: string } = {}) {
    super(message);
    this.name = 'Hl7ParseError';
    this.segment = where.segment;
    this.sequence = where.sequence;
    this.field = where.field;
    this.hl7Code = where.hl7Code ?? '102';
  }
}

/**
 * Most repetitions one field may hold; a message with more is refused by {@link parseHl7}. Real feeds carry
 * a handful (PID-3 identifiers, PID-13 contact points); the cap bounds the work any loop over them does.
 */
export const MAX_REPETITIONS = 1000;

/**
 * One segment: its name and its fields' raw (still escaped) text. A field is split into repetitions, and a
 * repetition into components, the first time a value of it is asked for, and the pieces are kept: reading
 * every repetition of a field in a loop costs one split of the field in all, not one per read.
 */
export class Hl7Segment {
  readonly name: string;
  /** Raw field texts: `fields[n]` is field n (for MSH, `fields[1]` is the field separator, `fields[2]` MSH-2). */
  readonly #fields: readonly string[];
  readonly #encoding: Hl7Encoding;
  /** `#repetitions[n]`: field n split on the repetition separator, once asked for. */
  readonly #repetitions: (readonly string[] | undefined)[] = [];
  /** `#components[n][r - 1]`: repetition r of field n split on the component separator, once asked for. */
  readonly #components: ((readonly string[] | undefined)[] | undefined)[] = [];

  /** @internal built by {@link parseHl7}; `fields[0]` is the segment name. */
  constructor(fields: readonly string[], encoding: Hl7Encoding) {
    this.name = fields[0] ?? '';
    this.#fields = fields;
    this.#encoding = encoding;
  }

  /** Number of fields present, counting trailing empty ones the sender wrote. */
  get fieldCount(): number {
    return this.#fields.length - 1;
  }

  /** Field n's raw text as it was on the wire (escaped, delimiters included); '' when absent. */
  raw(field: number): string {
    return this.#fields[field] ?? '';
  }

  /**
   * Field n (1-based as in the standard; for MSH, field 1 is the field separator and 2 the encoding
   * characters), repetition r (1-based), component c, sub-component s; unescaped; '' when absent.
   * Component and sub-component default to 1, so `get(9)` of MSH reads MSH-9.1, as a primitive-typed
   * reader of a composite field would (HL7 v2 §2.A: a receiver ignores components it does not expect).
   */
  get(field: number, component = 1, subcomponent = 1, repetition = 1): string {
    if (this.#isMshDelimiters(field)) {
      return component === 1 && subcomponent === 1 && repetition === 1 ? (this.#fields[field] ?? '') : '';
    }
    const comp = this.#componentsOf(field, repetition)[component - 1] ?? '';
    if (comp === '') return '';
    return unescapeHl7(nth(comp, this.#encoding.subcomponent, subcomponent), this.#encoding);
  }

  /** Number of repetitions of field n (0 when empty). */
  repetitions(field: number): number {
    if (this.#isMshDelimiters(field)) return 1;
    return this.#repetitionsOf(field).length;
  }

  /** Number of components of field n, repetition r (0 when empty). */
  components(field: number, repetition = 1): number {
    return this.#componentsOf(field, repetition).length;
  }

  #isMshDelimiters(field: number): boolean {
    return this.name === 'MSH' && (field === 1 || field === 2);
  }

  /** Field n's repetitions, raw; empty when the field is absent or empty. */
  #repetitionsOf(field: number): readonly string[] {
    if (!Number.isInteger(field) || field < 1) return [];
    let reps = this.#repetitions[field];
    if (reps === undefined) {
      const raw = this.#fields[field];
      reps = raw === undefined || raw === '' ? [] : raw.split(this.#encoding.repetition);
      this.#repetitions[field] = reps;
    }
    return reps;
  }

  /** Repetition r of field n split into components, raw; empty when the repetition is absent or empty. */
  #componentsOf(field: number, repetition: number): readonly string[] {
    const reps = this.#repetitionsOf(field);
    if (!Number.isInteger(repetition) || repetition < 1 || repetition > reps.length) return [];
    let perRep = this.#components[field];
    if (perRep === undefined) {
      perRep = [];
      this.#components[field] = perRep;
    }
    let comps = perRep[repetition - 1];
    if (comps === undefined) {
      const rep = reps[repetition - 1]!;
      comps = rep === '' ? [] : rep.split(this.#encoding.component);
      perRep[repetition - 1] = comps;
    }
    return comps;
  }
}

/** The `n`-th (1-based) piece of `text` split on `sep`, '' when absent. */
function nth(text: string, sep: string, n: number): string {
  if (n < 1) return '';
  let start = 0;
  for (let i = 1; i < n; i++) {
    const next = text.indexOf(sep, start);
    if (next < 0) return '';
    start = next + sep.length;
  }
  const end = text.indexOf(sep, start);
  return end < 0 ? text.slice(start) : text.slice(start, end);
}

/** Whether `text` holds more than `max` pieces separated by `sep` (stops counting at the cap). */
function exceedsPieces(text: string, sep: string, max: number): boolean {
  let pieces = 1;
  for (let i = text.indexOf(sep); i >= 0; i = text.indexOf(sep, i + 1)) {
    if (++pieces > max) return true;
  }
  return false;
}

/** A parsed HL7 v2 message. */
export class Hl7Message {
  readonly segments: readonly Hl7Segment[];
  readonly encoding: Hl7Encoding;
  /** The message with `\r` segment ends, BOM and surrounding blank lines removed. */
  readonly text: string;
  readonly type: string;
  readonly trigger: string;
  readonly controlId: string;
  readonly version: string;
  readonly processingId: string;
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  readonly acceptAckType: string;
  readonly applicationAckType: string;

  /** @internal built by {@link parseHl7}. */
  constructor(segments: readonly Hl7Segment[], encoding: Hl7Encoding, text: string) {
    this.segments = segments;
    this.encoding = encoding;
    this.text = text;
    const msh = segments[0]!;
    this.sendingApplication = msh.get(3);
    this.sendingFacility = msh.get(4);
    this.receivingApplication = msh.get(5);
    this.receivingFacility = msh.get(6);
    this.type = msh.get(9, 1);
    this.trigger = msh.get(9, 2);
    this.controlId = msh.get(10);
    this.processingId = msh.get(11);
    this.version = msh.get(12);
    this.acceptAckType = msh.get(15);
    this.applicationAckType = msh.get(16);
  }

  /** The first segment with this name. */
  segment(name: string): Hl7Segment | undefined {
    return this.segments.find((s) => s.name === name);
  }

  all(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;
const SEGMENT_END = /\r\n|\r|\n/;

/** Strips a UTF-8 byte-order mark, leading whitespace and trailing blank lines. */
function clean(text: string): string {
  // Trailing whitespace-only lines go, but not spaces at the end of the last field: they are its value.
  return (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).replace(/^\s+/, '').replace(/(?:[\r\n][ \t]*)+$/, '');
}

/**
 * Reads the encoding characters of an MSH, FHS or BHS header segment (HL7 v2 §2.14.9.1-2). MSH-2 holds 4
 * characters (component, repetition, escape, sub-component); v2.7+ may add a 5th (truncation), accepted and
 * ignored. All must differ from each other and from the field separator, and be neither letters, digits
 * nor whitespace.
 */
export function readEncoding(header: string, name = header.slice(0, 3), sequence = 1): Hl7Encoding {
  const field = header.charAt(3);
  const where = { segment: name, sequence, hl7Code: '102' };
  if (!isDelimiter(field))
    throw new Hl7ParseError(`${name}-1 (field separator) is missing or invalid`, { ...where, field: 1 });
  const end = header.indexOf(field, 4);
  const chars = end < 0 ? header.slice(4) : header.slice(4, end);
  if (chars.length < 4 || chars.length > 5) {
    throw new Hl7ParseError(`${name}-2 (encoding characters) must hold 4 or 5 characters`, { ...where, field: 2 });
  }
  const all = [field, ...chars];
  if (!all.every(isDelimiter) || new Set(all).size !== all.length) {
    throw new Hl7ParseError(`${name}-2 (encoding characters) are invalid or repeated`, { ...where, field: 2 });
  }
  return { field, component: chars[0]!, repetition: chars[1]!, escape: chars[2]!, subcomponent: chars[3]! };
}

function isDelimiter(c: string | undefined): boolean {
  return c !== undefined && c.length === 1 && !/[A-Za-z0-9\s]/.test(c);
}

/**
 * Parses one HL7 v2 message. Accepts `\r`, `\n` or `\r\n` segment ends (mixed), a BOM, surrounding blank
 * lines; ignores blank lines between segments. Unknown segments (Z-segments included) are kept, never
 * interpreted. Throws {@link Hl7ParseError} when the text is not one message: it must start with an MSH
 * segment with valid encoding characters, MSH-9 and MSH-10 present, every segment name three upper-case
 * letters or digits, no field with more than {@link MAX_REPETITIONS} repetitions, and no second MSH (a
 * batch goes through {@link splitBatch} first).
 */
export function parseHl7(text: string): Hl7Message {
  const body = clean(text);
  if (!body.startsWith('MSH')) {
    throw new Hl7ParseError('The message does not start with an MSH segment', { sequence: 1, hl7Code: '100' });
  }
  const lines = body.split(SEGMENT_END);
  const encoding = readEncoding(lines[0]!, 'MSH', 1);
  const segments: Hl7Segment[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    const sequence = segments.length + 1;
    const fields = line.split(encoding.field);
    const name = fields[0]!;
    if (!SEGMENT_NAME.test(name)) {
      throw new Hl7ParseError(`Segment ${sequence} has an invalid segment name`, { sequence, hl7Code: '100' });
    }
    if (name === 'MSH') {
      if (sequence !== 1) {
        throw new Hl7ParseError(`A second MSH segment at position ${sequence}: one message per frame`, {
          segment: name,
          sequence,
          hl7Code: '100',
        });
      }
      // MSH-1 is the field separator itself, so the split is off by one: re-insert it as field 1.
      fields.splice(1, 0, encoding.field);
    }
    // MSH-1 and MSH-2 are the delimiters themselves, not repeated values.
    for (let field = name === 'MSH' ? 3 : 1; field < fields.length; field++) {
      if (exceedsPieces(fields[field]!, encoding.repetition, MAX_REPETITIONS)) {
        throw new Hl7ParseError(`${name}-${field} has more than ${MAX_REPETITIONS} repetitions`, {
          segment: name,
          sequence,
          field,
          hl7Code: '102',
        });
      }
    }
    segments.push(new Hl7Segment(fields, encoding));
  }
  const msh = segments[0]!;
  for (const [field, what] of [
    [9, 'MSH-9 (message type)'],
    [10, 'MSH-10 (message control id)'],
  ] as const) {
    if (msh.get(field) === '') {
      throw new Hl7ParseError(`${what} is missing`, { segment: 'MSH', sequence: 1, field, hl7Code: '101' });
    }
  }
  const normalized = lines.filter((l) => l.trim() !== '').join('\r');
  return new Hl7Message(segments, encoding, normalized);
}

/** Formatting escapes (HL7 v2 §2.7.6) rendered as plain text: line breaks kept, the rest dropped. */
const FORMATTING: Record<string, string> = {
  H: '',
  N: '',
  '.br': '\n',
  '.sp': '\n',
  '.fi': '',
  '.nf': '',
};

/**
 * Replaces escape sequences (HL7 v2 §2.7): \F\ \S\ \T\ \R\ \E\ with the delimiters, \Xhh..\ with the bytes
 * it encodes (read as UTF-8 when they form valid UTF-8, else as Latin-1), \.br\ and \.sp\ with a line break,
 * \H\ \N\ \.fi\ \.nf\ with nothing. Anything else (\Zxx\, \Cxxyy\, \.in\ …, or an escape character without a
 * closing one) is kept as written, so no content is lost.
 */
export function unescapeHl7(text: string, enc: Hl7Encoding): string {
  const esc = enc.escape;
  if (!text.includes(esc)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf(esc, i);
    if (start < 0) break;
    const end = text.indexOf(esc, start + 1);
    if (end < 0) break;
    out += text.slice(i, start);
    const seq = text.slice(start + 1, end);
    const replaced = unescapeOne(seq, enc);
    if (replaced === null) {
      // Not an escape sequence: keep the escape character literally and look again after it.
      out += esc;
      i = start + 1;
    } else {
      out += replaced;
      i = end + 1;
    }
  }
  return out + text.slice(i);
}

function unescapeOne(seq: string, enc: Hl7Encoding): string | null {
  switch (seq) {
    case 'F':
      return enc.field;
    case 'S':
      return enc.component;
    case 'T':
      return enc.subcomponent;
    case 'R':
      return enc.repetition;
    case 'E':
      return enc.escape;
  }
  if (seq in FORMATTING) return FORMATTING[seq]!;
  if (/^\.sp\s*\d+$/.test(seq)) return '\n'.repeat(Math.min(Number(seq.slice(3).trim()), 100));
  if (/^X(?:[0-9A-Fa-f]{2})+$/.test(seq)) {
    const bytes = Buffer.from(seq.slice(1), 'hex');
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return bytes.toString('latin1');
    }
  }
  return null;
}

/**
 * Escapes text for an HL7 field (HL7 v2 §2.7): the escape character first, then the delimiters, and
 * line ends as \X0D\ / \X0A\ so that copied text can never end a segment.
 */
export function escapeHl7(text: string, enc: Hl7Encoding = DEFAULT_ENCODING): string {
  let out = '';
  for (const ch of text) {
    if (ch === enc.escape) out += `${enc.escape}E${enc.escape}`;
    else if (ch === enc.field) out += `${enc.escape}F${enc.escape}`;
    else if (ch === enc.component) out += `${enc.escape}S${enc.escape}`;
    else if (ch === enc.subcomponent) out += `${enc.escape}T${enc.escape}`;
    else if (ch === enc.repetition) out += `${enc.escape}R${enc.escape}`;
    else if (ch === '\r') out += `${enc.escape}X0D${enc.escape}`;
    else if (ch === '\n') out += `${enc.escape}X0A${enc.escape}`;
    else out += ch;
  }
  return out;
}

const TIMESTAMP =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

/**
 * Parses an HL7 v2 time stamp (DTM / TS.1): `YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-ZZZZ]`; missing parts
 * read as the start of the period (`2024` is 1 January 2024 00:00). With an offset, the offset decides.
 * Without one, the value is a wall time in the IANA `zone`:
 * - in a spring-forward gap (a wall time that never happened) it is moved forward by the length of the gap
 *   (02:30 on a day clocks jump 02:00 → 03:00 reads as 03:30), i.e. read with the offset before the gap;
 * - in a fall-back overlap (a wall time that happened twice) it is the earlier instant (the first 01:30).
 * This is the `compatible` disambiguation of ECMAScript Temporal and RFC 5545 (iCalendar) §3.3.5.
 * Returns null when the value is not a valid time stamp (month 13, 30 February, hour 24, minute 60,
 * offset beyond ±14:00 or with minutes ≥ 60, unknown zone).
 */
export function parseHl7Timestamp(value: string, zone: string): Date | null {
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return null;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const ms = frac === '' ? 0 : Math.round(Number(`0.${frac}`) * 1000);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC maps years 0-99 to 1900-1999; HL7 years are always four digits, so set the year explicitly.
  const wallDate = new Date(wall);
  wallDate.setUTCFullYear(year);
  const wallMs = wallDate.getTime();
  if (sign !== undefined) {
    const offH = Number(oh);
    const offM = Number(om);
    if (offH > 14 || offM > 59 || (offH === 14 && offM > 0)) return null;
    const offset = (offH * 60 + offM) * (sign === '-' ? -1 : 1);
    return new Date(wallMs - offset * 60_000);
  }
  return wallTimeInZone(wallMs, zone);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Offset of `zone` at instant `ms`, in minutes (NaN for an unknown zone). */
function offsetAt(ms: number, zone: string): number {
  const dt = DateTime.fromMillis(ms, { zone });
  return dt.isValid ? dt.offset : NaN;
}

/**
 * The instant whose wall time in `zone` is `wallMs` (a wall time encoded as if it were UTC). Candidates are
 * the offsets in force a day before and after; a candidate holds when the zone really has that offset at the
 * resulting instant. Two hold in an overlap (the earlier instant wins), none in a gap (the offset before
 * the gap is used, which moves the time forward by the gap).
 */
function wallTimeInZone(wallMs: number, zone: string): Date | null {
  const DAY = 86_400_000;
  const before = offsetAt(wallMs - DAY, zone);
  const after = offsetAt(wallMs + DAY, zone);
  if (Number.isNaN(before) || Number.isNaN(after)) return null;
  const candidates = [...new Set([before, after, offsetAt(wallMs, zone)])]
    .map((offset) => wallMs - offset * 60_000)
    .filter((instant) => wallMs - offsetAt(instant, zone) * 60_000 === instant)
    .sort((a, b) => a - b);
  return new Date(candidates.length > 0 ? candidates[0]! : wallMs - before * 60_000);
}

/**
 * Splits a batch file (HL7 v2 §2.10.3: `[FHS] { BHS { MSH … } BTS } [FTS]`) into its messages' texts, the
 * header and trailer segments dropped. Text without FHS/BHS that holds several MSH segments (a file of
 * concatenated messages, as interface engines export them) is split at each MSH. Plain single-message text
 * comes back as `[text]`. Each message keeps its segments in order with `\r` ends; the messages are not
 * parsed here, so one bad message does not hide the others.
 */
export function splitBatch(text: string): string[] {
  const body = clean(text);
  const lines = body.split(SEGMENT_END).filter((l) => l.trim() !== '');
  const isEnvelope = (l: string) => /^(FHS|BHS|BTS|FTS)/.test(l) && (l.length === 3 || !/[A-Z0-9]/.test(l.charAt(3)));
  if (!lines.some(isEnvelope) && lines.filter((l) => l.startsWith('MSH')).length <= 1) return [body];
  const messages: string[] = [];
  let current: string[] | null = null;
  for (const line of lines) {
    if (isEnvelope(line)) {
      if (current) messages.push(current.join('\r'));
      current = null;
    } else if (line.startsWith('MSH')) {
      if (current) messages.push(current.join('\r'));
      current = [line];
    } else if (current) {
      current.push(line);
    } else {
      // Segments before any MSH belong to no message; keep them as one so that parsing reports it.
      current = [line];
    }
  }
  if (current) messages.push(current.join('\r'));
  return messages;
}
