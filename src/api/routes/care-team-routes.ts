import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientParam, problems } from '../schemas.js';
import type { CareTeamService } from '../../core/care-team-service.js';

const MemberParams = Type.Object({
  ...PatientParam.properties,
  userId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
});
const Member = Type.Object({
  userId: Type.String(),
  addedBy: Type.String({
    description: 'Audit actor that added the member: `user:<id>`, `api-key:<id>` or `client:<id>`',
  }),
  addedAt: Type.String({ format: 'date-time' }),
});

export interface CareTeamRouteOptions {
  careTeams: CareTeamService;
}

/**
 * Care teams (the patient relationship of physicians and nurses), managed by administrators and by
 * integrations holding `careteam.manage` (the admin scope). Every change is audited.
 */
export const careTeamRoutes: RoutePlugin<CareTeamRouteOptions> = async (app, { careTeams }) => {
  app.put(
    '/:id/care-team/:userId',
    {
      config: { permission: 'careteam.manage' },
      schema: {
        tags: ['care-teams'],
        summary: "Add a physician or nurse to the patient's care team (201; 200 when already a member)",
        description:
          "Members see the patient's content; anyone else with a clinical role answers 403 SP_AUTH_NO_RELATIONSHIP unless under break-glass.",
        params: MemberParams,
        response: { 200: Member, 201: Member, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { added, member } = await careTeams.add(requestContext(req), req.params.id, req.params.userId);
      return reply.code(added ? 201 : 200).send(member);
    },
  );

  app.delete(
    '/:id/care-team/:userId',
    {
      config: { permission: 'careteam.manage' },
      schema: {
        tags: ['care-teams'],
        summary: "Remove a user from the patient's care team (204, also when they were not on it)",
        params: MemberParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await careTeams.remove(requestContext(req), req.params.id, req.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/:id/care-team',
    {
      config: { permission: 'careteam.manage' },
      schema: {
        tags: ['care-teams'],
        summary: "The patient's care team (user ids and when they were added)",
        params: PatientParam,
        response: { 200: Type.Object({ items: Type.Array(Member) }), ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => ({ items: await careTeams.list(requestContext(req), req.params.id) }),
  );
};
