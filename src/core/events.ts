import type { StoreTx } from '../store/store.js';

/**
 * What core announces about its own state changes, from INSIDE the transaction that makes them: a
 * listener (the FHIR Subscriptions of src/ehr) records what it needs with the same `tx`, so an event
 * commits exactly when its change does (none lost on a crash, none invented by a rollback).
 *
 * Events carry ids only (the patient id is there to match filters; listeners must not let it leave
 * in clear text where an id must not appear).
 */

/** The delivery statuses a subscriber hears about (the ones that matter to the EHR). */
export type AnnouncedDeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed' | 'dead' | 'cancelled' | 'suppressed';

export interface DeliveryStatusChanged {
  kind: 'delivery.status';
  tenantId: string;
  patientId: string;
  deliveryId: string;
  notificationId: string;
  status: AnnouncedDeliveryStatus;
  /** The delivery's channel, when the announcer knows it (the delivery worker does). */
  channel?: string;
  /** Epoch milliseconds of the change. */
  at: number;
}

export interface AppointmentRemindersChanged {
  kind: 'appointment.reminders';
  tenantId: string;
  patientId: string;
  /** The appointment's external id (its FHIR id). */
  appointmentId: string;
  /** `scheduled`: a booking or rescheduling created reminders; `cancelled`: pending reminders were cancelled. */
  change: 'scheduled' | 'cancelled';
  /** The reminders (notification ids) created or cancelled. */
  notificationIds: string[];
  at: number;
}

/** The patient answered an appointment's reminder (a reply code by SMS): confirmed or declined. */
export interface AppointmentResponseChanged {
  kind: 'appointment.response';
  tenantId: string;
  patientId: string;
  /** The appointment's external id (its FHIR id). */
  appointmentId: string;
  response: 'confirmed' | 'declined';
  /** The channel the answer came by. */
  channel: 'sms';
  at: number;
}

export type DomainEvent = DeliveryStatusChanged | AppointmentRemindersChanged | AppointmentResponseChanged;

/** The port: whoever listens to core's events. Optional in CoreDeps (no listener: nothing happens). */
export interface DomainEvents {
  /**
   * Records `events` with `tx`, the transaction that made the changes. Must only write through `tx`
   * (never `store.read` or another transaction); a failure fails the caller's transaction, so the
   * change and its events commit or roll back together.
   */
  record(tx: StoreTx, events: readonly DomainEvent[]): Promise<void>;
}

/** Hands `events` to the listener, if there is one and anything to say. */
export async function announce(
  deps: { events?: DomainEvents },
  tx: StoreTx,
  events: readonly DomainEvent[],
): Promise<void> {
  if (deps.events && events.length) await deps.events.record(tx, events);
}

const ANNOUNCED = new Set<string>(['sent', 'delivered', 'read', 'failed', 'dead', 'cancelled', 'suppressed']);

/** Whether a delivery status is one subscribers hear about. */
export function isAnnounced(status: string): status is AnnouncedDeliveryStatus {
  return ANNOUNCED.has(status);
}

/** `delivery.status` events for deliveries of one notification that moved to `status` together (e.g. a cancel). */
export function deliveryEvents(
  n: { tenant_id: string; patient_id: string; id: string },
  deliveryIds: readonly string[],
  status: AnnouncedDeliveryStatus,
  at: number,
): DeliveryStatusChanged[] {
  return deliveryIds.map((deliveryId) => ({
    kind: 'delivery.status',
    tenantId: n.tenant_id,
    patientId: n.patient_id,
    deliveryId,
    notificationId: n.id,
    status,
    at,
  }));
}

/** What an appointment's booking, move or cancellation did to its reminders, as events (cancelled first). */
export function reminderEvents(
  tenantId: string,
  patientId: string,
  appointmentId: string,
  cancelled: readonly string[],
  created: readonly string[],
  at: number,
): AppointmentRemindersChanged[] {
  const base = { kind: 'appointment.reminders' as const, tenantId, patientId, appointmentId, at };
  return [
    ...(cancelled.length ? [{ ...base, change: 'cancelled' as const, notificationIds: [...cancelled] }] : []),
    ...(created.length ? [{ ...base, change: 'scheduled' as const, notificationIds: [...created] }] : []),
  ];
}
