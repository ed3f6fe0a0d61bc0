/**
 * HL7 v2 acknowledgements (HL7 v2 §2.9): original mode (MSA-1 AA/AE/AR) and enhanced mode (CA/CE/CR for the
 * accept acknowledgement; AA/AE/AR for the application acknowledgement).
 *
 * An ACK is read by the sender's interface engine and often logged there, so it carries no content of the
 * message: the header fields that route it (MSH-3 to MSH-6, MSH-11, MSH-12), the control id it answers, and
 * where and why it failed (segment, position, field, HL7 table 0357 code, Sealpost code and title).
 */
import { ERROR_CODES } from '../../core/errors.js';
import { DEFAULT_ENCODING, escapeHl7, readEncoding, type Hl7Encoding, type Hl7Message } from './message.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

export interface AckError {
  /** The Sealpost error code (`SP_*`, docs/errors.md). */
  code: string;
  /** HL7 table 0357, e.g. '100' segment sequence, '101' required field missing, '102' data type, '103' table
   *  value not found, '200' unsupported message type, '201' unsupported event, '203' unsupported version,
   *  '204' unknown key identifier, '205' duplicate key, '207' application internal error. */
  hl7Code: string;
  segment?: string;
  /** The segment's index in the message, 1-based (rendered in ERR-2 as the occurrence of that segment). */
  sequence?: number;
  field?: number;
  severity?: 'E' | 'W';
}

/** HL7 table 0357 texts for the codes Sealpost uses (ERR-3.2 and MSA-6.2 in pre-2.5 messages). */
const TABLE_0357: Record<string, string> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '104': 'Value too long',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

/** Longest text salvaged from an unparsable header (MSH-10 is at most 199 characters since v2.5). */
const SALVAGE_MAX = 199;
/** Longest HD (MSH-3 to MSH-6) copied into an ACK. */
const HD_MAX = 227;

/** Raw field text cut to `max` characters, never inside an escape sequence. */
function bounded(raw: string, max: number, escape: string): string {
  if (raw.length <= max) return raw;
  const cut = raw.slice(0, max);
  const open = escape ? cut.split(escape).length - 1 : 0;
  return open % 2 === 1 ? cut.slice(0, cut.lastIndexOf(escape)) : cut;
}

/** Whether the message asks for enhanced-mode acknowledgements (HL7 v2 §2.9.3: MSH-15 or MSH-16 valued). */
export function isEnhancedMode(msg: Hl7Message | null): boolean {
  return msg !== null && (msg.acceptAckType !== '' || msg.applicationAckType !== '');
}

/**
 * Whether an acknowledgement of this kind is wanted under the condition in MSH-15 (accept) or MSH-16
 * (application), HL7 table 0155: AL always, NE never, ER only on error, SU only on success; empty (original
 * mode) always.
 */
export function ackWanted(condition: string, success: boolean): boolean {
  switch (condition) {
    case 'NE':
      return false;
    case 'ER':
      return !success;
    case 'SU':
      return success;
    default:
      return true;
  }
}

/** What the ACK copies of the message it answers, each already escaped for `encoding`. */
interface Header {
  encoding: Hl7Encoding;
  encodingChars: string;
  sendingApp: string;
  sendingFacility: string;
  receivingApp: string;
  receivingFacility: string;
  trigger: string;
  controlId: string;
  processingId: string;
  version: string;
  versionId: string;
}

/**
 * An ACK for `msg` (sender/receiver swapped, MSA-1 code, MSA-2 = msg's MSH-10, ERR when `error`); when the
 * message could not be parsed, `msg` is null and what can be salvaged from the raw MSH is used.
 *
 * The ACK keeps the message's encoding characters and version. MSH-3 to MSH-6, MSH-11 and MSH-12 are copied
 * as written (already escaped for those encoding characters, and a field can hold no segment end); salvaged
 * values of an unparsable message are escaped as plain text for the standard encoding characters. For
 * v2.3 and v2.4 messages, MSA-3 names the Sealpost code and MSA-6 and ERR-1 carry the error in the
 * pre-2.5 form, beside the 2.5+ ERR-2/3/4 (receivers ignore fields they do not know).
 */
