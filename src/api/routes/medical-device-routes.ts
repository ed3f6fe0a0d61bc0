import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { MedicalDeviceService } from '../../alerting/devices/medical-device-service.js';

const DeviceView = Type.Object({
  id: Type.String({ description: 'The device id, also its segment of the MQTT topics' }),
  tenantId: Type.String(),
  kind: Type.Union([Type.Literal('monitor'), Type.Literal('paging-gateway')]),
  certSha256: Type.String({ description: 'SHA-256 (hex) of the DER of its client certificate' }),
  location: Type.String({ description: '<unit>/<bed>' }),
  patientId: Type.Union([Type.String(), Type.Null()]),
  target: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')]),
  lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  removedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  generation: Type.Integer({ description: 'Registrations of this id so far: alarm ids are unique per registration' }),
});

const ChangeBody = Type.Object(
  {
    location: Type.Optional(Type.String({ maxLength: 140, description: '<unit>/<bed>, e.g. 4-west/12' })),
    patientId: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()], {
        description: 'The monitored patient; null: none',
      }),
    ),
    target: Type.Optional(
      Type.Union([Type.String({ maxLength: 140 }), Type.Null()], {
        description: "Where its alarms go; null: its patient's care team or its unit's charge nurse",
      }),
    ),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'nextCursor of the page before' })),
  },
  { additionalProperties: false },
);

const DeviceBody = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64, description: 'e.g. mon-4w-12: letters, digits, ".", "_", "-"' }),
    kind: Type.Optional(Type.Union([Type.Literal('monitor'), Type.Literal('paging-gateway')], { default: 'monitor' })),
    certPem: Type.String({ maxLength: 16384, description: 'PEM client certificate the device presents' }),
    location: Type.String({ maxLength: 140, description: '<unit>/<bed>, e.g. 4-west/12' }),
    patientId: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'The monitored patient' })),
    target: Type.Optional(
      Type.String({
        maxLength: 140,
        description: "Where its alarms go instead of the patient's care team or the unit's charge nurse",
      }),
    ),
  },
  { additionalProperties: false },
);

export interface MedicalDeviceRouteOptions {
  devices: MedicalDeviceService;
}

/**
 * `/v1/medical-devices`: devices that raise alarms over MQTT (`device.manage`). A device is known
 * to the embedded broker by its client certificate; registration and removal are audited.
 */
export const medicalDeviceRoutes: RoutePlugin<MedicalDeviceRouteOptions> = async (app, { devices }) => {
  const tags = ['medical-devices'];
  const permission = { permission: 'device.manage' as const };
  app.get(
    '',
    {
      config: permission,
      schema: {
        tags,
        summary: "The tenant's registered medical devices, by id",
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(DeviceView), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => devices.list(requestContext(req), { limit: req.query.limit ?? 100, cursor: req.query.cursor }),
  );

  app.post(
    '',
    {
      config: permission,
      schema: {
        tags,
        summary: 'Register a medical device (monitor or paging gateway) by its client certificate',
        description:
          "Its alarms go to `target` if given, else its patient's care team, else `charge_nurse@<unit>` of its location. " +
          'A removed id may be registered again.',
        body: DeviceBody,
        response: { 201: DeviceView, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.code(201).send(await devices.add(requestContext(req), req.body)),
  );

  app.get(
    '/:id',
    {
      config: permission,
      schema: {
        tags,
        summary: 'One registered medical device',
        params: IdParam,
        response: { 200: DeviceView, ...problems(401, 403, 404) },
      },
    },
    async (req) => devices.get(requestContext(req), req.params.id),
  );

  app.patch(
    '/:id',
    {
      config: permission,
      schema: {
        tags,
        summary: "Change a medical device's location, patient or alarm target",
        description:
          'Audited `medical_device.changed`. The certificate and kind cannot change: remove the device and register it again.',
        params: IdParam,
        body: ChangeBody,
        response: { 200: DeviceView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => devices.change(requestContext(req), req.params.id, req.body),
  );

  app.delete(
    '/:id',
    {
      config: permission,
      schema: {
        tags,
        summary: 'Remove a medical device: its certificate no longer connects, its later messages are refused',
        params: IdParam,
        response: { 200: DeviceView, ...problems(401, 403, 404) },
      },
    },
    async (req) => devices.remove(requestContext(req), req.params.id),
  );
};
