/**
 * FHIR R4 AuditEvent rendering of stored audit entries (http://hl7.org/fhir/R4/auditevent.html).
 *
 * Choice of codes, per Sealpost action (the dotted action itself always travels as a `subtype`
 * coding in the Sealpost system, so nothing is lost by the mapping):
 * - API commands on resources (`patient.*`, `notification.created|cancelled`, `appointment.*`):
 *   type `rest` (audit-event-type) with the RESTful interaction (`create`, `update`, `read`, `delete`)
 *   as subtype; that is what R4 itself uses for its own REST API.
 * - Reads, accesses and acknowledgements in the portal (`notification.read|accessed|acknowledged`)
 *   and consent changes (`contact.*`): DICOM 110110 "Patient Record" (the patient's data was used).
 * - Portal identity checks (`portal.*`): DICOM 110114 "User Authentication", subtype 110122 "Login".
 * - Channel transmissions (`delivery.*`): DICOM 110106 "Export" (data leaves the system; the
 *   provider is a second, non-requesting agent in the "Destination Role ID" role).
 * - API keys and encryption keys (`api_key.*`, `key.*`): DICOM 110113 "Security Alert" (a security
 *   configuration change).
 * - Anything else (e.g. the log's own maintenance): DICOM 110100 "Application Activity".
 *
 * Only identifiers and codes go in: the patient appears as an identifier holding the pseudonymous
 * reference, never as a reference to a Patient resource or anything that is PHI.
 */

/** A stored audit entry as read back from the log (parsed from its canonical JSON). */
export interface StoredAuditEntry {
  /** RFC 9162 leaf index (row idx - 1). */
  index: number;
  at: string;
  actor: string;
  action: string;
  outcome: 'success' | 'failure';
  target: { type: string; id: string | null } | null;
  patientRef: string | null;
  requestId: string | null;
  sourceIp: string | null;
  details: Record<string, unknown> | null;
  /** Base64 of the RFC 9162 leaf hash. */
  leafHash: string;
}

export const SEALPOST_SYSTEM = 'https://sealpost.dev/fhir';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const REST = 'http://hl7.org/fhir/restful-interaction';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const ROLE_TYPE = 'http://terminology.hl7.org/CodeSystem/extra-security-role-type';

export interface Coding {
  system: string;
  code: string;
  display?: string;
}

export interface FhirAuditEvent {
  resourceType: 'AuditEvent';
  id: string;
  type: Coding;
  subtype: Coding[];
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  recorded: string;
  outcome: '0' | '4' | '8' | '12';
  outcomeDesc?: string;
  agent: {
    type?: { coding: Coding[] };
    who: { identifier: { system: string; value: string }; display: string };
    requestor: boolean;
    network?: { address: string; type: '2' };
  }[];
  source: { site?: string; observer: { display: string }; type: Coding[] };
  entity?: {
    what: { identifier: { system: string; value?: string } };
    type: Coding;
    role: Coding;
    detail?: { type: string; valueString: string }[];
  }[];
}

type Kind = { type: Coding; subtype?: Coding; action: FhirAuditEvent['action'] };

