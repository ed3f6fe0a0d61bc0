import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { GroupService } from '../../alerting/directory/group-service.js';
import { UserId } from './schedule-routes.js';

// The same shapes as an alert target `<role>@<unit>` (alerting/alert-types.ts).
const RoleParams = Type.Object({
  unit: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$' }),
  role: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,49}$' }),
});
const RoleBody = Type.Object(
  {
    userIds: Type.Optional(Type.Array(UserId, { maxItems: 100 })),
    scheduleId: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()], {
        description: 'Whoever is on call on this schedule holds the role too',
      }),
    ),
  },
  { additionalProperties: false },
);
const RoleView = Type.Object({
  unit: Type.String(),
  role: Type.String(),
  userIds: Type.Array(Type.String()),
  scheduleId: Type.Union([Type.String(), Type.Null()]),
  updatedBy: Type.String(),
  updatedAt: Type.String({ format: 'date-time' }),
});

export interface UnitRouteOptions {
  groups: GroupService;
}

/** `/v1/units/{unit}/roles/{role}`: who holds a role in a unit (alert target `<role>@<unit>`). */
export const unitRoutes: RoutePlugin<UnitRouteOptions> = async (app, { groups }) => {
  const tags = ['units'];
  app.put(
    '/:unit/roles/:role',
    {
      config: { permission: 'alert.manage' },
      schema: {
        tags,
        summary: 'Assign a role in a unit to listed users and/or a schedule (201 new, 200 replaced)',
        params: RoleParams,
        body: RoleBody,
        response: { 200: RoleView, 201: RoleView, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const { unit, role } = req.params;
      const { created, view } = await groups.putUnitRole(requestContext(req), unit, role, req.body);
      return reply.code(created ? 201 : 200).send(view);
    },
  );
  app.get(
    '',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags,
        summary: 'Every role assignment in the units of the tenant, by unit then role',
        response: { 200: Type.Object({ items: Type.Array(RoleView) }), ...problems(401, 403) },
      },
    },
    async (req) => ({ items: await groups.listUnitRoles(requestContext(req)) }),
  );
  app.get(
    '/:unit/roles/:role',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags,
        summary: 'Who is assigned a role in a unit',
        params: RoleParams,
        response: { 200: RoleView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => groups.getUnitRole(requestContext(req), req.params.unit, req.params.role),
  );
  app.delete(
    '/:unit/roles/:role',
    {
      config: { permission: 'alert.manage' },
      schema: {
        tags,
        summary: 'Remove the assignment (targets naming the role then resolve empty)',
        params: RoleParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await groups.removeUnitRole(requestContext(req), req.params.unit, req.params.role);
      return reply.code(204).send(null);
    },
  );
};