export function buildAck(
  msg: Hl7Message | null,
  raw: string,
  code: AckCode,
  opts: { controlId: string; now: Date; error?: AckError; messageType?: 'ACK' },
): string {
  const h = msg ? headerOf(msg) : salvage(raw);
  const enc = h.encoding;
  const f = enc.field;
  const esc = (s: string) => escapeHl7(s, enc);
  const pre25 = /^2\.[0-4](\.|$)/.test(h.versionId);
  const type = opts.messageType ?? 'ACK';
  const c = enc.component;
  // MSH-9: v2.3 has type^trigger; v2.3.1 and later add the message structure (ACK).
  const msgType =
    h.trigger === '' ? [type] : /^2\.[0-3]$/.test(h.versionId) ? [type, h.trigger] : [type, h.trigger, 'ACK'];
  const msh = [
    'MSH',
    h.encodingChars,
    h.receivingApp,
    h.receivingFacility,
    h.sendingApp,
    h.sendingFacility,
    formatTimestamp(opts.now),
    '',
    msgType.join(c),
    esc(opts.controlId),
    h.processingId,
    h.version,
  ].join(f);
  const error = opts.error;
  const title = error ? titleOf(error.code) : '';
  const msa = ['MSA', code, h.controlId];
  if (error && pre25) {
    // MSA-3 text message, MSA-4/5 unused, MSA-6 error condition (CE): table 0357 code^text^HL70357.
    msa.push(
      esc(`${error.code}: ${title}`),
      '',
      '',
      [error.hl7Code, TABLE_0357[error.hl7Code] ?? '', 'HL70357'].map(esc).join(c),
    );
  }
  const segments = [msh, msa.join(f)];
  if (error) {
    const sub = enc.subcomponent;
    const where = {
      segment: error.segment ?? '',
      occurrence:
        error.segment && error.sequence !== undefined ? occurrence(msg, error.segment, error.sequence) : undefined,
      field: error.field,
    };
    const location = [esc(where.segment), where.occurrence?.toString() ?? '', where.field?.toString() ?? ''];
    const condition = [error.hl7Code, error.code, 'HL70357'].map(esc);
    // ERR-1 (v2.3/2.4, ELD): segment^sequence^field^code&text&HL70357. ERR-2 (ERL), ERR-3 (CWE), ERR-4
    // severity and ERR-8 user message exist from v2.5.
    const err1 = pre25 ? [...location, condition.join(sub)].join(c) : '';
    segments.push(
      ['ERR', err1, trimEnd(location).join(c), condition.join(c), error.severity ?? 'E', '', '', '', esc(title)].join(
        f,
      ),
    );
  }
  return segments.join('\r');
}

function trimEnd(parts: string[]): string[] {
  const out = [...parts];
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

function titleOf(code: string): string {
  return (ERROR_CODES as Record<string, { title: string } | undefined>)[code]?.title ?? '';
}

/** ERL.2 is the occurrence of the segment (first, second PID…), not its index in the message. */
function occurrence(msg: Hl7Message | null, segment: string, sequence: number): number {
  if (!msg) return sequence;
  const at = msg.segments[sequence - 1];
  if (!at || at.name !== segment) return sequence;
  return msg.segments.slice(0, sequence).filter((s) => s.name === segment).length;
}

function headerOf(msg: Hl7Message): Header {
  const msh = msg.segments[0]!;
  return {
    encoding: msg.encoding,
    encodingChars: msh.get(2),
    sendingApp: bounded(msh.raw(3), HD_MAX, msg.encoding.escape),
    sendingFacility: bounded(msh.raw(4), HD_MAX, msg.encoding.escape),
    receivingApp: bounded(msh.raw(5), HD_MAX, msg.encoding.escape),
    receivingFacility: bounded(msh.raw(6), HD_MAX, msg.encoding.escape),
    trigger: escapeHl7(msg.trigger, msg.encoding),
    controlId: bounded(msh.raw(10), SALVAGE_MAX, msg.encoding.escape),
    processingId: msh.raw(11),
    version: msh.raw(12),
    versionId: msg.version,
  };
}

/**
 * The header of a message that did not parse: if its first line is an MSH with usable encoding
 * characters, its fields are read with them; otherwise split on the character after "MSH" when that is
 * a plausible separator. Every value is treated as plain text, cut to {@link SALVAGE_MAX} characters and
 * escaped for the standard encoding characters, so nothing the sender wrote can break the ACK's structure.
 */
function salvage(raw: string): Header {
  const text = (raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw).trimStart();
  const line = text.split(/\r\n|\r|\n/, 1)[0] ?? '';
  let fields: string[] = [];
  let theirs: Hl7Encoding | null = null;
  if (line.startsWith('MSH')) {
    try {
      theirs = readEncoding(line);
    } catch {
      theirs = null;
    }
    const sep = line.charAt(3);
    if (sep !== '' && !/[A-Za-z0-9\s]/.test(sep)) {
      fields = line.split(sep);
      fields.splice(1, 0, sep);
    }
  }
  const enc = DEFAULT_ENCODING;
  const value = (n: number, component?: number) => {
    let v = fields[n] ?? '';
    if (theirs && component !== undefined) v = v.split(theirs.component)[component - 1] ?? '';
    else if (theirs) v = v.split(theirs.component)[0] ?? '';
    return escapeHl7(v.slice(0, SALVAGE_MAX), enc);
  };
  return {
    encoding: { ...enc },
    encodingChars: `${enc.component}${enc.repetition}${enc.escape}${enc.subcomponent}`,
    sendingApp: value(3),
    sendingFacility: value(4),
    receivingApp: value(5),
    receivingFacility: value(6),
    trigger: /^[A-Z0-9]{1,7}$/.test(value(9, 2)) ? value(9, 2) : '',
    controlId: value(10),
    processingId: /^[A-Z]{1,3}$/.test(value(11)) ? value(11) : '',
    version: /^2\.\d(\.\d)?$/.test(value(12)) ? value(12) : '2.5',
    versionId: /^2\.\d(\.\d)?$/.test(value(12)) ? value(12) : '2.5',
  };
}

/** `YYYYMMDDHHMMSS.SSS+0000` in UTC: the ACK states its own offset, so the receiver needs no zone. */
export function formatTimestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}+0000`
  );
}
