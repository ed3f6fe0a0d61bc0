import type { CoreDeps } from '../../core/context.js';
import { AppointmentService } from '../../core/appointment-service.js';
import { NotificationService } from '../../core/notification-service.js';
import { toFhirCommunication } from './communication.js';
import { externalIdOf, FhirAppointments } from './fhir-appointments.js';
import type { FocusReader } from './subscription-worker.js';

/** Who reads a focus resource for a full-resource notification (in the audit log): the subscription it is for. */
export const subscriptionReader = (subscriptionId: string) => `subscription:${subscriptionId}`;

/**
 * The focus resources of `full-resource` notifications, as the FHIR reads answer them: a
 * Communication is one delivery (ehr/fhir/communication.ts), an Appointment is read as `GET
 * Appointment/{id}` reads it (fhir-appointments.ts: its details are PHI, so that read is audited).
 * Only subscriptions whose owner is allowed those reads get full resources (the routes check at
 * create and update, the worker before every send: subscription-service.ts `ownerRefusal`).
 */
export function subscriptionFocusReader(core: CoreDeps): FocusReader {
  const appointments = new FhirAppointments({
    core,
    appointments: new AppointmentService(core, new NotificationService(core)),
  });
  return async (tenantId, type, id, subscriptionId) => {
    if (type === 'Communication') {
      const d = await core.store.read.deliveries.get(id);
      return d && d.tenant_id === tenantId ? toFhirCommunication(d, core.clock()) : null;
    }
    if (type === 'Appointment')
      return appointments
        .read({ tenantId, actor: subscriptionReader(subscriptionId) }, externalIdOf(id))
        .catch(() => null);
    return null;
  };
}
