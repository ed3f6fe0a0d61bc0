import type { DomainEvent, DomainEvents } from '../../core/events.js';
import type { StoreTx } from '../../store/store.js';
import type { FhirSubscriptionRow } from '../../store/repositories/fhir-subscription-repository.js';
import { communicationStatus, topicOf, TOPICS } from './subscription-topics.js';
import { fhirAppointmentId } from './fhir-appointments.js';

/**
 * Core's events → subscription events: for each event, one row per matching `requested` or
 * `active` subscription of its tenant and topic, numbered per subscription, in the transaction of
 * the change itself (so an event exists exactly when its change committed). Ids only.
 */
export class SubscriptionEventSink implements DomainEvents {
  /**
   * @param patientRef the keyed pseudonym of a patient id (the one `patient_ref` holds), so that
   *   the patient filter is matched without the id in clear in the subscription row.
   */
  constructor(private readonly patientRef: (tenantId: string, patientId: string) => string) {}

  async record(tx: StoreTx, events: readonly DomainEvent[]): Promise<void> {
    const listening = new Map<string, FhirSubscriptionRow[]>();
    for (const e of events) {
      const topic = topicOf(e);
      const k = `${e.tenantId}\u0000${topic}`;
      let subs = listening.get(k);
      if (!subs) {
        subs = await tx.fhirSubscriptions.listListening(e.tenantId, TOPICS.find((t) => t.key === topic)!.url);
        listening.set(k, subs);
      }
      if (!subs.length) continue;
      const ref = this.patientRef(e.tenantId, e.patientId);
      for (const s of subs) {
        if (s.end_at != null && s.end_at <= e.at) continue;
        if (s.patient_ref != null && s.patient_ref !== ref) continue;
        if (e.kind === 'delivery.status') {
          if (s.status_filter != null && !s.status_filter.split(',').includes(communicationStatus(e.status))) continue;
          if (s.based_on != null && s.based_on !== e.notificationId) continue;
          await tx.fhirSubscriptions.appendEvent(s.id, {
            tenant_id: e.tenantId,
            focus_type: 'Communication',
            focus_id: e.deliveryId,
            context: JSON.stringify([`CommunicationRequest/${e.notificationId}`]),
            code: e.status,
            at: e.at,
          });
        } else if (e.kind === 'appointment.response') {
          await tx.fhirSubscriptions.appendEvent(s.id, {
            tenant_id: e.tenantId,
            focus_type: 'Appointment',
            focus_id: fhirAppointmentId(e.appointmentId) ?? '',
            context: JSON.stringify([]),
            code: `response-${e.response}`,
            at: e.at,
          });
        } else {
          await tx.fhirSubscriptions.appendEvent(s.id, {
            tenant_id: e.tenantId,
            focus_type: 'Appointment',
            // Its FHIR id (an external id that is not one is hex-encoded); '' when it has none: no focus then.
            focus_id: fhirAppointmentId(e.appointmentId) ?? '',
            context: JSON.stringify(e.notificationIds.map((id) => `CommunicationRequest/${id}`)),
            code: `reminders-${e.change}`,
            at: e.at,
          });
        }
      }
    }
  }
}
