import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, IdempotencyHeaders, PatientIdString, problems } from '../schemas.js';
import type { AlertService } from '../../alerting/alert-service.js';
import type { PatientAccess } from '../../auth/patient-access.js';
import type { Principal } from '../../auth/principal.js';
import { ALERT_PRIORITIES, ALERT_STATES, type AlertState, type ResponseVia } from '../../alerting/alert-types.js';
import { AppError } from '../../core/errors.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';
const TargetString = Type.String({
  minLength: 3,
  maxLength: 160,
  description: '`user:<id>`, `<role>@<unit>`, `group:<id>`, `schedule:<id>` or `careteam:<patientId>`',
});
const UserId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });

const TriggerBody = Type.Object(
  {
    priority: Type.Union(ALERT_PRIORITIES.map((p) => Type.Literal(p))),
    target: TargetString,
    patientId: Type.Optional(PatientIdString),
    summary: Type.String({
      minLength: 1,
      maxLength: 160,
      description: 'PHI-free (lock screens, pagers): no names, dates, identifiers, contacts or links',
    }),
    details: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4000, description: 'PHI: sealed, shown after sign-in' }),
    ),
    source: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$' })),
    dedupKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL })),
    policyId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' })),
  },
  { additionalProperties: false },
);
const Triggered = Type.Object({ alertId: Type.String(), created: Type.Boolean(), count: Type.Integer() });

const AlertView = Type.Object({
  id: Type.String(),
  priority: Type.String(),
  target: Type.String(),
  patientId: Nullable(
    Type.String({ description: 'null unless the reader has the patient relationship (or was told, as a clinician)' }),
  ),
  summary: Type.String(),
  source: Nullable(Type.String()),
  state: Type.String({ description: ALERT_STATES.join(' | ') }),
  step: Type.Integer({ description: 'The last policy step fired (0-based; -1 before the first)' }),
  count: Type.Integer({ description: 'Triggers folded into this alert by its dedup key' }),
  policyId: Nullable(Type.String({ description: 'null: the built-in policy' })),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastTriggeredAt: Type.String({ format: 'date-time' }),
  acknowledgedAt: Nullable(Type.String({ format: 'date-time' })),
  acknowledgedBy: Nullable(Type.String()),
  closedAt: Nullable(Type.String({ format: 'date-time' })),
  closedBy: Nullable(Type.String()),
});
const AlertDetail = Type.Object({
  ...AlertView.properties,
  timeline: Type.Array(
    Type.Object({
      at: Type.String({ format: 'date-time' }),
      kind: Type.String(),
      actor: Type.String(),
      data: Type.Record(Type.String(), Type.Unknown()),
    }),
  ),
  details: Type.Optional(
    Type.String({
      description: 'Only for a clinician who was told of the alert or has the patient relationship',
    }),
  ),
});
const RespondBody = Type.Object(
  {
    userId: Type.Optional({
      ...UserId,
      description: 'A paging gateway (API key with scope `paging`): the person it answers for',
    }),
    via: Type.Optional(Type.Literal('paging')),
  },
  { additionalProperties: false },
);
const ForwardBody = Type.Object({ ...RespondBody.properties, target: TargetString }, { additionalProperties: false });

export interface ClinicalAlertRouteOptions {
  alerts: AlertService;
  access: PatientAccess;
}

/**
 * Who answers: a person answers as themselves (and only on an alert they were told of, or with the
 * patient relationship: else 404, see AlertService.respond); a system answers only as a paging
 * gateway (scope `paging`) naming a person who was told of the alert. Any other system is refused
 * (403 SP_AUTH_FORBIDDEN): it could otherwise act, and be audited, as anyone.
 */
export function responder(p: Principal, body: { userId?: string; via?: 'paging' } | undefined) {
  if (p.kind === 'user') {
    if (body?.userId && body.userId !== p.id)
      throw new AppError('SP_REQ_VALIDATION', 'userId: a person answers as themselves');
    const person = { userId: p.id, roles: p.roles, sessionId: p.session?.id };
    return { by: { userId: p.id, via: 'api' as ResponseVia }, onlyRecipient: false, person };
  }
  if (!p.scopes.includes('paging')) throw new AppError('SP_AUTH_FORBIDDEN', 'only a paging gateway answers alerts');
  if (!body?.userId || body.via !== 'paging')
    throw new AppError('SP_REQ_VALIDATION', 'userId and via: paging are required');
  return { by: { userId: body.userId, via: 'paging' as ResponseVia }, onlyRecipient: true, person: undefined };
}

