import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { ListQuery, problems } from '../schemas.js';
import type { Store } from '../../store/store.js';
import { openOutboxRow, type OutboxSealer } from '../../channels/dev-outbox/dev-outbox-channel.js';

export const OutboxItem = Type.Object({
  id: Type.String(),
  deliveryId: Type.String(),
  channel: Type.String(),
  recipient: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  body: Type.String(),
  createdAt: Type.String(),
});

export interface DevOutboxRouteOptions {
  store: Store;
  sealer: OutboxSealer;
}

/** Lists what the dev channels "sent". Registered only when a dev-outbox channel is configured. */
export const devOutboxRoutes: RoutePlugin<DevOutboxRouteOptions> = async (app, { store, sealer }) => {
  app.get(
    '',
    {
      config: { permission: 'outbox.read' },
      schema: {
        tags: ['dev'],
        summary: 'Messages the dev-outbox channels would have sent',
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(OutboxItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(401),
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const rows = await store.read.outbox.list(requestContext(req).tenantId, Number(req.query.cursor ?? 0), limit);
      const items = rows.map((r) => openOutboxRow(r, sealer));
      return { items, nextCursor: rows.length === limit ? String(rows[rows.length - 1].id) : null };
    },
  );
};
