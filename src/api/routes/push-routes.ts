import { readFileSync } from 'node:fs';
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import type { PatientReader } from '../../core/patient-account-service.js';
import { MAX_PUSH_REGISTRATIONS, type PushRegistrationService } from '../../core/push-registration-service.js';
import { PUSH_KINDS } from '../../channels/push/push-target.js';
import type { VapidKeys } from '../../channels/push/vapid-keys.js';
import { scriptOf, sendScript } from '../sdk-bundle.js';

const WORKER = scriptOf(readFileSync(new URL('../portal-push-sw.js', import.meta.url), 'utf8'));
const CLIENT = scriptOf(readFileSync(new URL('../portal-push.js', import.meta.url), 'utf8'));

const Registration = Type.Object({
  id: Type.String(),
  kind: Type.Enum([...PUSH_KINDS]),
  label: Type.Union([Type.String(), Type.Null()]),
  service: Type.Union([Type.String(), Type.Null()], { description: "Web Push: the push service's host" }),
  createdAt: Type.String({ format: 'date-time' }),
});

/** The signed-in patient (push registrations belong to patient accounts only). */
function reader(req: FastifyRequest): PatientReader {
  const p = req.principal!;
  if (p.kind !== 'patient' || !p.patientId) throw new AppError('SP_AUTH_FORBIDDEN');
  return { tenantId: p.tenantId, accountId: p.id, patientId: p.patientId, requestId: req.id, sourceIp: req.ip };
}

export interface PushRouteOptions {
  push: PushRegistrationService;
  vapidKeys: () => Promise<VapidKeys>;
}

/**
 * Push registrations of the signed-in patient (`/v1/me/push-subscriptions`) and the VAPID public key
 * (`/v1/push/vapid-public-key`) a browser subscribes with. Registered under `/v1`.
 */
export const pushRoutes: RoutePlugin<PushRouteOptions> = async (app, { push, vapidKeys }) => {
  app.get(
    '/push/vapid-public-key',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['push'],
        summary: "The installation's VAPID public key (applicationServerKey of PushManager.subscribe)",
        response: { 200: Type.Object({ publicKey: Type.String() }) },
      },
    },
    async () => ({ publicKey: (await vapidKeys()).publicKey }),
  );

  app.post(
    '/me/push-subscriptions',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['push'],
        summary: 'Register a device of the signed-in patient for push notifications (sealed; never returned)',
        description:
          "`webpush`: `subscription` is the JSON of the browser's PushSubscription (its endpoint must pass the " +
          "outbound address policy of webhooks). `fcm` / `apns`: `token` is the app's registration or device " +
          `token. The same endpoint or token again renews that registration (200); at most ${MAX_PUSH_REGISTRATIONS} each.`,
        body: Type.Object(
          {
            kind: Type.Enum([...PUSH_KINDS]),
            subscription: Type.Optional(
              Type.Object(
                {
                  endpoint: Type.String({ minLength: 1, maxLength: 2048 }),
                  expirationTime: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
                  keys: Type.Object(
                    {
                      p256dh: Type.String({ minLength: 1, maxLength: 200 }),
                      auth: Type.String({ minLength: 1, maxLength: 200 }),
                    },
                    { additionalProperties: false },
                  ),
                },
                { additionalProperties: false },
              ),
            ),
            token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
            label: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001F\\u007F]+$' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Registration, 201: Registration, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const { view, created } = await push.register(reader(req), req.body);
      return reply.code(created ? 201 : 200).send(view);
    },
  );

  app.get(
    '/me/push-subscriptions',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['push'],
        summary: "The signed-in patient's push registrations, newest first (without subscriptions or tokens)",
        response: { 200: Type.Object({ items: Type.Array(Registration) }), ...problems(401, 403) },
      },
    },
    async (req) => ({ items: await push.list(reader(req)) }),
  );

  app.delete(
    '/me/push-subscriptions/:id',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['push'],
        summary: "Remove one of the signed-in patient's push registrations",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await push.remove(reader(req), req.params.id);
      return reply.code(204).send(null);
    },
  );
};

/**
 * The portal's service worker (`/portal/push-sw.js`: its scope is `/portal/`) and the module the
 * signed-in page calls to subscribe (`/portal/assets/push.js`). Registered under `/portal`; public
 * (code, no data).
 */
export const pushWorkerRoutes: RoutePlugin<object> = async (app) => {
  const pub = { config: { permission: 'public' as const }, schema: { hide: true } };
  // A worker's own policy is its script's: it may fetch this origin (to register a renewed subscription), nothing else.
  app.get('/push-sw.js', pub, async (req, reply) =>
    sendScript(
      req,
      reply
        .header('service-worker-allowed', '/portal/')
        .header('content-security-policy', "default-src 'none'; connect-src 'self'"),
      WORKER,
    ),
  );
  app.get('/assets/push.js', pub, async (req, reply) => sendScript(req, reply, CLIENT));
};
