import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { PatientReplies } from '../../core/patient-replies.js';
import type { PatientAccess } from '../../auth/patient-access.js';

const InboundMessage = Type.Object({
  id: Type.String(),
  patientId: Type.String(),
  channel: Type.String(),
  body: Type.String(),
  receivedAt: Type.String(),
  sharedNumber: Type.Boolean(),
});

const ReplyCodesBody = Type.Object(
  { confirm: Type.String({ minLength: 1, maxLength: 16 }), decline: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);

export interface InboundMessageRouteOptions {
  replies: PatientReplies;
  access: PatientAccess;
}

/**
 * Patients' inbound texts that were no alert reply, no keyword and no reply code
 * (`/v1/inbound-messages`), and the tenant's reply codes (`/v1/reply-codes`).
 */
export const inboundMessageRoutes: RoutePlugin<InboundMessageRouteOptions> = async (app, { replies, access }) => {
  app.get(
    '/inbound-messages',
    {
      config: { permission: 'inbound.read' },
      schema: {
        tags: ['replies'],
        summary: "A patient's unrecognised inbound texts, newest first (sealed at rest; the read is audited)",
        description:
          'Texts from a number of the patient that were no alert reply code, no SMS keyword and no appointment reply code. A number shared by several patients keeps one copy per patient (`sharedNumber`). Page with `before` (the `receivedAt` of the last item).',
        querystring: Type.Object(
          {
            patientId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001F]+$' }),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
            before: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(InboundMessage) }), ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const ctx = await access.patient(req.principal!, requestContext(req), req.query.patientId);
      const before = req.query.before ? new Date(req.query.before).getTime() : undefined;
      return { items: await replies.listInbound(ctx, req.query.patientId, req.query.limit ?? 50, before) };
    },
  );

  app.get(
    '/reply-codes',
    {
      config: { permission: 'replies.manage' },
      schema: {
        tags: ['replies'],
        summary: "The tenant's SMS reply codes for appointment reminders",
        response: { 200: ReplyCodesBody, ...problems(401, 403) },
      },
    },
    async (req) => replies.codes(requestContext(req).tenantId),
  );

  app.put(
    '/reply-codes',
    {
      config: { permission: 'replies.manage' },
      schema: {
        tags: ['replies'],
        summary: "Sets the tenant's SMS reply codes (audited)",
        description:
          'Letters and digits, 1-8, starting with a letter, case-insensitive; the two must differ. A code that is an SMS keyword (STOP, CANCEL, HELP, START…) is refused with SP_REPLY_CODE_KEYWORD: the patient would opt out instead of answering.',
        body: ReplyCodesBody,
        response: { 200: ReplyCodesBody, ...problems(400, 401, 403, 409) },
      },
    },
    async (req) => replies.setCodes(requestContext(req), req.body),
  );
};
