import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientParam, problems } from '../schemas.js';
import type { BreakGlassService } from '../../core/break-glass-service.js';
import { AppError } from '../../core/errors.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Grant = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  patientId: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  revokedAt: Nullable(Type.String({ format: 'date-time' })),
  reason: Type.Optional(
    Nullable(Type.String({ description: 'Administrators only (it may hold PHI); null after the patient was erased' })),
  ),
  reviewedAt: Nullable(Type.String({ format: 'date-time' })),
  reviewedBy: Nullable(Type.String()),
  reviewOutcome: Nullable(Type.Union([Type.Literal('justified'), Type.Literal('unjustified')])),
  reviewNote: Type.Optional(
    Nullable(Type.String({ description: 'As `reason`: administrators only; null when none or after erasure' })),
  ),
});

export interface BreakGlassRouteOptions {
  breakGlass: BreakGlassService;
}

/** Emergency access outside the care team (break-glass) and its review by administrators. */
export const breakGlassRoutes: RoutePlugin<BreakGlassRouteOptions> = async (app, { breakGlass }) => {
  app.post(
    '/patients/:id/break-glass',
    {
      config: { permission: 'breakglass.request' },
      schema: {
        tags: ['break-glass'],
        summary:
          'Emergency access to a patient outside the care team: state a reason and re-authenticate with a second factor',
        description:
          "Needs a person's signed-in session and a fresh TOTP code or an unused recovery code. On success the caller may read and " +
          "change this patient's content until `expiresAt`; the grant is audited (`access.break_glass`), every access under it names " +
          'the grant in its audit entry, and administrators get an alert. A wrong or missing second factor answers 401 ' +
          'SP_AUTH_MFA_FAILED, is audited and grants nothing. The reason is stored encrypted and never returned here.',
        params: PatientParam,
        body: Type.Object(
          {
            reason: Type.String({ minLength: 10, maxLength: 500 }),
            totp: Type.Optional(Type.String({ pattern: '^[0-9]{6,8}$' })),
            recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ grant: Grant, alertId: Type.String() }), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      // A person only: the point is a named individual who re-authenticated, not a system credential.
      if (p.kind !== 'user' || !p.session)
        throw new AppError('SP_AUTH_FORBIDDEN', "break-glass needs a person's session");
      if (req.body.reason.trim().length < 10) throw new AppError('SP_REQ_VALIDATION', 'reason');
      const { grant, alertId } = await breakGlass.request(
        requestContext(req),
        { id: p.id, sessionId: p.session.id },
        req.params.id,
        req.body,
      );
      // Identifiers only: never the reason, never the patient id (it sits in URLs, which logs avoid).
      req.log.warn(
        { grantId: grant.id, userId: p.id, alertId, expiresAt: grant.expiresAt },
        'break-glass access granted',
      );
      return reply.code(201).send({ grant, alertId });
    },
  );

  app.get(
    '/break-glass',
    {
      config: { permission: 'securityalert.read' },
      schema: {
        tags: ['break-glass'],
        summary:
          'Break-glass grants of the tenant, newest first (reasons for administrators only; that read is audited)',
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Grant), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const perms = req.principal!.permissions;
      // The reason may hold PHI: administrators (audit.read + alert.read) review it, nobody else.
      const withReasons = perms.has('audit.read') && perms.has('securityalert.read');
      return breakGlass.listGrants(requestContext(req), {
        limit: req.query.limit ?? 100,
        cursor: req.query.cursor,
        withReasons,
      });
    },
  );

  app.post(
    '/break-glass/:id/revoke',
    {
      config: { permission: 'securityalert.read' },
      schema: {
        tags: ['break-glass'],
        summary: 'End a break-glass grant before its time (an administrator judged it unjustified); audited',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) }),
        response: { 200: Grant, ...problems(401, 403, 404) },
      },
    },
    async (req) => breakGlass.revoke(requestContext(req), req.params.id),
  );

  app.post(
    '/break-glass/:id/review',
    {
      config: { permission: 'securityalert.read' },
      schema: {
        tags: ['break-glass'],
        summary:
          "Review a break-glass grant once: justified or unjustified (which ends it if still live), with a note; closes the grant's alerts",
        description:
          "The note may name the patient: it is stored encrypted under the patient's data key (erasure shreds it), never audited, and shown to administrators only. " +
          'A second review answers 409 SP_BREAK_GLASS_REVIEWED.',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) }),
        body: Type.Object(
          {
            outcome: Type.Union([Type.Literal('justified'), Type.Literal('unjustified')]),
            note: Type.Optional(Type.String({ maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Grant, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => breakGlass.review(requestContext(req), req.params.id, req.body),
  );
};
