import type { RequestContext } from '../core/context.js';
import type { ConsentService } from '../core/consent-service.js';
import type { PatientReplies } from '../core/patient-replies.js';
import type { AlertSmsReplies } from '../alerting/sms-replies.js';

export interface InboundSmsHandlers {
  alerts?: AlertSmsReplies;
  consent: ConsentService;
  replies?: PatientReplies;
}

export type InboundSmsOutcome = 'alert-reply' | 'consent' | 'appointment-reply' | 'unrecognised';

/**
 * One inbound text, from an SMS provider's webhook or the dev outbox, in a fixed order: (1) an
 * alert reply code ("1", "1D") answers that alert; (2) an SMS keyword (STOP, START, HELP…) is
 * consent's; (3) an appointment reply code (the tenant's, C and N by default) answers the newest
 * open question sent to the number; (4) anything else is kept sealed for staff and answered with
 * the HELP text at most once a day. Reply codes can never be keywords (refused when configured),
 * so (2) before (3) only matters for keywords.
 */
export async function dispatchInboundSms(
  h: InboundSmsHandlers,
  ctx: RequestContext,
  from: string,
  body: string,
): Promise<InboundSmsOutcome> {
  if (await h.alerts?.handle(from, body, ctx.requestId)) return 'alert-reply';
  if ((await h.consent.inboundSms(ctx, from, body)) !== 'ignored') return 'consent';
  if (!h.replies) return 'consent';
  if ((await h.replies.handle(ctx, from, body)) !== 'ignored') return 'appointment-reply';
  await h.replies.unrecognised(ctx, from, body);
  return 'unrecognised';
}
