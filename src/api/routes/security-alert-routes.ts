import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { BreakGlassService } from '../../core/break-glass-service.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Alert = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: '`break_glass`, or another security event an administrator should review' }),
  actor: Type.String(),
  targetType: Type.String(),
  targetId: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  acknowledgedAt: Nullable(Type.String({ format: 'date-time' })),
  acknowledgedBy: Nullable(Type.String()),
  closedAt: Nullable(Type.String({ format: 'date-time' })),
  closedBy: Nullable(Type.String()),
  closeNote: Type.Optional(
    Nullable(Type.String({ description: 'Administrators only (audit.read as well); the read is audited' })),
  ),
});
const AlertId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });

export interface SecurityAlertRouteOptions {
  alerts: BreakGlassService;
}

/** Administrator alerts (identifiers only, no PHI). */
export const securityAlertRoutes: RoutePlugin<SecurityAlertRouteOptions> = async (app, { alerts }) => {
  app.get(
    '',
    {
      config: { permission: 'securityalert.read' },
      schema: {
        tags: ['security-alerts'],
        summary: 'Administrator alerts, newest first (`open=true`: unacknowledged only)',
        querystring: Type.Object(
          {
            open: Type.Optional(Type.Boolean()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Alert), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) =>
      alerts.listAlerts(requestContext(req), {
        limit: req.query.limit ?? 100,
        cursor: req.query.cursor,
        openOnly: req.query.open === true,
        // Notes may name a patient: administrators (audit.read + alert.read) read them, as grants' reasons.
        withNotes: req.principal!.permissions.has('audit.read'),
      }),
  );

  app.post(
    '/:id/acknowledge',
    {
      config: { permission: 'securityalert.read' },
      schema: {
        tags: ['security-alerts'],
        summary: 'Acknowledge an alert (audited; acknowledging again changes nothing)',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) }),
        response: { 200: Alert, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => alerts.acknowledge(requestContext(req), req.params.id),
  );

  app.post(
    '/:id/close',
    {
      config: { permission: 'securityalert.read' },
      schema: {
        tags: ['security-alerts'],
        summary: 'Close an alert once, with an optional closing note (stored encrypted; acknowledges it too)',
        description:
          'A second close answers 409 SP_SECURITY_ALERT_CLOSED. The note is never audited, only that one was written.',
        params: AlertId,
        body: Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false }),
        response: { 200: Alert, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => alerts.close(requestContext(req), req.params.id, req.body),
  );
};
