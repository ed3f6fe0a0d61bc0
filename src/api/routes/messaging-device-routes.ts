import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import { DEVICE_PLATFORMS, type DeviceOwner } from '../../core/device-service.js';
import { CIPHER_SUITES } from '../../messaging/messaging-types.js';
import type { DeviceRegistry } from '../../messaging/device-registry.js';
import { MAX_KEY_PACKAGES_PER_UPLOAD, type KeyPackageService } from '../../messaging/key-packages.js';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
const Base64 = (description: string, maxLength = 16_384) => Type.String({ minLength: 1, maxLength, description });

const Anchor = Type.Union(
  [
    Type.Object({
      status: Type.Literal('anchored'),
      entry: Type.String({
        description: 'The audit entry (canonical JSON); details.bindingHash is the SHA-256 (hex) of `binding`',
      }),
      index: Type.Integer({ description: 'Its RFC 9162 leaf index' }),
      treeSize: Type.Integer(),
      inclusion: Type.Array(Type.String(), { description: 'RFC 9162 audit path, bottom-up, base64' }),
      checkpoint: Type.String({ description: 'C2SP signed note of the checkpoint (audit-log key, `checkpointKey`)' }),
    }),
    Type.Object({ status: Type.Literal('pending') }),
  ],
  {
    description:
      'Key transparency: the audit entry with its inclusion proof in a signed checkpoint; `pending` until it has one (trust the device only once anchored)',
  },
);

const MessagingDeviceView = Type.Object({
  deviceId: Type.String(),
  tenantId: Type.String(),
  person: Type.Object({ kind: Type.Union([Type.Literal('user'), Type.Literal('patient')]), id: Type.String() }),
  identity: Type.String({ description: 'base64 of the MLS basic credential identity `sealpost:v1:<tenant>:<device>`' }),
  signatureKey: Type.String({ description: 'base64 of the raw Ed25519 public key' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  binding: Type.String({ description: 'The binding: RFC 8785 JSON signed by the notary key `keyId`' }),
  signature: Type.String({ description: 'base64 Ed25519 signature of the UTF-8 binding' }),
  keyId: Type.String({ description: 'The notary key (/.well-known/sealpost-keys.json)' }),
  registeredAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  registration: Anchor,
  revocation: Type.Union([Anchor, Type.Null()]),
});

const Counts = Type.Record(Type.String(), Type.Object({ available: Type.Integer(), lastResort: Type.Boolean() }), {
  description: 'Per cipher suite',
});

/** People only: a messaging device belongs to a staff user or a patient account. */
function person(req: FastifyRequest): DeviceOwner {
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

export interface MessagingDeviceRouteOptions {
  registry: DeviceRegistry;
  keyPackages: KeyPackageService;
}

/**
 * Messaging devices (the MLS Authentication Service) and their key packages, under /v1/messaging.
 * A device is registered here (not with /v1/me/devices) and removed or wiped with the existing device routes.
 */
export const messagingDeviceRoutes: RoutePlugin<MessagingDeviceRouteOptions> = async (
  app,
  { registry, keyPackages },
) => {
  const tags = ['messaging'];
  const config = { permission: 'message.use' as const };

  app.post(
    '/devices',
    {
      config,
      schema: {
        tags,
        summary: 'Register a messaging device of the signed-in person and bind its MLS signature key',
        description:
          'Creates a device (as POST /v1/me/devices) and its binding, signed by the notary key and committed to the audit log, in one transaction.',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001F\\u007F]+$' }),
            platform: Type.Enum([...DEVICE_PLATFORMS]),
            signatureKey: Base64('base64 of the raw 32-byte Ed25519 public key', 64),
          },
          { additionalProperties: false },
        ),
        response: { 201: MessagingDeviceView, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.code(201).send(await registry.register(person(req), req.body)),
  );

  app.get(
    '/devices',
    {
      config,
      schema: {
        tags,
        summary: "The signed-in person's active messaging devices",
        response: { 200: Type.Object({ items: Type.Array(MessagingDeviceView) }), ...problems(401, 403) },
      },
    },
    async (req) => ({ items: await registry.mine(person(req)) }),
  );

  app.get(
    '/devices/:deviceId',
    {
      config,
      schema: {
        tags,
        summary: 'A messaging device of the tenant, active or revoked, with its key-transparency anchors',
        params: Type.Object({ deviceId: Id }),
        response: { 200: MessagingDeviceView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => registry.get(person(req).tenantId, req.params.deviceId),
  );

  app.get(
    '/people/:kind/:personId/devices',
    {
      config,
      schema: {
        tags,
        summary: "A person's active messaging devices (staff user id, or patient account id)",
        params: Type.Object({ kind: Type.Union([Type.Literal('user'), Type.Literal('patient')]), personId: Id }),
        response: { 200: Type.Object({ items: Type.Array(MessagingDeviceView) }), ...problems(400, 401, 403) },
      },
    },
    async (req) => ({
      items: await registry.ofPerson(person(req).tenantId, { kind: req.params.kind, id: req.params.personId }),
    }),
  );

  app.post(
    '/devices/:deviceId/key-packages',
    {
      // 101 X-Wing packages (about 2.7 kB each, a third more in base64) exceed the server's default body limit.
      bodyLimit: 1024 * 1024,
      config,
      schema: {
        tags,
        summary: "Upload key packages of one of the caller's devices (all or nothing)",
        description:
          "Each is an encoded MLSMessage (mls_key_package) with this device's credential and signature key; a duplicate is ignored; a last-resort package replaces the previous one of its suite.",
        params: Type.Object({ deviceId: Id }),
        body: Type.Object(
          {
            keyPackages: Type.Array(Base64('An encoded MLSMessage (mls_key_package)'), {
              minItems: 1,
              maxItems: MAX_KEY_PACKAGES_PER_UPLOAD,
            }),
            lastResort: Type.Optional(Base64('An encoded MLSMessage (mls_key_package), handed out when none is left')),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ stored: Type.Integer(), counts: Counts }), ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await keyPackages.upload(person(req), req.params.deviceId, req.body)),
  );

  app.get(
    '/devices/:deviceId/key-packages',
    {
      config,
      schema: {
        tags,
        summary: "Key packages held for one of the caller's devices, per cipher suite",
        params: Type.Object({ deviceId: Id }),
        response: { 200: Type.Object({ counts: Counts }), ...problems(400, 401, 403) },
      },
    },
    async (req) => keyPackages.counts(person(req), req.params.deviceId),
  );

  app.post(
    '/key-packages/claim',
    {
      config,
      schema: {
        tags,
        summary: 'Claim one key package of each active device (single use; the last-resort one when none is left)',
        description:
          "For adding the devices to `conversationId`: the caller is on its roster, `cipherSuite` is the conversation's, and each device belongs to a roster person or to the caller. At most 1000 packages per person per minute (429).",
        body: Type.Object(
          {
            conversationId: Id,
            deviceIds: Type.Array(Id, { minItems: 1, maxItems: 200 }),
            cipherSuite: Type.Enum([...CIPHER_SUITES]),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({ deviceId: Type.String(), keyPackage: Type.String(), lastResort: Type.Boolean() }),
            ),
            missing: Type.Array(Type.String(), {
              description: 'Devices with no package of the suite, revoked or unknown',
            }),
          }),
          ...problems(400, 401, 403, 404, 429),
        },
      },
    },
    async (req) => {
      const who = person(req);
      return keyPackages.claim(
        { ...who, person: { kind: who.kind, id: who.id } },
        req.body.conversationId,
        req.body.deviceIds,
        req.body.cipherSuite,
      );
    },
  );
};
