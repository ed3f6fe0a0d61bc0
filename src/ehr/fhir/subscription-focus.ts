import type { CoreDeps } from '../../core/context.js';
import { toFhirCommunication } from './communication.js';
import type { FocusReader } from './subscription-worker.js';

/**
 * The focus resources of `full-resource` notifications, as the FHIR reads answer them: a
 * Communication is one delivery (ehr/fhir/communication.ts). An Appointment focus goes as id-only
 * (its full form would carry the appointment's sealed details to an endpoint that asked for a
 * delivery feed; the EHR reads it with its own credentials when it needs it).
 */
export function subscriptionFocusReader(deps: Pick<CoreDeps, 'store' | 'clock'>): FocusReader {
  return async (tenantId, type, id) => {
    if (type !== 'Communication') return null;
    const d = await deps.store.read.deliveries.get(id);
    return d && d.tenant_id === tenantId ? toFhirCommunication(d, deps.clock()) : null;
  };
}
