import type { Hl7Segment } from '../hl7/message.js';
import type { Applied, ApplyDeps, ApplyScope } from './apply-context.js';
import { resolvePatient, senderScopedRefs } from './apply-context.js';
import { missing } from './apply-error.js';
import { hl7Date, requireSegment, sequenceOf } from './patient-mapping.js';

/** OBR-25 result statuses that announce a result: final and corrected. */
const ANNOUNCED = new Set(['F', 'C']);

function ordering(obr: Hl7Segment): string | undefined {
  const name = [obr.get(16, 6), obr.get(16, 3), obr.get(16, 2)]
    .map((p) => p.trim())
    .filter(Boolean)
    .join(' ');
  return name || undefined;
}

/**
 * ORU^R01: each OBR whose OBR-25 is F (final) or C (corrected) sends one `test_result_ready`
 * notification, once per order (OBR-3 filler number, else OBR-2 placer): a correction of an order
 * already announced sends nothing more. The notification names the test (OBR-4), the collection date
 * (OBR-7) and the ordering clinician (OBR-16), sealed like every notification; OBX values are never
 * read. Preliminary and other statuses send nothing. A sender's result hold for OBR-4.1 delays the send.
 * The patient must be known (an unknown one sends the message to the error queue).
 */
export async function applyOru(d: ApplyDeps, s: ApplyScope): Promise<Applied> {
  const { msg, tx, ctx, sender, now } = s;
  const patient = await resolvePatient(d, s, requireSegment(msg, 'PID'), { create: false, update: false });
  const notifications: string[] = [];
  let notAnnounced = 0;
  let alreadyAnnounced = 0;
  let held = 0;
  for (const obr of msg.all('OBR')) {
    if (!ANNOUNCED.has(obr.get(25).trim().toUpperCase())) {
      notAnnounced++;
      continue;
    }
    const filler = obr.get(3).trim();
    const placer = obr.get(2).trim();
    if (!filler && !placer) throw missing('OBR', 3, sequenceOf(msg, obr));
    const refs = senderScopedRefs(
      d,
      s,
      'order',
      filler ? `F|${filler}^${obr.get(3, 2)}` : `P|${placer}^${obr.get(2, 2)}`,
    );
    let seen = false;
    for (const ref of refs) if (await tx.hl7Messages.orderAnnounced(ctx.tenantId, ref)) seen = true;
    if (seen) {
      alreadyAnnounced++;
      continue;
    }
    const code = obr.get(4, 1).trim();
    const hold = sender.resultHolds.find((h) => h.code === code);
    if (hold) held++;
    const collectedOn = hl7Date(obr.get(7));
    const clinician = ordering(obr);
    const { notification } = await d.notifications.createInTx(
      tx,
      ctx,
      {
        type: 'test_result_ready',
        patientId: patient.patientId,
        data: {
          testName: obr.get(4, 2).trim() || code || 'Laboratory test',
          ...(collectedOn ? { collectedOn } : {}),
          ...(clinician ? { orderingClinician: clinician } : {}),
        },
        ...(hold ? { sendAt: new Date(now.getTime() + hold.minutes * 60_000).toISOString() } : {}),
      },
      null,
    );
    await tx.hl7Messages.recordOrder({
      tenant_id: ctx.tenantId,
      order_bidx: refs[0],
      notification_id: notification.id,
      message_id: s.messageId,
      created_at: now.getTime(),
    });
    notifications.push(notification.id);
  }
  return {
    status: notifications.length ? 'applied' : 'ignored',
    patientId: patient.patientId,
    details: { notifications, notAnnounced, alreadyAnnounced, held },
  };
}
