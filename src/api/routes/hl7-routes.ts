import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { Hl7Service } from '../../ehr/hl7-apply/hl7-service.js';

const SenderView = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  app: Type.String({ description: 'MSH-3.1 sending application' }),
  facility: Type.String({ description: 'MSH-4.1 sending facility' }),
  patientIdAuthority: Type.Union([Type.String(), Type.Null()]),
  timeZone: Type.String(),
  phoneRegion: Type.String(),
  certSha256: Type.Union([Type.String(), Type.Null()]),
  resultHolds: Type.Array(Type.Object({ code: Type.String(), minutes: Type.Integer() })),
  createdAt: Type.String({ format: 'date-time' }),
  removedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const SenderBody = Type.Object(
  {
    app: Type.String({ minLength: 1, maxLength: 227, description: 'MSH-3.1 sending application' }),
    facility: Type.String({ maxLength: 227, description: 'MSH-4.1 sending facility (may be empty)' }),
    patientIdAuthority: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 227,
        description:
          'The identifier system the sender owns: only PID-3/MRG-1 repetitions with this CX-4 namespace or OID count. Else the MR-typed one, in the system urn:sealpost:hl7:<MSH-3>|<MSH-4>',
      }),
    ),
    timeZone: Type.Optional(Type.String({ maxLength: 64, description: 'IANA zone of time stamps without offset' })),
    phoneRegion: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })),
    certPem: Type.Optional(
      Type.String({
        maxLength: 16384,
        description: 'PEM client certificate the sender must present; without one, only a loopback peer may send',
      }),
    ),
    resultHolds: Type.Optional(
      Type.Array(Type.String({ maxLength: 80, description: '<test code OBR-4.1>=<n>m|h|d' }), { maxItems: 100 }),
    ),
  },
  { additionalProperties: false },
);

const MessageView = Type.Object({
  id: Type.String(),
  senderId: Type.String(),
  type: Type.String({ description: 'MSH-9.1^MSH-9.2' }),
  controlId: Type.String({
    description: 'A keyed hash of MSH-10 (the control id is caller text and is not stored in clear)',
  }),
  status: Type.String({ description: 'applied | ignored | error | replayed | discarded' }),
  ackCode: Type.String({ description: 'AA or AE (application level)' }),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  hl7ErrorCode: Type.Union([Type.String(), Type.Null()]),
  segment: Type.Union([Type.String(), Type.Null()]),
  sequence: Type.Union([Type.Integer(), Type.Null()]),
  field: Type.Union([Type.Integer(), Type.Null()]),
  receivedAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const ErrorsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })),
    status: Type.Optional(
      Type.Union([Type.Literal('error'), Type.Literal('replayed'), Type.Literal('discarded')], { default: 'error' }),
    ),
  },
  { additionalProperties: false },
);

export interface Hl7RouteOptions {
  hl7: Hl7Service;
}

/**
 * `/v1/hl7`: registered senders and the error queue, for administrators (`hl7.manage`). Ids, types,
 * control ids, codes and positions only: a message's content is never shown.
 */
export const hl7Routes: RoutePlugin<Hl7RouteOptions> = async (app, { hl7 }) => {
  const tags = ['hl7'];
  app.get(
    '/senders',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: "The tenant's active HL7 v2 senders",
        response: { 200: Type.Object({ items: Type.Array(SenderView) }), ...problems(401, 403) },
      },
    },
    async (req) => ({ items: await hl7.senders.list(requestContext(req)) }),
  );

  app.post(
    '/senders',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: 'Register an HL7 v2 sender (MSH-3 application, MSH-4 facility) for this tenant',
        description:
          'Messages are accepted only from registered senders. The sender fixes the tenant, which PID-3 identifier is the ' +
          "patient's, the zone of time stamps without offset, an optional client certificate and result holds.",
        body: SenderBody,
        response: { 201: SenderView, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.code(201).send(await hl7.senders.add(requestContext(req), req.body)),
  );

  app.delete(
    '/senders/:id',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: 'Remove an HL7 v2 sender: its later messages are answered AR',
        params: IdParam,
        response: { 200: SenderView, ...problems(401, 403, 404) },
      },
    },
    async (req) => hl7.senders.remove(requestContext(req), req.params.id),
  );

  app.get(
    '/errors',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: 'The HL7 error queue: messages that parsed but could not be applied (oldest first)',
        querystring: ErrorsQuery,
        response: {
          200: Type.Object({ items: Type.Array(MessageView), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => hl7.listErrors(requestContext(req), req.query),
  );

  app.get(
    '/errors/:id',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: 'One HL7 message: sender, type, control id, status, error code and position (never its content)',
        params: IdParam,
        response: { 200: MessageView, ...problems(401, 403, 404) },
      },
    },
    async (req) => hl7.getMessage(requestContext(req), req.params.id),
  );

  app.post(
    '/errors/:id/replay',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: 'Re-apply a queued message (older queued messages of the same sender and patient first)',
        params: IdParam,
        response: { 200: MessageView, ...problems(401, 403, 404, 409) },
      },
    },
    async (req) => hl7.replay(requestContext(req), req.params.id),
  );

  app.post(
    '/errors/:id/discard',
    {
      config: { permission: 'hl7.manage' },
      schema: {
        tags,
        summary: 'Give up on a queued message; its sealed content is deleted',
        params: IdParam,
        response: { 200: MessageView, ...problems(401, 403, 404, 409) },
      },
    },
    async (req) => hl7.discard(requestContext(req), req.params.id),
  );
};
