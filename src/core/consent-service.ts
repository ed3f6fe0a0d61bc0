import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { normaliseContact } from './contact-validation.js';

/** Carrier-standard opt-out and opt-in keywords (CTIA), plus common Spanish ones. */
const OPT_OUT = new Set([
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'OPTOUT',
  'REVOKE',
  'ALTO',
  'PARAR',
  'BAJA',
]);
const OPT_IN = new Set(['START', 'UNSTOP', 'YES', 'SUBSCRIBE', 'ALTA']);

export type InboundResult = 'opted_out' | 'opted_in' | 'ignored';

/**
 * Consent from inbound SMS: "Reply STOP to opt out" must work. The sender's number is found by its
 * blind index, so no phone number is ever compared or stored in the clear.
 */
export class ConsentService {
  constructor(private readonly deps: CoreDeps) {}

  async inboundSms(ctx: RequestContext, from: string, body: string): Promise<InboundResult> {
    const word = body
      .trim()
      .toUpperCase()
      .replace(/[^A-Z]/g, '');
    const action = OPT_OUT.has(word) ? 'opted_out' : OPT_IN.has(word) ? 'opted_in' : 'ignored';
    if (action === 'ignored') return action;
    let phone: string;
    try {
      phone = normaliseContact('sms', from, 0);
    } catch {
      return 'ignored';
    }
    const { store, cipher, clock } = this.deps;
    // Every stored form: while a blind-index rotation re-indexes, a number may still be under the old key.
    const bidxs = cipher.blindIndexCandidates(ctx.tenantId, 'contact.sms', phone);
    await store.transaction(async (tx) => {
      const now = clock();
      const rows = [];
      for (const bidx of bidxs)
        rows.push(
          ...(await tx.contactPoints.setOptOutByIndex(
            ctx.tenantId,
            'sms',
            bidx,
            action === 'opted_out' ? now.getTime() : null,
          )),
        );
      for (const r of rows) {
        await audit(tx, ctx, now, {
          action: action === 'opted_out' ? 'contact.opted_out' : 'contact.opted_in',
          targetType: 'contact_point',
          targetId: r.id,
          patientRef: patientRef(this.deps, ctx.tenantId, r.patient_id),
          details: { channel: 'sms', keyword: word },
        });
      }
    });
    await store.durable();
    return action;
  }
}
