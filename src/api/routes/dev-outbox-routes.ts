import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { ListQuery, problems } from '../schemas.js';
import type { Store } from '../../store/store.js';
import { openOutboxRow, type OutboxSealer } from '../../channels/dev-outbox/dev-outbox-channel.js';
import type { AlertSmsReplies } from '../../alerting/sms-replies.js';
import type { ConsentService } from '../../core/consent-service.js';
import type { PatientReplies } from '../../core/patient-replies.js';
import { dispatchInboundSms } from '../inbound-sms.js';

export const OutboxItem = Type.Object({
  id: Type.String(),
  deliveryId: Type.String(),
  channel: Type.String(),
  recipient: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  body: Type.String(),
  createdAt: Type.String(),
});

export interface DevOutboxRouteOptions {
  store: Store;
  sealer: OutboxSealer;
  /** Present when SMS goes to the dev outbox: replies typed on the phone that "got" an outbox SMS. */
  smsReplies?: { alerts: AlertSmsReplies; consent: ConsentService; replies?: PatientReplies };
}

/** Lists what the dev channels "sent". Registered only when a dev-outbox channel is configured. */
export const devOutboxRoutes: RoutePlugin<DevOutboxRouteOptions> = async (app, { store, sealer, smsReplies }) => {
  app.get(
    '',
    {
      config: { permission: 'outbox.read' },
      schema: {
        tags: ['dev'],
        summary: 'Messages the dev-outbox channels would have sent',
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(OutboxItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(401),
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const rows = await store.read.outbox.list(requestContext(req).tenantId, Number(req.query.cursor ?? 0), limit);
      const items = rows.map((r) => openOutboxRow(r, sealer));
      return { items, nextCursor: rows.length === limit ? String(rows[rows.length - 1].id) : null };
    },
  );

  if (!smsReplies) return;
  // What an SMS provider's inbound webhook does (provider-routes.ts), for SMS that went to the dev
  // outbox: alert reply codes, keywords, appointment reply codes, then anything else (inbound-sms.ts).
  app.post(
    '/sms-replies',
    {
      config: { permission: 'outbox.read' },
      schema: {
        tags: ['dev'],
        summary:
          'Development only: a text message "from" a phone number, handled as an inbound SMS (alert reply codes such as 1 or 1D, then keywords such as STOP/START/HELP, then appointment reply codes such as C or N, then kept as an unrecognised text)',
        body: Type.Object(
          { from: Type.String({ maxLength: 32 }), body: Type.String({ maxLength: 1600 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            handledAs: Type.Union([
              Type.Literal('alert-reply'),
              Type.Literal('consent'),
              Type.Literal('appointment-reply'),
              Type.Literal('unrecognised'),
            ]),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const handledAs = await dispatchInboundSms(smsReplies, requestContext(req), req.body.from, req.body.body);
      return { handledAs };
    },
  );
};
