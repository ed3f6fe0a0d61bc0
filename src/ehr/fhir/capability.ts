import { NOTIFICATION_TYPES } from '../../core/domain.js';
import { BACKPORT, TOPICS } from './subscription-topics.js';

/**
 * What Sealpost's FHIR R4 API supports, one entry per resource type. The CapabilityStatement
 * (`GET /fhir/R4/metadata`) is built from this list and nothing else, so an entry must name exactly
 * the interactions and search parameters its routes implement (a test compares them with the routes).
 * Each resource's route module adds its own entry here.
 */
export interface ResourceCapability {
  type: string;
  interaction: (
    'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type'
  )[];
  searchParam?: {
    name: string;
    type: 'string' | 'token' | 'reference' | 'date' | 'number' | 'uri' | 'composite' | 'quantity' | 'special';
    documentation?: string;
  }[];
  operation?: { name: string; definition: string }[];
  conditionalCreate?: boolean;
  /** False: an update of an unknown id is refused (ids are the server's). */
  updateCreate?: boolean;
  supportedProfile?: string[];
  /** Extensions of the resource entry (the Backport IG's topic canonicals on Subscription). */
  extension?: { url: string; valueCanonical: string }[];
  documentation?: string;
}

export const RESOURCE_CAPABILITIES: ResourceCapability[] = [
  {
    type: 'AuditEvent',
    interaction: ['search-type'],
    searchParam: [
      { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id> (matched through its pseudonym)' },
      { name: 'date', type: 'date', documentation: 'prefixes eq, ge, gt, le, lt; may repeat' },
    ],
    documentation: 'The audit log (ids and codes, no PHI); needs the audit.read permission.',
  },
  {
    type: 'CodeSystem',
    interaction: ['read'],
    documentation:
      'Sealpost vocabularies only: sealpost-notification-type (CommunicationRequest.category), sealpost-channel ' +
      '(medium, Consent provision.code), sealpost-notification-status, sealpost-consent-source.',
  },
  {
    type: 'Patient',
    interaction: ['read', 'create', 'update', 'search-type'],
    searchParam: [
      { name: 'identifier', type: 'token', documentation: 'system|value (the system is required; comma = or)' },
    ],
    conditionalCreate: true,
    updateCreate: false,
    documentation: 'Demographics and contact points; ids are assigned by the server (never an MRN).',
  },
  {
    type: 'Appointment',
    interaction: ['read', 'create', 'update', 'search-type'],
    searchParam: [
      { name: 'identifier', type: 'token', documentation: 'system|value (the system is required; comma = or)' },
      { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
    ],
    conditionalCreate: false,
    updateCreate: false,
    documentation: 'Booking schedules the same reminder series as PUT /v1/appointments; status=cancelled cancels them.',
  },
  {
    type: 'CommunicationRequest',
    interaction: ['read', 'create', 'update', 'search-type'],
    searchParam: [
      { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
      { name: 'status', type: 'token', documentation: 'request-status: active, completed, revoked (comma = or)' },
      { name: 'identifier', type: 'token', documentation: 'system|value (the system is required)' },
    ],
    conditionalCreate: true,
    updateCreate: false,
    documentation:
      'A notification: category (sealpost-notification-type) is its type, payload[0].contentString its data (JSON), ' +
      'occurrenceDateTime its send time, medium its channels. Update only to status=revoked (cancels what is pending). ' +
      'Reads carry no payload.',
  },
  {
    type: 'Communication',
    interaction: ['read', 'search-type'],
    searchParam: [
      { name: 'based-on', type: 'reference', documentation: 'CommunicationRequest/<id> or <id>' },
      { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
      { name: 'status', type: 'token', documentation: 'event-status (comma = or)' },
    ],
    documentation:
      'One per delivery (its id is the delivery id): status, sent, received (delivered or read), statusReason.',
  },
  {
    type: 'Consent',
    interaction: ['read', 'create', 'search-type'],
    searchParam: [{ name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id> (required)' }],
    documentation:
      'A patient-privacy permit or deny of one channel (provision.code, sealpost-channel or v3 ParticipationMode) or, ' +
      'without a code, of every channel; the latest covering a channel is applied at send time.',
  },
  // fhir-comm: CommunicationRequest, Communication, Consent
  // fhir-subs: Subscription, SubscriptionTopic
  {
    type: 'Subscription',
    interaction: ['read', 'create', 'update', 'delete', 'search-type'],
    searchParam: [
      { name: 'status', type: 'token', documentation: 'requested, active, error, off; comma-separated for several' },
      { name: 'criteria', type: 'string', documentation: 'a topic canonical URL (exact)' },
    ],
    operation: [
      {
        name: 'status',
        definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status',
      },
    ],
    conditionalCreate: false,
    updateCreate: false,
    supportedProfile: [`${BACKPORT}/backport-subscription`],
    extension: TOPICS.map((t) => ({
      url: `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`,
      valueCanonical: t.url,
    })),
    documentation:
      'Topic-based subscriptions (R5 Backport IG for R4), rest-hook only; the topics are the extension values. Needs subscription.manage.',
  },
];

/** Where Sealpost's own CodeSystems live (`<base>/CodeSystem/<id>`'s canonical url). */
export const NOTIFICATION_TYPE_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-notification-type';

const NOTIFICATION_TYPE_DISPLAY: Record<(typeof NOTIFICATION_TYPES)[number], string> = {
  appointment_reminder: 'Appointment reminder',
  test_result_ready: 'Test result ready',
  medication_reminder: 'Medication reminder',
  prescription_ready: 'Prescription ready',
  follow_up: 'Follow-up',
  billing_statement: 'Billing statement',
};

/** The CodeSystem of Sealpost's notification types (CommunicationRequest.category). */
export function notificationTypeCodeSystem() {
  return {
    resourceType: 'CodeSystem',
    id: 'sealpost-notification-type',
    url: NOTIFICATION_TYPE_SYSTEM,
    name: 'SealpostNotificationType',
    title: 'Sealpost notification types',
    status: 'active',
    experimental: false,
    publisher: 'Sealpost',
    description:
      'The kinds of notification Sealpost sends; CommunicationRequest.category carries one of these codes. ' +
      'Each decides the permission needed to send it and the PHI-free nudge used on insecure channels.',
    caseSensitive: true,
    content: 'complete',
    count: NOTIFICATION_TYPES.length,
    concept: NOTIFICATION_TYPES.map((code) => ({ code, display: NOTIFICATION_TYPE_DISPLAY[code] })),
  };
}

/**
 * The CapabilityStatement (R4 capabilitystatement.html) of this server: JSON only, server mode,
 * SMART Backend Services security with the token endpoint, one entry per RESOURCE_CAPABILITIES item.
 * It reveals nothing an unauthenticated caller should not know: no tenant, no key, no data.
 */
export function capabilityStatement(o: {
  publicUrl: string;
  tokenUrl: string;
  software: { version: string };
  date: string;
}) {
  const base = `${o.publicUrl.replace(/\/+$/, '')}/fhir/R4`;
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: o.date,
    publisher: 'Sealpost',
    kind: 'instance',
    software: { name: 'Sealpost', version: o.software.version },
    implementation: { description: 'Sealpost FHIR R4 API', url: base },
    fhirVersion: '4.0.1',
    format: ['json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Answers and errors are application/fhir+json (errors are OperationOutcome resources with the Sealpost code in ' +
          'issue.details.coding). Every interaction but this statement needs an API key or a SMART Backend Services access token ' +
          'with the same permission as the REST API for the same action; clinicians need a care-team relationship to the patient.',
        security: {
          cors: false,
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
              ],
              text: 'SMART Backend Services (client_credentials with private_key_jwt); API keys as bearer tokens',
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: o.tokenUrl }],
            },
          ],
        },
        resource: RESOURCE_CAPABILITIES.map((r) => ({
          type: r.type,
          ...(r.extension?.length ? { extension: r.extension } : {}),
          ...(r.supportedProfile ? { supportedProfile: r.supportedProfile } : {}),
          ...(r.documentation ? { documentation: r.documentation } : {}),
          interaction: r.interaction.map((code) => ({ code })),
          versioning: r.interaction.includes('update') ? 'versioned-update' : 'no-version',
          readHistory: false,
          ...(r.updateCreate !== undefined ? { updateCreate: r.updateCreate } : {}),
          ...(r.conditionalCreate !== undefined ? { conditionalCreate: r.conditionalCreate } : {}),
          ...(r.searchParam?.length ? { searchParam: r.searchParam } : {}),
          ...(r.operation?.length ? { operation: r.operation } : {}),
        })),
      },
    ],
  };
}
