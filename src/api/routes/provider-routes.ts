import { Type } from 'typebox';
import type { TypedApp } from '../types.js';
import { problem } from '../error-handler.js';
import { mapTwilioStatus, validateTwilioSignature } from '../../channels/sms/twilio-signature.js';
import type { DeliveryProcessor } from '../../core/delivery-processor.js';

/**
 * Twilio status callbacks. Authenticated by X-Twilio-Signature over the public URL Twilio called,
 * not by API key. Unknown message ids answer 200 so Twilio does not retry forever.
 */
export function twilioCallbackRoutes(app: TypedApp, o: { authToken: string; publicUrl: string; processor: DeliveryProcessor }): void {
  app.post(
    '/v1/providers/twilio/status',
    {
      config: { auth: 'provider' },
      schema: {
        tags: ['providers'],
        summary: 'Twilio message status callback (signed with X-Twilio-Signature)',
        body: Type.Record(Type.String(), Type.String()),
      },
    },
    async (req, reply) => {
      const signature = req.headers['x-twilio-signature'];
      const url = `${o.publicUrl}${req.url}`;
      if (typeof signature !== 'string' || !validateTwilioSignature(o.authToken, url, req.body, signature)) {
        return problem(reply, req, 'SP_CHANNEL_INVALID_SIGNATURE');
      }
      const status = mapTwilioStatus(req.body.MessageStatus);
      const sid = req.body.MessageSid;
      if (status && sid) await o.processor.providerStatus('twilio', sid, status, req.body.ErrorCode ?? null);
      return reply.code(204).send();
    },
  );
}
