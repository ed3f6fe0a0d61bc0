import { randomUUID } from 'node:crypto';
import { BACKPORT } from './subscription-topics.js';
import type { PayloadContent } from './subscription.js';

/**
 * The notification Bundles of the R5 Backport IG for R4: a `history` Bundle whose first entry is
 * the SubscriptionStatus (a Parameters resource, profile backport-subscription-status-r4), then one
 * entry per focus resource: with the resource for `full-resource`, only its fullUrl and request for
 * `id-only`, none for `empty`. Counters are strings (R4 has no integer64), as the profile says.
 */

export const STATUS_PROFILE = `${BACKPORT}/backport-subscription-status-r4`;

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status';

export interface StatusFacts {
  base: string;
  subscriptionId: string;
  topic: string;
  status: string;
  eventsSinceStart: number;
  errorCode?: string | null;
}

export interface NotificationEvent {
  eventNumber: number;
  at: number;
  focus: { type: string; id: string };
  /** Relative references, e.g. `CommunicationRequest/<id>`. */
  context: string[];
}

type Param = Record<string, unknown>;

export function subscriptionStatus(
  f: StatusFacts,
  type: NotificationType,
  events: NotificationEvent[],
  content: PayloadContent,
): Param {
  const parameter: Param[] = [
    { name: 'subscription', valueReference: { reference: `${f.base}/Subscription/${f.subscriptionId}` } },
    // The IG: no topic in `empty` notifications (it says what happened); $status shows it to the owner.
    ...(content === 'empty' && type !== 'query-status' ? [] : [{ name: 'topic', valueCanonical: f.topic }]),
    { name: 'status', valueCode: f.status },
    { name: 'type', valueCode: type },
    { name: 'events-since-subscription-start', valueString: String(f.eventsSinceStart) },
  ];
  for (const e of events) {
    parameter.push({
      name: 'notification-event',
      part: [
        { name: 'event-number', valueString: String(e.eventNumber) },
        { name: 'timestamp', valueInstant: new Date(e.at).toISOString() },
        ...(content === 'empty'
          ? []
          : [
              ...(e.focus.id
                ? [{ name: 'focus', valueReference: { reference: `${f.base}/${e.focus.type}/${e.focus.id}` } }]
                : []),
              ...e.context.map((ref) => ({
                name: 'additional-context',
                valueReference: { reference: `${f.base}/${ref}` },
              })),
            ]),
      ],
    });
  }
  if (f.errorCode && type === 'query-status')
    parameter.push({
      name: 'error',
      valueCodeableConcept: {
        coding: [{ system: 'https://sealpost.dev/errors', code: f.errorCode }],
      },
    });
  return { resourceType: 'Parameters', meta: { profile: [STATUS_PROFILE] }, parameter };
}

/**
 * A notification Bundle. `resources` maps `Type/id` to the focus resource as a read would answer it
 * (full-resource only; a focus that no longer reads, e.g. erased, goes as id-only).
 */
export function notificationBundle(
  f: StatusFacts,
  type: Exclude<NotificationType, 'query-status'>,
  events: NotificationEvent[],
  content: PayloadContent,
  now: Date,
  resources: Map<string, object> = new Map(),
): Param {
  const entry: Param[] = [
    {
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: subscriptionStatus(f, type, events, content),
      request: { method: 'GET', url: `${f.base}/Subscription/${f.subscriptionId}/$status` },
      response: { status: '200' },
    },
  ];
  if (content !== 'empty') {
    const seen = new Set<string>();
    for (const e of events) {
      const ref = `${e.focus.type}/${e.focus.id}`;
      if (!e.focus.id || seen.has(ref)) continue;
      seen.add(ref);
      const resource = content === 'full-resource' ? resources.get(ref) : undefined;
      entry.push({
        fullUrl: `${f.base}/${ref}`,
        ...(resource ? { resource } : {}),
        request: { method: 'PUT', url: ref },
        response: { status: '200' },
      });
    }
  }
  return { resourceType: 'Bundle', id: randomUUID(), type: 'history', timestamp: now.toISOString(), entry };
}
