import type { AnnouncedDeliveryStatus, DomainEvent } from '../../core/events.js';

/**
 * The subscription topics Sealpost offers (R5 Backport IG for R4, topic-based subscriptions).
 * A Subscription names one by its canonical URL in `criteria`; its filters come from the IG's
 * `backport-filter-criteria` extension on `_criteria` (`<Resource>?<param>=<value>[&…]`).
 */

export const TOPIC_BASE = 'https://sealpost.dev/fhir/SubscriptionTopic';
export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

export type TopicKey = 'communication-status' | 'appointment-reminders' | 'appointment-response';

export interface TopicDefinition {
  key: TopicKey;
  url: string;
  title: string;
  description: string;
  /** The focus resource type of its notifications, the only one filter criteria may name. */
  resource: 'Communication' | 'Appointment';
  /** Filter parameters and what they match. */
  filters: Record<string, string>;
}

export const TOPICS: readonly TopicDefinition[] = [
  {
    key: 'communication-status',
    url: `${TOPIC_BASE}/communication-status`,
    title: 'Delivery status of a notification',
    description:
      'A Communication (one delivery of a notification) changed status: sent, delivered, read, failed, dead (every channel failed), cancelled or suppressed. The focus is the Communication; the CommunicationRequest it is based on is additional context.',
    resource: 'Communication',
    filters: {
      patient: 'Patient/<id>: only this patient’s deliveries',
      status: 'a Communication.status code (completed, not-done, stopped); comma-separated for several',
      'based-on': 'CommunicationRequest/<id>: only the deliveries of this notification',
    },
  },
  {
    key: 'appointment-reminders',
    url: `${TOPIC_BASE}/appointment-reminders`,
    title: 'Reminders of an appointment scheduled or cancelled',
    description:
      'Booking or moving an appointment scheduled its reminder series, or moving or cancelling it cancelled the pending reminders. The focus is the Appointment; the reminders (CommunicationRequest) are additional context.',
    resource: 'Appointment',
    filters: { patient: 'Patient/<id>: only this patient’s appointments' },
  },
  {
    key: 'appointment-response',
    url: `${TOPIC_BASE}/appointment-response`,
    title: 'The patient answered an appointment reminder',
    description:
      'The patient confirmed or declined an appointment by replying to its reminder (a reply code by SMS). The focus is the Appointment, whose patient participant status is now accepted (confirmed) or declined; the notification event code is response-confirmed or response-declined.',
    resource: 'Appointment',
    filters: { patient: 'Patient/<id>: only this patient’s appointments' },
  },
];

export function topicByUrl(url: string): TopicDefinition | undefined {
  return TOPICS.find((t) => t.url === url);
}

export function topicOf(e: DomainEvent): TopicKey {
  return e.kind === 'delivery.status'
    ? 'communication-status'
    : e.kind === 'appointment.response'
      ? 'appointment-response'
      : 'appointment-reminders';
}

/**
 * Communication.status (R4 event-status) of a delivery status, as the Communication read shows it
 * (ehr/fhir/communication.ts EVENT_STATUS): `completed` once it left (sent, delivered, read),
 * `not-done` when it failed or was suppressed, `stopped` when cancelled.
 */
export function communicationStatus(s: AnnouncedDeliveryStatus | string): string {
  switch (s) {
    case 'sent':
    case 'delivered':
    case 'read':
      return 'completed';
    case 'failed':
    case 'dead':
    case 'suppressed':
      return 'not-done';
    case 'cancelled':
      return 'stopped';
    case 'queued':
    case 'sending':
      return 'in-progress';
    default:
      return 'preparation';
  }
}

export const COMMUNICATION_STATUSES = ['preparation', 'in-progress', 'completed', 'stopped', 'not-done'] as const;
