import type { AckCode } from '../hl7/ack.js';

/**
 * What happened to a message, at the application level (original-mode codes):
 * AA applied (or accepted with nothing to do), AE stored in the error queue or unparseable,
 * AR rejected without being stored (unknown sender, unsupported type or version).
 */
export type Outcome = 'AA' | 'AE' | 'AR';

/**
 * The acknowledgement to send on the connection, or null for none (HL7 v2 §2.9 and §2.9.3).
 *
 * Original mode (MSH-15 and MSH-16 both empty): the application ACK, AA/AE/AR.
 *
 * Enhanced mode: the accept (commit) ACK is about safe storage. Sealpost commits a message durably
 * before answering, including one it queues as an error, so the accept code is CA for everything it
 * stored, CE for a message it could not parse, CR for one it refused. It is sent as MSH-15 asks
 * (AL always, ER only when not CA, SU only when CA, NE never; empty counts as AL). Sealpost does not
 * open connections back to senders, so there is no separate application ACK: when MSH-15 asked for
 * no accept ACK but MSH-16 asks for an application ACK (same rules), that ACK (AA/AE/AR) is sent on
 * the same connection instead. When neither asks, nothing is sent.
 */
export function ackCodeFor(acceptAckType: string, applicationAckType: string, outcome: Outcome): AckCode | null {
  const accept = acceptAckType.trim().toUpperCase();
  const application = applicationAckType.trim().toUpperCase();
  if (!accept && !application) return outcome;
  const commit: AckCode = outcome === 'AR' ? 'CR' : 'CA';
  if (wanted(accept || 'AL', commit === 'CA')) return commit;
  if (wanted(application, outcome === 'AA')) return outcome;
  return null;
}

/** The accept code of a message that could not be parsed (nothing stored): CE in enhanced mode. */
export function parseFailureCode(acceptAckType: string, applicationAckType: string): AckCode | null {
  const accept = acceptAckType.trim().toUpperCase();
  const application = applicationAckType.trim().toUpperCase();
  if (!accept && !application) return 'AE';
  if (wanted(accept || 'AL', false)) return 'CE';
  if (wanted(application, false)) return 'AE';
  return null;
}

function wanted(condition: string, success: boolean): boolean {
  switch (condition) {
    case 'AL':
      return true;
    case 'ER':
      return !success;
    case 'SU':
      return success;
    default: // NE, or an unknown value: no acknowledgement asked
      return false;
  }
}
