import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { Type } from 'typebox';
import {
  CreatedNotification,
  IdParam,
  IdempotencyHeaders,
  NotificationBody,
  NotificationView,
  problems,
} from '../schemas.js';
import type { NotificationService } from '../../core/notification-service.js';
import type { Permission } from '../../auth/permissions.js';
import type { PatientAccess } from '../../auth/patient-access.js';
import { AppError } from '../../core/errors.js';
import { DATA_LIMITS, jsonShapeProblem } from '../json-limits.js';

/** Free-form `data` is bounded before anything (fingerprint, signature, template) looks at it. */
function checkData(data: unknown, path: string): void {
  const bad = jsonShapeProblem(data, DATA_LIMITS, path);
  if (bad) throw new AppError('SP_REQ_VALIDATION', bad);
}

/**
 * A person's detached signature (their device key, registered with POST /v1/signers) over the
 * RFC 8785 canonical JSON of this request body without `signature` (in a batch: the item without
 * `signature` and `idempotencyKey`). Checked before anything is written.
 */
const DetachedSignature = Type.Object(
  {
    signerId: Type.String({ minLength: 1, maxLength: 128 }),
    alg: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')]),
    signature: Type.String({
      maxLength: 256,
      description: 'base64url; EdDSA: R ‖ S (64 bytes); ES256: IEEE P1363 r ‖ s (64 bytes), SHA-256',
    }),
  },
  { additionalProperties: false },
);

const SignedNotificationBody = Type.Object(
  { ...NotificationBody.properties, signature: Type.Optional(DetachedSignature) },
  { additionalProperties: false },
);

const BatchItem = Type.Object(
  {
    ...SignedNotificationBody.properties,
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' })),
  },
  { additionalProperties: false },
);

/** Any create permission lets a caller in; the notification's type then decides (auth/permissions.ts). */
const NOTIFICATION_CREATE: Permission[] = [
  'notification.create.scheduling',
  'notification.create.clinical',
  'notification.create.billing',
];

export interface NotificationRouteOptions {
  notifications: NotificationService;
  access: PatientAccess;
}

/** `access`: notification types by permission, and the patient relationship for physicians and nurses. */
export const notificationRoutes: RoutePlugin<NotificationRouteOptions> = async (app, { notifications, access }) => {
  app.post(
    '',
    {
      config: { permission: NOTIFICATION_CREATE },
      schema: {
        tags: ['notifications'],
        summary: 'Send (or schedule) a notification',
        description:
          'Answers 202 once the notification, its delivery jobs and audit entry are durably committed. ' +
          'Replaying the same Idempotency-Key with the same body returns the first answer; a different body is a 422.',
        headers: IdempotencyHeaders,
        body: SignedNotificationBody,
        response: { 202: CreatedNotification, ...problems(400, 401, 403, 404, 409, 413, 422) },
      },
    },
    async (req, reply) => {
      checkData(req.body.data, 'body.data');
      const key = req.headers['idempotency-key'] as string | undefined;
      const ctx = await access.newNotifications(req.principal!, requestContext(req), [req.body]);
      const answer = await notifications.create(ctx, req.body, key);
      return reply.code(answer.status as 202).send(answer.body);
    },
  );

  app.post(
    // '::' escapes the colon in Fastify's router: the path is literally /v1/notifications:batch.
    '::batch',
    {
      bodyLimit: 2 * 1024 * 1024,
      config: { permission: NOTIFICATION_CREATE },
      schema: {
        tags: ['notifications'],
        summary: 'Send up to 500 notifications in one durable transaction (all or none)',
        description:
          'Each item is a notification body plus an optional idempotencyKey. An invalid item fails the whole batch; detail names items[i].',
        body: Type.Object(
          { items: Type.Array(BatchItem, { minItems: 1, maxItems: 500 }) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ items: Type.Array(CreatedNotification) }),
          ...problems(400, 401, 403, 404, 413, 422),
        },
      },
    },
    async (req, reply) => {
      req.body.items.forEach((item, i) => checkData(item.data, `body.items[${i}].data`));
      const ctx = await access.newNotifications(req.principal!, requestContext(req), req.body.items);
      const answers = await notifications.createMany(
        ctx,
        req.body.items.map(({ idempotencyKey, ...input }) => ({ input, idempotencyKey })),
      );
      return reply.code(202).send({ items: answers.map((a) => a.body) });
    },
  );

  app.get(
    '/:id',
    {
      config: { permission: 'notification.read' },
      schema: {
        tags: ['notifications'],
        summary: 'Status of a notification and each delivery',
        params: IdParam,
        response: { 200: NotificationView, ...problems(401, 403, 404) },
      },
    },
    async (req) =>
      notifications.get(await access.notification(req.principal!, requestContext(req), req.params.id), req.params.id),
  );

  app.post(
    '/:id/cancel',
    {
      config: { permission: 'notification.cancel' },
      schema: {
        tags: ['notifications'],
        summary: 'Cancel every delivery that has not gone out yet',
        params: IdParam,
        response: { 200: NotificationView, ...problems(401, 403, 404, 409) },
      },
    },
    async (req) =>
      notifications.cancel(
        await access.notification(req.principal!, requestContext(req), req.params.id),
        req.params.id,
      ),
  );
};
