import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { GroupService } from '../../alerting/directory/group-service.js';
import { UserId } from './schedule-routes.js';

const GroupBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    memberIds: Type.Array(UserId, { maxItems: 500 }),
  },
  { additionalProperties: false },
);
const GroupView = Type.Object({
  id: Type.String(),
  ...GroupBody.properties,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })),
  },
  { additionalProperties: false },
);

export interface GroupRouteOptions {
  groups: GroupService;
}

/** `/v1/groups`: named sets of staff users, addressed by alerts as `group:<id>`. */
export const groupRoutes: RoutePlugin<GroupRouteOptions> = async (app, { groups }) => {
  const tags = ['groups'];
  const read = { permission: 'alert.read' as const };
  const manage = { permission: 'alert.manage' as const };
  app.get(
    '',
    {
      config: read,
      schema: {
        tags,
        summary: 'Staff groups',
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(GroupView), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => groups.list(requestContext(req), req.query.limit ?? 50, req.query.cursor),
  );
  app.post(
    '',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Create a group',
        body: GroupBody,
        response: { 201: GroupView, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await groups.create(requestContext(req), req.body)),
  );
  app.get(
    '/:id',
    {
      config: read,
      schema: {
        tags,
        summary: 'One group',
        params: IdParam,
        response: { 200: GroupView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => groups.get(requestContext(req), req.params.id),
  );
  app.put(
    '/:id',
    {
      config: manage,
      schema: {
        tags,
        summary: "Replace a group's name and members",
        params: IdParam,
        body: GroupBody,
        response: { 200: GroupView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => groups.update(requestContext(req), req.params.id, req.body),
  );
  app.delete(
    '/:id',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Delete a group (targets naming it then resolve empty)',
        params: IdParam,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await groups.remove(requestContext(req), req.params.id);
      return reply.code(204).send(null);
    },
  );
};