const rest = (code: 'create' | 'update' | 'read' | 'delete', action: Kind['action']): Kind => ({
  type: { system: EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
  subtype: { system: REST, code },
  action,
});
const patientRecord = (action: Kind['action']): Kind => ({
  type: { system: DCM, code: '110110', display: 'Patient Record' },
  action,
});
const authentication: Kind = {
  type: { system: DCM, code: '110114', display: 'User Authentication' },
  subtype: { system: DCM, code: '110122', display: 'Login' },
  action: 'E',
};
const exportEvent = (action: Kind['action']): Kind => ({
  type: { system: DCM, code: '110106', display: 'Export' },
  action,
});

const KINDS: Record<string, Kind> = {
  'patient.created': rest('create', 'C'),
  'patient.updated': rest('update', 'U'),
  'patient.read': rest('read', 'R'),
  'patient.erased': rest('delete', 'D'),
  'notification.created': rest('create', 'C'),
  'notification.cancelled': rest('update', 'U'),
  'appointment.booked': rest('create', 'C'),
  'appointment.rescheduled': rest('update', 'U'),
  'appointment.cancelled': rest('delete', 'D'),
  'notification.read': patientRecord('R'),
  'notification.accessed': patientRecord('R'),
  'notification.acknowledged': patientRecord('U'),
  'contact.opted_out': patientRecord('U'),
  'contact.opted_in': patientRecord('U'),
  // A send reads the data out to transmit it (IHE ATNA records Export with action R).
  'delivery.sent': exportEvent('R'),
  'delivery.delivered': exportEvent('R'),
};

function kindOf(action: string): Kind {
  const known = KINDS[action];
  if (known) return known;
  const [area] = action.split('.');
  if (area === 'portal') return authentication;
  if (area === 'delivery') return exportEvent('E');
  if (area === 'api_key' || area === 'key')
    return {
      type: { system: DCM, code: '110113', display: 'Security Alert' },
      action: /[._]created$/.test(action) ? 'C' : 'U',
    };
  return { type: { system: DCM, code: '110100', display: 'Application Activity' }, action: 'E' };
}

/** R4 AuditEvent.outcome: 0 success, 4 minor failure, 8 serious failure (a delivery gave up), 12 major. */
function outcomeOf(e: StoredAuditEntry): FhirAuditEvent['outcome'] {
  if (e.outcome === 'success') return '0';
  return e.action === 'delivery.dead' ? '8' : '4';
}

function actorAgent(e: StoredAuditEntry): FhirAuditEvent['agent'][number] {
  const [kind] = e.actor.split(':');
  // API clients and the worker are applications; a portal actor is the person who verified a link.
  const type: Coding =
    kind === 'patient-link'
      ? { system: ROLE_TYPE, code: 'humanuser', display: 'human user' }
      : { system: DCM, code: '110150', display: 'Application' };
  return {
    type: { coding: [type] },
    who: { identifier: { system: `${SEALPOST_SYSTEM}/actor`, value: e.actor }, display: e.actor },
    requestor: true,
    ...(e.sourceIp ? { network: { address: e.sourceIp, type: '2' as const } } : {}),
  };
}

const ROLES: Record<string, Coding> = {
  patient: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  notification: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
  appointment: { system: OBJECT_ROLE, code: '18', display: 'Schedule' },
  delivery: { system: OBJECT_ROLE, code: '20', display: 'Job' },
  api_key: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
  key: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
};

function detailValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Renders one stored entry as an R4 AuditEvent whose `id` is the entry's log index. */
export function toFhirAuditEvent(e: StoredAuditEntry, observer = 'Sealpost'): FhirAuditEvent {
  const kind = kindOf(e.action);
  const details = e.details ?? {};
  const agent = [actorAgent(e)];
  if (e.action.startsWith('delivery.') && typeof details.provider === 'string') {
    agent.push({
      type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
      who: {
        identifier: { system: `${SEALPOST_SYSTEM}/provider`, value: details.provider },
        display: details.provider,
      },
      requestor: false,
    });
  }

  const entity: FhirAuditEvent['entity'] = [];
  const patientEntity = e.patientRef
    ? {
        what: { identifier: { system: `${SEALPOST_SYSTEM}/patient-ref`, value: e.patientRef } },
        type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
        role: ROLES.patient,
      }
    : null;
  const detail = [
    // FHIR strings may not be empty: absent and empty values are left out.
    ...Object.entries(details)
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => ({ type: k, valueString: detailValue(v) })),
    ...(e.requestId ? [{ type: 'requestId', valueString: e.requestId }] : []),
    { type: 'leafHash', valueString: e.leafHash },
  ];
  if (e.target && e.target.type === 'patient' && patientEntity && e.target.id === e.patientRef) {
    // Patient targets are already identified by their pseudonymous reference: one entity, not two.
    entity.push({ ...patientEntity, detail });
  } else {
    if (e.target) {
      entity.push({
        what: {
          identifier: { system: `${SEALPOST_SYSTEM}/${e.target.type}`, ...(e.target.id ? { value: e.target.id } : {}) },
        },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: ROLES[e.target.type] ?? { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
        detail,
      });
    }
    if (patientEntity) entity.push(e.target ? patientEntity : { ...patientEntity, detail });
  }

  const errorCode = typeof details.errorCode === 'string' ? details.errorCode : undefined;
  return {
    resourceType: 'AuditEvent',
    id: String(e.index),
    type: kind.type,
    subtype: [...(kind.subtype ? [kind.subtype] : []), { system: `${SEALPOST_SYSTEM}/audit-action`, code: e.action }],
    action: kind.action,
    recorded: e.at,
    outcome: outcomeOf(e),
    ...(errorCode ? { outcomeDesc: errorCode } : {}),
    agent,
    source: {
      observer: { display: observer },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
    ...(entity.length ? { entity } : {}),
  };
}
