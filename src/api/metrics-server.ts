import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { problem, securityHeaders } from './error-handler.js';
import type { Metrics } from './metrics.js';

/**
 * The Prometheus endpoint on a listener of its own (SEALPOST_METRICS_HOST/_PORT, loopback by
 * default), never on the API's: the counters are PHI-free but tell anyone how busy the service is.
 * Plain HTTP, meant for loopback or a monitoring network; it serves GET /metrics and nothing else.
 */
export async function buildMetricsServer(o: { logger: Logger; metrics: Metrics }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => uuidv7(),
    bodyLimit: 1024,
    requestTimeout: 10_000,
    frameworkErrors: (_err, req, reply) => problem(reply, req, 'SP_REQ_BAD_URL'),
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.headers(securityHeaders(req.id));
  });
  app.setErrorHandler((_err, req, reply) => problem(reply, req, 'SP_SERVER_INTERNAL'));
  app.setNotFoundHandler((req, reply) => problem(reply, req, 'SP_REQ_NOT_FOUND'));
  app.get('/metrics', async (_req, reply) => {
    const body = await o.metrics.render();
    return reply.type(o.metrics.contentType).send(body);
  });
  await app.ready();
  return app as unknown as FastifyInstance;
}
