import { ConsentService, consentAllows, sendLockKey, type ConsentDecision } from '../../core/consent-service.js';
import { CHANNEL_KINDS, PURPOSES } from '../../core/domain.js';
import type { Hl7ConsentScope, Hl7ConsentTypes } from '../../config/hl7-consent-types.js';
import type { Hl7Segment } from '../hl7/message.js';
import type { ApplyDeps, ApplyScope, Details } from './apply-context.js';

/** CON-11 Consent Status (HL7 table 0498) values that decide: Active permits, Refused and Rescinded deny. */
const DECIDING: Record<string, ConsentDecision> = { A: 'permit', R: 'deny', X: 'deny' };
/** The other values of table 0498 (Bypassed, Limited, Pending): valid, but not a decision; ignored. */
const UNDECIDED = new Set(['B', 'L', 'P']);

/** What a message's CON segments came to, for its audit entry (counts only, never codes or text). */
export interface ConsentCounts {
  /** Decisions written to the ledger. */
  consentsRecorded: number;
  /** Decisions equal to the state in force already (a message sent again): nothing written. */
  consentsUnchanged: number;
  /** Consent types SEALPOST_HL7_CONSENT_TYPES does not map. */
  consentsUnmapped: number;
  /** CON-11 B, L or P: not a decision. */
  consentsUndecided: number;
  /** CON-2 not a single coded CWE, or CON-11 empty or outside table 0498: the segment is skipped. */
  consentsInvalid: number;
}

/** CON-2 (CWE): its identifier, or null when it holds none or more than one repetition (malformed). */
function consentType(con: Hl7Segment): string | null {
  if (con.repetitions(2) > 1) return null;
  const code = con.get(2, 1).trim();
  return code && !/\s/.test(code) ? code : null;
}

/** CON-11 (CWE in v2.7+, ID before): its first component, upper-cased; '' when empty. */
function consentStatus(con: Hl7Segment): string {
  return con.repetitions(11) > 1 ? '?' : con.get(11, 1).trim().toUpperCase();
}

/**
 * The CON segments of an ADT registration or update, as consent ledger decisions about the patient
 * (docs/consent.md, "Writing the ledger"): CON-2 names the consent type, mapped to a channel and a
 * purpose by SEALPOST_HL7_CONSENT_TYPES; CON-11 decides (A permit, R/X deny). A decision is recorded
 * (source `hl7`, the sender as actor, audited, in the message's transaction) only when it changes the
 * state in force for some channel and purpose it covers, so a message sent again adds nothing. A
 * segment that cannot be read, an unmapped type or an undecided status is skipped and counted: an
 * optional segment never sends the message to the error queue. Segments apply in order (the last
 * one about a scope wins). Denials take the patient's exclusive send lock first (PostgreSQL).
 */
export async function applyConsents(d: ApplyDeps, s: ApplyScope, patientId: string): Promise<ConsentCounts> {
  const counts: ConsentCounts = {
    consentsRecorded: 0,
    consentsUnchanged: 0,
    consentsUnmapped: 0,
    consentsUndecided: 0,
    consentsInvalid: 0,
  };
  const cons = s.msg.all('CON');
  if (!cons.length) return counts;
  const types: Hl7ConsentTypes = d.core.config.hl7?.consentTypes ?? {};
  const decisions: { scope: Hl7ConsentScope; decision: ConsentDecision }[] = [];
  for (const con of cons) {
    const code = consentType(con);
    const status = consentStatus(con);
    if (code === null || !(status in DECIDING || UNDECIDED.has(status))) counts.consentsInvalid++;
    else if (!Object.hasOwn(types, code)) counts.consentsUnmapped++;
    else if (UNDECIDED.has(status)) counts.consentsUndecided++;
    else decisions.push({ scope: types[code]!, decision: DECIDING[status]! });
  }
  if (!decisions.length) return counts;
  const { tx, ctx } = s;
  if (decisions.some((x) => x.decision === 'deny'))
    await tx.consents.lockPatients([sendLockKey(ctx.tenantId, patientId)], 'exclusive');
  // Compared with the decisions of other sources only: an SMS keyword (STOP/START from the patient's
  // number) is its own layer, which HL7 neither lifts nor needs to repeat (docs/consent.md, "State").
  const rows: { channel: string; purpose: string; decision: string; source: string }[] = (
    await tx.consents.listForPatient(ctx.tenantId, patientId)
  ).filter((r) => r.source !== 'sms_keyword');
  const service = new ConsentService(d.core);
  for (const { scope, decision } of decisions) {
    const channels = scope.channel === '*' ? CHANNEL_KINDS : [scope.channel];
    const purposes = scope.purpose === '*' ? PURPOSES : [scope.purpose];
    const changes = channels.some((c) => purposes.some((p) => consentAllows(rows, c, p) !== (decision === 'permit')));
    if (!changes) {
      counts.consentsUnchanged++;
      continue;
    }
    await service.recordInTx(tx, ctx, { patientId, ...scope, decision, source: 'hl7' });
    rows.push({ ...scope, decision, source: 'hl7' });
    counts.consentsRecorded++;
  }
  return counts;
}

/** The counts as audit details (only the non-zero ones, so messages without CON audit as before). */
export function consentDetails(c: ConsentCounts): Details {
  return Object.fromEntries(Object.entries(c).filter(([, n]) => n > 0));
}
