import type { CoreDeps, RequestContext } from '../../core/context.js';
import type { PatientService } from '../../core/patient-service.js';
import type { PatientIdentifier } from '../../core/domain.js';
import type { AppointmentService } from '../../core/appointment-service.js';
import type { NotificationService } from '../../core/notification-service.js';
import type { StoreTx } from '../../store/store.js';
import type { Hl7Message, Hl7Segment } from '../hl7/message.js';
import type { SenderView } from './hl7-senders.js';
import { Hl7ApplyError } from './apply-error.js';
import { identifierIndexes } from '../../core/patient-identifiers.js';
import { patientFromPid, requireIdentifier, sequenceOf } from './patient-mapping.js';

/** The core services messages act through (their `...InTx` methods: one transaction per message). */
export interface ApplyDeps {
  core: CoreDeps;
  patients: PatientService;
  appointments: AppointmentService;
  notifications: NotificationService;
}

/** One message being applied, inside its transaction. */
export interface ApplyScope {
  tx: StoreTx;
  ctx: RequestContext;
  msg: Hl7Message;
  sender: SenderView;
  messageId: string;
  now: Date;
}

export type Details = Record<string, string | number | boolean | string[] | null>;

export interface Applied {
  /** `ignored`: accepted, nothing to do (an ADT event Sealpost does not act on, a preliminary result). */
  status: 'applied' | 'ignored';
  /** The patient the message was applied to (erasing them forgets the raw message). */
  patientId: string | null;
  /** PHI-free counts and ids for the audit entry. */
  details: Details;
}

/**
 * A keyed reference scoped to the sender's MSH-3/MSH-4 (not its row id, so re-registering a sender keeps
 * its appointments and orders): every stored form, current first (blind-index key rotation).
 */
export function senderScopedRefs(d: ApplyDeps, s: ApplyScope, kind: string, value: string): string[] {
  return d.core.cipher.blindIndexCandidates(
    s.ctx.tenantId,
    `hl7.${kind}`,
    `${s.sender.app}|${s.sender.facility}|${value}`,
  );
}

/**
 * The keyed hash of a message's patient identifier (never the identifier itself): the blind index the
 * patient identity code gives the identifier (`patient_identifiers.lookup_bidx`, current key version),
 * so it orders a sender's queued messages per patient and lets erasure find the messages of a patient
 * who was unknown when they arrived.
 */
export function patientBidx(core: CoreDeps, tenantId: string, id: PatientIdentifier): string {
  return identifierIndexes(core, tenantId, id).current;
}

/**
 * The patient a PID names, by the sender's identifier rule. `create`: an unknown patient is created
 * from the PID with an opaque id; `update`: a known one is replaced by the PID's demographics (ADT).
 * An erased patient's identifier is a tombstone: SP_HL7_PATIENT_ERASED, never a re-creation.
 */
export async function resolvePatient(
  d: ApplyDeps,
  s: ApplyScope,
  pid: Hl7Segment,
  o: { create: boolean; update: boolean },
): Promise<{ patientId: string; created: boolean; updated: boolean; contactPointsSkipped: number }> {
  const { tx, ctx, msg, sender } = s;
  const seq = sequenceOf(msg, pid);
  const identifier = requireIdentifier(msg, pid, 3, sender);
  const found = await d.patients.findByIdentifierInTx(tx, ctx.tenantId, identifier);
  if (found?.erased)
    throw new Hl7ApplyError('SP_HL7_PATIENT_ERASED', '204', { segment: 'PID', sequence: seq, field: 3 });
  if (found && !o.update)
    return { patientId: found.patientId, created: false, updated: false, contactPointsSkipped: 0 };
  if (!found && !o.create)
    throw new Hl7ApplyError('SP_HL7_UNKNOWN_PATIENT', '204', { segment: 'PID', sequence: seq, field: 3 });
  const { input, hasTelecom, skipped } = patientFromPid(msg, pid, sender);
  let identifiers = [identifier];
  let telecom = input.telecom;
  let language = input.language;
  if (found) {
    const current = await d.patients.getInTx(tx, ctx, found.patientId);
    identifiers = [
      ...current.identifiers.filter((i) => !(i.system === identifier.system && i.value === identifier.value)),
      identifier,
    ];
    // The PID replaces phones and e-mail addresses when it carries any; webhooks are never HL7's to remove.
    const webhooks = current.telecom.filter((t) => t.system === 'webhook');
    telecom = hasTelecom
      ? [...telecom, ...webhooks.map((w, i) => ({ ...w, rank: telecom.length + i + 1 }))]
      : current.telecom;
    language ??= current.language;
  }
  const patientId = found?.patientId ?? d.patients.newPatientId();
  const r = await d.patients.upsertInTx(
    tx,
    ctx,
    patientId,
    { ...input, telecom, language, identifiers },
    { mayAddWebhooks: false },
  );
  return { patientId, created: r.created, updated: !r.created, contactPointsSkipped: skipped };
}
