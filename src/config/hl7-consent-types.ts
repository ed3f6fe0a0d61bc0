import { CHANNEL_KINDS, PURPOSES, type ChannelKind, type Purpose } from '../core/domain.js';

/** What one HL7 consent type (CON-2, CWE-1) decides about: a channel and a purpose, or every one (`*`). */
export interface Hl7ConsentScope {
  channel: ChannelKind | '*';
  purpose: Purpose | '*';
}

/** CON-2 identifier (CWE-1, as written, case-sensitive) → the ledger scope it decides. */
export type Hl7ConsentTypes = Readonly<Record<string, Hl7ConsentScope>>;

const VARIABLE = 'SEALPOST_HL7_CONSENT_TYPES';
/** A CWE-1 code: letters, digits and `.-_` (no HL7 delimiters, no spaces), at most 64 characters. */
const CODE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses SEALPOST_HL7_CONSENT_TYPES: comma-separated `CODE=channel:purpose` entries, e.g.
 * `SMSAPPT=sms:appointment,TXT=sms:*,EMAIL=email:*`. `channel` is one of CHANNEL_KINDS or `*`,
 * `purpose` one of PURPOSES or `*`. Unset or empty: no consent type is mapped (HL7 never writes
 * the consent ledger). Every problem is pushed to `errors`, naming the variable; the entries that
 * parse are kept, but start-up refuses as soon as one error is reported.
 */
export function parseHl7ConsentTypes(raw: string | undefined, errors: string[]): Hl7ConsentTypes {
  const out: Record<string, Hl7ConsentScope> = {};
  if (raw === undefined || raw.trim() === '') return out;
  const channels: readonly string[] = [...CHANNEL_KINDS, '*'];
  const purposes: readonly string[] = [...PURPOSES, '*'];
  for (const entry of raw.split(',')) {
    const text = entry.trim();
    if (!text) {
      errors.push(`${VARIABLE}: an empty entry (expected CODE=channel:purpose, comma-separated)`);
      continue;
    }
    const m = /^([^=\s]+)\s*=\s*([^:\s]+)\s*:\s*(\S+)$/.exec(text);
    if (!m) {
      errors.push(`${VARIABLE}: "${text}" is not CODE=channel:purpose (e.g. SMSAPPT=sms:appointment)`);
      continue;
    }
    const [, code, channel, purpose] = m as unknown as [string, string, string, string];
    const problems: string[] = [];
    if (!CODE.test(code)) problems.push(`code "${code}" must be 1 to 64 letters, digits, '.', '-' or '_'`);
    if (!channels.includes(channel)) problems.push(`channel "${channel}" must be one of ${channels.join(', ')}`);
    if (!purposes.includes(purpose)) problems.push(`purpose "${purpose}" must be one of ${purposes.join(', ')}`);
    if (Object.hasOwn(out, code)) problems.push(`code "${code}" is mapped twice`);
    if (problems.length) {
      errors.push(`${VARIABLE}: ${problems.join('; ')}`);
      continue;
    }
    out[code] = { channel: channel as Hl7ConsentScope['channel'], purpose: purpose as Hl7ConsentScope['purpose'] };
  }
  return out;
}
