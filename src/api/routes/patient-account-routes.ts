import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientParam, problems } from '../schemas.js';
import { SessionAnswer, sendSession } from '../session-reply.js';
import type { SessionService } from '../../auth/session-service.js';
import type { PatientAccountService, PatientReader } from '../../core/patient-account-service.js';
import { AppError } from '../../core/errors.js';
import type { RequestContext } from '../../core/context.js';
import type { Principal } from '../../auth/principal.js';
import { DEFAULT_TENANT } from '../../core/domain.js';

/** The patient-relationship check of staff routes (auth/patient-access.ts `PatientAccess`). */
export interface PatientAccessCheck {
  patient(p: Principal, ctx: RequestContext, patientId: string): Promise<RequestContext>;
}

const Contact = Type.Object(
  {
    system: Type.Union([Type.Literal('email'), Type.Literal('sms')]),
    value: Type.String({
      minLength: 1,
      maxLength: 254,
      description: 'E-mail address, or phone number in E.164 (+ and country code)',
    }),
  },
  { additionalProperties: false },
);
const Tenant = Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,64}$', default: DEFAULT_TENANT }));
const AccountView = Type.Object({
  id: Type.String(),
  patientId: Type.String(),
  contact: Type.Object({ system: Type.String() }),
  status: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});
const NotificationItem = Type.Object({
  id: Type.String(),
  type: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  status: Type.Union([Type.Literal('unread'), Type.Literal('read'), Type.Literal('acknowledged')]),
  title: Type.String(),
  body: Type.String(),
});
const NotificationId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const START_ANSWER = {
  status: 'accepted',
  message: 'If this contact point has an account, a sign-in code is on its way.',
} as const;

/** The reading patient, from the session (the `self.messages` permission is held by patient accounts only). */
function reader(req: FastifyRequest): PatientReader {
  const p = req.principal!;
  if (p.kind !== 'patient' || !p.patientId) throw new AppError('SP_AUTH_FORBIDDEN');
  return { tenantId: p.tenantId, accountId: p.id, patientId: p.patientId, requestId: req.id, sourceIp: req.ip };
}

export interface PatientAccountRouteOptions {
  accounts: PatientAccountService;
  sessions: SessionService;
  access?: PatientAccessCheck;
}

/**
 * Optional patient accounts: staff open and disable them; patients sign in with a contact point and
 * a one-time code, then read their own notifications. The portal's one-time links are unaffected.
 */
export const patientAccountRoutes: RoutePlugin<PatientAccountRouteOptions> = async (
  app,
  { accounts, sessions, access },
) => {
  // Clinicians open or disable accounts only for patients of their care team (or under break-glass).
  const staffCtx = (req: FastifyRequest, patientId: string) =>
    access ? access.patient(req.principal!, requestContext(req), patientId) : requestContext(req);

  app.post(
    '/patients/:id/account',
    {
      config: { permission: 'patient.write' },
      schema: {
        tags: ['patient-accounts'],
        summary: 'Open a sign-in account for a patient on one of their contact points',
        description:
          "The contact must already be on the patient's record. One active account per patient and per contact point.",
        params: PatientParam,
        body: Type.Object({ contact: Contact }, { additionalProperties: false }),
        response: { 201: AccountView, ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await accounts.open(await staffCtx(req, req.params.id), req.params.id, req.body.contact)),
  );

  app.delete(
    '/patients/:id/account',
    {
      config: { permission: 'patient.write' },
      schema: {
        tags: ['patient-accounts'],
        summary: "Disable a patient's account; its sessions and devices are revoked at once",
        params: PatientParam,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await accounts.disable(await staffCtx(req, req.params.id), req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/patient-auth/start',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['patient-accounts'],
        summary: 'Ask for a sign-in code (always 202, whether or not the contact has an account)',
        description:
          'At most 3 codes per contact point per 15 minutes and a limit per address; past them the answer is the same and nothing is sent.',
        body: Type.Object({ tenant: Tenant, contact: Contact }, { additionalProperties: false }),
        response: { 202: Type.Object({ status: Type.Literal('accepted'), message: Type.String() }), ...problems(400) },
      },
    },
    async (req, reply) => {
      // Answered before any lookup: the work a known contact causes (a code, its audit entry) must not
      // show in how long the answer takes (no enumeration by timing, ASVS 6.3.8).
      accounts.checkContact(req.body.contact);
      const log = req.log;
      void accounts
        .startSignIn(req.body.tenant ?? DEFAULT_TENANT, req.body.contact, { requestId: req.id, sourceIp: req.ip })
        .catch((e: unknown) =>
          log.warn({ code: (e as { code?: string })?.code ?? (e as Error)?.name }, 'patient sign-in start failed'),
        );
      return reply.code(202).send(START_ANSWER);
    },
  );

  app.post(
    '/patient-auth/verify',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['patient-accounts'],
        summary: 'Exchange a sign-in code for a session (cookie for the web, bearer token for apps)',
        description:
          'A wrong, expired, used or superseded code answers 401 SP_AUTH_CODE_INVALID; 5 wrong codes burn it.',
        body: Type.Object(
          {
            tenant: Tenant,
            contact: Contact,
            code: Type.String({ pattern: '^[0-9]{6}$' }),
            transport: Type.Optional(
              Type.Union([Type.Literal('cookie'), Type.Literal('bearer')], { default: 'cookie' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: SessionAnswer, ...problems(400, 401) },
      },
    },
    async (req, reply) => {
      const transport = req.body.transport ?? 'cookie';
      const s = await accounts.verifySignIn(
        req.body.tenant ?? DEFAULT_TENANT,
        req.body.contact,
        req.body.code,
        transport,
        {
          requestId: req.id,
          sourceIp: req.ip,
        },
      );
      return sendSession(reply, sessions, { ...s, transport, stage: 'active' });
    },
  );

  app.get(
    '/me/notifications',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: "The signed-in patient's notifications, newest first, with their secure content (each view audited)",
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 20 })),
            cursor: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F-]{1,64}$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(NotificationItem),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => accounts.listNotifications(reader(req), { limit: req.query.limit ?? 20, cursor: req.query.cursor }),
  );

  app.get(
    '/me/notifications/:id',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: "Read one of the signed-in patient's notifications and mark it read (audited)",
        description: "Another patient's notification answers 404, as an unknown id does.",
        params: NotificationId,
        response: { 200: NotificationItem, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => accounts.readNotification(reader(req), req.params.id),
  );
};
