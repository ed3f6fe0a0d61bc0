import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import type { Store } from '../../store/store.js';
import { topicByUrl } from '../../ehr/fhir/subscription-topics.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

const DeliveryView = Type.Object({
  id: Type.String({ description: 'The Subscription id (GET /fhir/R4/Subscription/{id})' }),
  topic: Type.String({ description: 'Topic key, e.g. communication-status' }),
  status: Type.String({ description: 'requested | active | error | off' }),
  errorCode: Nullable(Type.String({ description: 'Sealpost error code of the last failed attempt' })),
  eventsSinceStart: Type.Integer(),
  eventsSent: Type.Integer({ description: 'Events delivered (acknowledged 2xx by the endpoint)' }),
  failures: Type.Integer({ description: 'Failed attempts in a row (0 after a success)' }),
  lastDeliveryAt: Nullable(Type.String({ description: 'Last successful send (handshake, heartbeat or events)' })),
  nextAttemptAt: Nullable(Type.String({ description: 'When the next attempt is due, while requested or active' })),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export interface SubscriptionStatusRouteOptions {
  store: Store;
}

/**
 * `GET /v1/subscriptions`: how the tenant's FHIR Subscriptions are being delivered, beside the
 * FHIR reads (which carry status and error but not the delivery counters): events, failures in a
 * row, last delivery and next attempt. Ids, codes, counts and times only; no endpoint, header or
 * filter (those are read, redacted, from /fhir/R4/Subscription).
 */
export const subscriptionStatusRoutes: RoutePlugin<SubscriptionStatusRouteOptions> = async (app, { store }) => {
  app.get(
    '/subscriptions',
    {
      config: { permission: 'subscription.manage' },
      schema: {
        tags: ['fhir'],
        summary: "Delivery state of the tenant's FHIR Subscriptions (events, failures, last delivery)",
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(DeliveryView) }), ...problems(400, 401, 403) },
      },
    },
    async (req) => {
      const rows = await store.read.fhirSubscriptions.list(req.principal!.tenantId, req.query.limit ?? 200);
      return {
        items: rows.map((r) => ({
          id: r.id,
          topic: topicByUrl(r.topic)?.key ?? r.topic,
          status: r.status,
          errorCode: r.error_code,
          eventsSinceStart: Number(r.events_since_start),
          eventsSent: Number(r.events_sent),
          failures: Number(r.failures),
          lastDeliveryAt: iso(r.last_sent_at),
          nextAttemptAt: r.status === 'requested' || r.status === 'active' ? iso(r.next_attempt_at) : null,
          createdAt: iso(r.created_at)!,
          updatedAt: iso(r.updated_at)!,
        })),
      };
    },
  );
};
