import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import { DEVICE_PLATFORMS, MAX_DEVICES, type DeviceOwner, type DeviceService } from '../../core/device-service.js';

const DeviceView = Type.Object({
  id: Type.String(),
  platform: Type.String(),
  name: Type.String(),
  hasPushToken: Type.Boolean({ description: 'The token itself is never returned' }),
  createdAt: Type.String({ format: 'date-time' }),
});

/** People only: a device belongs to a staff user or a patient account, never to an API key or client. */
function owner(req: FastifyRequest): DeviceOwner {
  const p = req.principal!;
  if (p.kind !== 'user' && p.kind !== 'patient') throw new AppError('SP_AUTH_FORBIDDEN');
  return {
    tenantId: p.tenantId,
    kind: p.kind,
    id: p.id,
    patientId: p.patientId,
    actor: p.actor,
    requestId: req.id,
    sourceIp: req.ip,
  };
}

export interface DeviceRouteOptions {
  devices: DeviceService;
}

/**
 * The caller's own devices (apps and their push tokens). A remote wipe (`POST
 * /v1/users/{id}/revoke-sessions`, or disabling a patient account) revokes them all.
 */
export const deviceRoutes: RoutePlugin<DeviceRouteOptions> = async (app, { devices }) => {
  app.post(
    '',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['devices'],
        summary: 'Register a device of the signed-in person (push token encrypted at rest)',
        description: `People only (staff and patient sessions); at most ${MAX_DEVICES} live devices each.`,
        body: Type.Object(
          {
            platform: Type.Enum([...DEVICE_PLATFORMS]),
            name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001F\\u007F]+$' }),
            pushToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, pattern: '^[\\x21-\\x7E]+$' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: DeviceView, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.code(201).send(await devices.register(owner(req), req.body)),
  );

  app.get(
    '',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['devices'],
        summary: "The signed-in person's live devices (without push tokens)",
        response: { 200: Type.Object({ items: Type.Array(DeviceView) }), ...problems(401, 403) },
      },
    },
    async (req) => ({ items: await devices.list(owner(req)) }),
  );

  app.delete(
    '/:id',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['devices'],
        summary: "Remove one of the signed-in person's devices (its push token is dropped)",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await devices.remove(owner(req), req.params.id);
      return reply.code(204).send(null);
    },
  );
};
