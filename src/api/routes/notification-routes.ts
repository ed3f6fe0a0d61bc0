import type { TypedApp } from '../types.js';
import { requestContext } from '../types.js';
import { CreatedNotification, IdParam, IdempotencyHeaders, NotificationBody, NotificationView, problems } from '../schemas.js';
import type { NotificationService } from '../../core/notification-service.js';

export function notificationRoutes(app: TypedApp, notifications: NotificationService): void {
  app.post(
    '/v1/notifications',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Send (or schedule) a notification',
        description:
          'Answers 202 once the notification, its delivery jobs and audit entry are durably committed. ' +
          'Replaying the same Idempotency-Key with the same body returns the first answer; a different body is a 422.',
        headers: IdempotencyHeaders,
        body: NotificationBody,
        response: { 202: CreatedNotification, ...problems(400, 401, 404, 413, 422) },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'] as string | undefined;
      const answer = await notifications.create(requestContext(req), req.body, key);
      return reply.code(answer.status as 202).send(answer.body);
    },
  );

  app.get(
    '/v1/notifications/:id',
    { schema: { tags: ['notifications'], summary: 'Status of a notification and each delivery', params: IdParam, response: { 200: NotificationView, ...problems(401, 404) } } },
    async (req) => notifications.get(requestContext(req), req.params.id),
  );

  app.post(
    '/v1/notifications/:id/cancel',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Cancel every delivery that has not gone out yet',
        params: IdParam,
        response: { 200: NotificationView, ...problems(401, 404, 409) },
      },
    },
    async (req) => notifications.cancel(requestContext(req), req.params.id),
  );
}
