import type { Hl7Segment } from '../hl7/message.js';
import type { Applied, ApplyDeps, ApplyScope } from './apply-context.js';
import { resolvePatient } from './apply-context.js';
import { requireIdentifier, requireSegment } from './patient-mapping.js';
import { Hl7ApplyError } from './apply-error.js';
import { applyConsents, consentDetails } from './consent-mapping.js';

/** Events that register or update a patient from PID (A08/A31 create an unknown patient too). */
const UPSERT = new Set(['A01', 'A04', 'A05', 'A08', 'A28', 'A31']);

/**
 * ADT: A01, A04, A05, A28 create or update the patient; A08, A31 update it (creating it when unknown:
 * engines send A08 for patients registered before the interface went live), and their CON segments
 * write the consent ledger (consent-mapping.ts); A40 merges MRG-1 into
 * PID-3. Every other event (A02 transfer, A03 discharge, A06/A07 class changes…) is acknowledged and
 * changes nothing: a feed carries them all and rejecting them would fill the sender's error queue.
 */
export async function applyAdt(d: ApplyDeps, s: ApplyScope): Promise<Applied> {
  const { msg } = s;
  if (UPSERT.has(msg.trigger)) {
    const pid = requireSegment(msg, 'PID');
    const r = await resolvePatient(d, s, pid, { create: true, update: true });
    // CON segments: consent decisions (SEALPOST_HL7_CONSENT_TYPES); unreadable ones are skipped and counted.
    const consents = await applyConsents(d, s, r.patientId);
    return {
      status: 'applied',
      patientId: r.patientId,
      details: { patientCreated: r.created, contactPointsSkipped: r.contactPointsSkipped, ...consentDetails(consents) },
    };
  }
  if (msg.trigger === 'A40') return merge(d, s);
  return { status: 'ignored', patientId: null, details: {} };
}

/**
 * A40: each patient group (PID, then its MRG) merges MRG-1 (the retired patient) into PID-3 (the
 * survivor, created from the PID when Sealpost does not know it yet). A retired identifier Sealpost
 * never saw has nothing to move and is skipped; an erased survivor sends the message to the error queue.
 */
async function merge(d: ApplyDeps, s: ApplyScope): Promise<Applied> {
  const { msg, tx, ctx, sender } = s;
  const groups: { pid: Hl7Segment; mrgs: Hl7Segment[] }[] = [];
  for (const seg of msg.segments) {
    if (seg.name === 'PID') groups.push({ pid: seg, mrgs: [] });
    else if (seg.name === 'MRG' && groups.length) groups[groups.length - 1].mrgs.push(seg);
  }
  if (!groups.length) requireSegment(msg, 'PID');
  if (!groups.some((g) => g.mrgs.length)) throw new Hl7ApplyError('SP_HL7_MISSING_FIELD', '100', { segment: 'MRG' });
  let merged = 0;
  let skipped = 0;
  let created = 0;
  let notificationsMoved = 0;
  let appointmentsMoved = 0;
  let survivorId: string | null = null;
  for (const g of groups) {
    const survivor = await resolvePatient(d, s, g.pid, { create: true, update: false });
    survivorId ??= survivor.patientId;
    if (survivor.created) created++;
    for (const mrg of g.mrgs) {
      const identifier = requireIdentifier(msg, mrg, 1, sender);
      const retired = await d.patients.findByIdentifierInTx(tx, ctx.tenantId, identifier);
      if (!retired || retired.erased || retired.patientId === survivor.patientId) {
        skipped++;
        continue;
      }
      const r = await d.patients.mergeInTx(tx, ctx, { survivorId: survivor.patientId, retiredId: retired.patientId });
      // The retired patient's messages follow the survivor, so that erasing the survivor forgets them too.
      await tx.hl7Messages.reassignPatient(ctx.tenantId, retired.patientId, survivor.patientId);
      merged++;
      notificationsMoved += r.notificationsMoved;
      appointmentsMoved += r.appointmentsMoved;
    }
  }
  return {
    status: merged || created ? 'applied' : 'ignored',
    patientId: survivorId,
    details: { merged, mergeSkipped: skipped, patientsCreated: created, notificationsMoved, appointmentsMoved },
  };
}
