import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problem } from '../error-handler.js';
import { mapTwilioStatus, validateTwilioSignature } from '../../channels/sms/twilio-signature.js';
import type { DeliveryProcessor } from '../../core/delivery-processor.js';
import type { ConsentService } from '../../core/consent-service.js';
import type { AlertDispatcher } from '../../alerting/alert-dispatcher.js';
import type { AlertSmsReplies } from '../../alerting/sms-replies.js';
import type { PatientReplies } from '../../core/patient-replies.js';
import { dispatchInboundSms } from '../inbound-sms.js';

export interface TwilioCallbackRouteOptions {
  authToken: string;
  publicUrl: string;
  processor: DeliveryProcessor;
  consent: ConsentService;
  /** Alert nudges: their delivery receipts, and acknowledgement by SMS reply. */
  alertDispatcher?: AlertDispatcher;
  alertSmsReplies?: AlertSmsReplies;
  /** Appointment reply codes (C, N) and unrecognised texts (kept sealed, answered with HELP). */
  replies?: PatientReplies;
  tenantId: string;
}

/**
 * Twilio status callbacks. Authenticated by X-Twilio-Signature over the public URL Twilio called,
 * not by API key. Unknown message ids answer 200 so Twilio does not retry forever. Inbound texts
 * are deduplicated by MessageSid (ConsentService.claimInbound): a replayed signed webhook is
 * answered with the same empty TwiML and changes nothing.
 */
export const twilioCallbackRoutes: RoutePlugin<TwilioCallbackRouteOptions> = async (app, o) => {
  const signed = (req: { headers: Record<string, unknown>; url: string; body: Record<string, string> }) => {
    const signature = req.headers['x-twilio-signature'];
    return (
      typeof signature === 'string' &&
      validateTwilioSignature(o.authToken, `${o.publicUrl}${req.url}`, req.body, signature)
    );
  };

  app.post(
    '/status',
    {
      config: { permission: 'provider', form: true },
      schema: {
        tags: ['providers'],
        summary: 'Twilio message status callback (signed with X-Twilio-Signature)',
        body: Type.Record(Type.String(), Type.String()),
      },
    },
    async (req, reply) => {
      if (!signed(req)) return problem(reply, req, 'SP_CHANNEL_INVALID_SIGNATURE');
      const status = mapTwilioStatus(req.body.MessageStatus);
      const sid = req.body.MessageSid;
      if (status && sid && !(await o.processor.providerStatus('twilio', sid, status)))
        await o.alertDispatcher?.providerStatus('twilio', sid, status);
      return reply.code(204).send();
    },
  );

  app.post(
    '/inbound',
    {
      config: { permission: 'provider', form: true },
      schema: {
        tags: ['providers'],
        summary:
          "Twilio inbound SMS webhook: a reply code to an alert nudge (1, 1D) answers that alert; SMS keywords (STOP, START, HELP) are consent's; an appointment reply code (C, N by default) answers the last open reminder question sent to that number; anything else is kept sealed for staff (GET /v1/inbound-messages) and answered with the HELP text at most once a day",
        body: Type.Record(Type.String(), Type.String()),
      },
    },
    async (req, reply) => {
      if (!signed(req)) return problem(reply, req, 'SP_CHANNEL_INVALID_SIGNATURE');
      const sid = req.body.MessageSid;
      if (sid !== undefined && (!sid || sid.length > 64))
        return problem(reply, req, 'SP_REQ_VALIDATION', 'MessageSid: 1-64 characters');
      const ctx = { tenantId: o.tenantId, actor: 'provider:twilio', requestId: req.id, sourceIp: req.ip };
      // An empty TwiML answer: answers to the patient go out through the SMS channel.
      const empty = () => reply.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      // A replay of a text already handled (same MessageSid, signature and all) changes nothing.
      // Twilio always sends a MessageSid; a signed request without one is handled undeduplicated.
      if (sid && (await o.consent.inboundSeen(ctx, 'twilio', sid))) return empty();
      // Alert reply codes, then keywords, then appointment reply codes, then anything else (inbound-sms.ts).
      await dispatchInboundSms(
        { alerts: o.alertSmsReplies, consent: o.consent, replies: o.replies },
        ctx,
        req.body.From ?? '',
        req.body.Body ?? '',
      );
      // Recorded once handled: a failure or a crash before this leaves Twilio's retry to be handled.
      if (sid) await o.consent.recordInbound(ctx, 'twilio', sid);
      return empty();
    },
  );
};
