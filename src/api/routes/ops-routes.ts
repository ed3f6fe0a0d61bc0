import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import type { Store } from '../../store/store.js';

export interface OpsRouteOptions {
  store: Store;
  /** False while the database is not yet reachable at start. */
  started?: () => boolean;
}

/**
 * Liveness and readiness: public, PHI-free by construction. Prometheus metrics are not here: they
 * have a listener of their own (metrics-server.ts).
 */
export const opsRoutes: RoutePlugin<OpsRouteOptions> = async (app, { store, started = () => true }) => {
  app.get(
    '/healthz',
    {
      config: { permission: 'public' },
      schema: { tags: ['ops'], summary: 'Process is alive', response: { 200: Type.Object({ ok: Type.Boolean() }) } },
    },
    async () => ({ ok: true }),
  );

  app.get(
    '/readyz',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['ops'],
        summary: 'Ready to serve: the database answers',
        response: { 200: Type.Object({ ready: Type.Boolean() }), 503: Type.Object({ ready: Type.Boolean() }) },
      },
    },
    async (_req, reply) => {
      try {
        if (!started()) throw new Error('not started');
        await store.ping();
        return { ready: true };
      } catch {
        return reply.code(503).send({ ready: false });
      }
    },
  );
};
