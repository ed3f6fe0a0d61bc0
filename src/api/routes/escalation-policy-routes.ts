import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { EscalationPolicyService } from '../../alerting/escalation-policy-service.js';

const Step = Type.Object(
  {
    targets: Type.Array(Type.String({ minLength: 1, maxLength: 160 }), {
      minItems: 1,
      maxItems: 20,
      description: 'Targets; the literal `target` is the alert’s own target',
    }),
    channels: Type.Array(Type.String({ maxLength: 20 }), {
      minItems: 1,
      maxItems: 4,
      description: 'sms, email, webhook, paging',
    }),
    waitSeconds: Type.Integer({
      description: 'Wait after the step’s last notification before the next step (or expiry)',
    }),
    repeat: Type.Optional(
      Type.Object({ times: Type.Integer(), everySeconds: Type.Integer() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
const Steps = Type.Array(Step, { minItems: 1, maxItems: 20 });
const PolicyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    isDefault: Type.Optional(Type.Boolean()),
    steps: Steps,
    highSteps: Type.Optional(Steps),
    fallbackTargets: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 160 }), { maxItems: 20 })),
  },
  { additionalProperties: false },
);
const PolicyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  isDefault: Type.Boolean(),
  steps: Steps,
  highSteps: Type.Optional(Steps),
  fallbackTargets: Type.Optional(Type.Array(Type.String())),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export interface EscalationPolicyRouteOptions {
  policies: EscalationPolicyService;
}

/** Escalation policies: steps, repeats, waits, the rule set for priority high, fallback targets. */
export const escalationPolicyRoutes: RoutePlugin<EscalationPolicyRouteOptions> = async (app, { policies }) => {
  app.post(
    '',
    {
      config: { permission: 'alert.manage' },
      schema: {
        tags: ['escalation-policies'],
        summary: 'Create an escalation policy (every target checked; isDefault replaces the tenant’s default)',
        body: PolicyBody,
        response: { 201: PolicyView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => reply.code(201).send(await policies.create(requestContext(req), req.body)),
  );

  app.get(
    '',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags: ['escalation-policies'],
        summary:
          'The tenant’s escalation policies, oldest first, in pages (without a default, alerts use the built-in one shown as builtIn)',
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(PolicyView),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
            builtIn: Type.Object({ steps: Steps }),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => ({
      ...(await policies.list(requestContext(req), { limit: req.query.limit ?? 100, cursor: req.query.cursor })),
      builtIn: policies.builtIn(),
    }),
  );

  app.get(
    '/:id',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags: ['escalation-policies'],
        summary: 'One escalation policy',
        params: IdParam,
        response: { 200: PolicyView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => policies.get(requestContext(req), req.params.id),
  );

  app.put(
    '/:id',
    {
      config: { permission: 'alert.manage' },
      schema: {
        tags: ['escalation-policies'],
        summary: 'Replace an escalation policy (open alerts keep the copy they started with)',
        params: IdParam,
        body: PolicyBody,
        response: { 200: PolicyView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => policies.replace(requestContext(req), req.params.id, req.body),
  );

  app.delete(
    '/:id',
    {
      config: { permission: 'alert.manage' },
      schema: {
        tags: ['escalation-policies'],
        summary: 'Delete an escalation policy (open alerts keep their copy)',
        params: IdParam,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await policies.remove(requestContext(req), req.params.id);
      return reply.code(204).send(null);
    },
  );
};