/** The reader of an alert: a person (roles, session for break-glass), or a system (no clinical content). */
export const viewerOf = (p: Principal) =>
  p.kind === 'user' ? { userId: p.id, sessionId: p.session?.id, roles: p.roles } : {};

/** Clinical alerts: trigger, list, read, and the responses (acknowledge, decline, forward, resolve). */
export const clinicalAlertRoutes: RoutePlugin<ClinicalAlertRouteOptions> = async (app, { alerts, access }) => {
  app.post(
    '',
    {
      config: { permission: 'alert.trigger' },
      schema: {
        tags: ['alerts'],
        summary: 'Raise a clinical alert (201), or fold it into the open alert with the same dedupKey (200)',
        description:
          'The alert, its first escalation step, the timer of the next and their audit entries are durable before the answer. ' +
          'The summary must be PHI-free (400 SP_ALERT_SUMMARY_PHI, the text is not echoed); details are sealed. ' +
          'Replaying the same Idempotency-Key with the same body returns the first answer; a different body is a 422.',
        headers: IdempotencyHeaders,
        body: TriggerBody,
        response: { 200: Triggered, 201: Triggered, ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      let ctx = requestContext(req);
      if (req.body.patientId) ctx = await access.patient(req.principal!, ctx, req.body.patientId);
      const key = req.headers['idempotency-key'] as string | undefined;
      const r = await alerts.triggerIdempotent(ctx, req.body, key);
      return reply.code(r.created ? 201 : 200).send(r);
    },
  );

  app.get(
    '',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags: ['alerts'],
        summary: 'Clinical alerts, newest first',
        querystring: Type.Object(
          {
            state: Type.Optional(Type.Union(ALERT_STATES.map((s) => Type.Literal(s)))),
            priority: Type.Optional(Type.Union(ALERT_PRIORITIES.map((p) => Type.Literal(p)))),
            open: Type.Optional(Type.Boolean()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(AlertView), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) =>
      alerts.list(
        requestContext(req),
        {
          state: req.query.state as AlertState | undefined,
          priority: req.query.priority,
          open: req.query.open,
          limit: req.query.limit ?? 100,
          cursor: req.query.cursor,
        },
        viewerOf(req.principal!),
      ),
  );

  app.get(
    '/:id',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags: ['alerts'],
        summary: 'One alert: summary, state, count and timeline; details for its recipients (that read is audited)',
        params: IdParam,
        response: { 200: AlertDetail, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => alerts.get(requestContext(req), req.params.id, viewerOf(req.principal!)),
  );

  for (const action of ['acknowledge', 'decline', 'resolve'] as const)
    app.post(
      `/:id/${action}`,
      {
        config: { permission: 'alert.respond' },
        schema: {
          tags: ['alerts'],
          summary:
            action === 'acknowledge'
              ? 'Acknowledge: escalation stops, unsent nudges are cancelled (again: no change)'
              : action === 'decline'
                ? 'Decline: the alert passes on to the next step at once'
                : 'Resolve: the alert is closed, timers and unsent nudges cancelled',
          params: IdParam,
          body: Type.Optional(RespondBody),
          response: { 200: AlertView, ...problems(400, 401, 403, 404, 409) },
        },
      },
      async (req) => {
        const { by, onlyRecipient, person } = responder(req.principal!, req.body);
        return alerts.respond(requestContext(req), req.params.id, action, by, { onlyRecipient, person });
      },
    );

  app.post(
    '/:id/forward',
    {
      config: { permission: 'alert.respond' },
      schema: {
        tags: ['alerts'],
        summary: 'Forward: notify another target now (the escalation goes on)',
        params: IdParam,
        body: ForwardBody,
        response: { 200: AlertView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const { by, onlyRecipient, person } = responder(req.principal!, req.body);
      return alerts.respond(requestContext(req), req.params.id, 'forward', by, {
        onlyRecipient,
        person,
        target: req.body.target,
      });
    },
  );
};
