import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { OpsService } from '../../core/ops-service.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Count = Type.Object({ status: Type.String(), channel: Type.String(), n: Type.Integer() });
const Stats = Type.Object({
  window: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  bucketSeconds: Type.Integer(),
  buckets: Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), counts: Type.Array(Count) })),
  totals: Type.Array(Count),
  failures: Type.Array(
    Type.Object({ code: Nullable(Type.String()), channel: Type.String(), status: Type.String(), n: Type.Integer() }),
  ),
  queue: Type.Object({
    due: Type.Integer(),
    scheduled: Type.Integer(),
    sending: Type.Integer(),
    oldestDueAt: Nullable(Type.String({ format: 'date-time' })),
    lagSeconds: Type.Integer(),
    byChannel: Type.Array(
      Type.Object({ channel: Type.String(), due: Type.Integer(), scheduled: Type.Integer(), sending: Type.Integer() }),
    ),
  }),
  providers: Type.Array(
    Type.Object({
      channel: Type.String(),
      provider: Type.String(),
      mode: Type.String({ description: '`live` or `dev-outbox`' }),
      succeeded: Type.Integer(),
      failed: Type.Integer(),
      topErrorCode: Nullable(Type.String()),
      health: Type.String({ description: '`idle`, `ok`, `degraded` or `failing` (last hour)' }),
    }),
  ),
  generatedAt: Type.String({ format: 'date-time' }),
});
const DeadLetter = Type.Object({
  id: Type.String(),
  notificationId: Type.String(),
  channel: Type.String(),
  provider: Nullable(Type.String()),
  errorCode: Nullable(Type.String()),
  attempts: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  diedAt: Type.String({ format: 'date-time' }),
});
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });
const Changed = Type.Object({ id: Type.String(), status: Type.String() });

export interface OpsConsoleRouteOptions {
  ops: OpsService;
}

/**
 * The operations overview of the caller's tenant (PHI-free: counts, channels, statuses, error codes
 * and ids) and its dead letters with retry and cancel (audited). Mounted under /v1/ops.
 */
export const opsConsoleRoutes: RoutePlugin<OpsConsoleRouteOptions> = async (app, { ops }) => {
  app.get(
    '/deliveries/stats',
    {
      config: { permission: 'ops.read' },
      schema: {
        tags: ['ops'],
        summary:
          'Deliveries by status and channel over the last hour (5-minute buckets), day (hours) or week (6 hours); queue depth and lag; failures by error code; provider health',
        querystring: Type.Object(
          { window: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('week')])) },
          { additionalProperties: false },
        ),
        response: { 200: Stats, ...problems(400, 401, 403) },
      },
    },
    async (req) => ops.stats(requestContext(req), req.query.window ?? 'day'),
  );

  app.get(
    '/dead-letters',
    {
      config: { permission: 'ops.read' },
      schema: {
        tags: ['ops'],
        summary: 'Dead letters (deliveries with no channel left), most recent first',
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            cursor: Type.Optional(Type.String({ maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(DeadLetter), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => ops.deadLetters(requestContext(req), { limit: req.query.limit ?? 50, cursor: req.query.cursor }),
  );

  app.post(
    '/dead-letters/:id/retry',
    {
      config: { permission: 'ops.manage' },
      schema: {
        tags: ['ops'],
        summary: 'Send a dead letter again on its channel, now, with its attempts counted afresh (audited)',
        params: Id,
        response: { 200: Changed, ...problems(400, 401, 403, 404, 409, 410) },
      },
    },
    async (req) => ops.retry(requestContext(req), req.params.id),
  );

  app.post(
    '/dead-letters/:id/cancel',
    {
      config: { permission: 'ops.manage' },
      schema: {
        tags: ['ops'],
        summary: 'Close a dead letter: cancelled, never sent (audited)',
        params: Id,
        response: { 200: Changed, ...problems(400, 401, 403, 404, 409, 410) },
      },
    },
    async (req) => ops.cancel(requestContext(req), req.params.id),
  );
};
