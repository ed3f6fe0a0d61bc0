import { AppError } from '../../core/errors.js';
import type { ConsentChannel, ConsentDecision, ConsentPurpose, ConsentRecord } from '../../core/consent-service.js';
import { PURPOSES, type Purpose } from '../../core/domain.js';
import { validateResource } from './validation.js';
import { channelConcept, channelOf, onlyElements, reference, referencedId, type CodeableConcept } from './channels.js';

/**
 * FHIR R4 Consent ↔ one record of the consent ledger (core/consent-service.ts; docs/consent.md):
 * a patient's permit or deny of one channel (`provision.code`, coded like
 * CommunicationRequest.medium) or, without a code, of every channel; for one purpose
 * (`provision.purpose`, a Coding of the Sealpost consent-purpose code system) or, without one, for
 * every purpose. The pipeline applies the latest record covering a channel and purpose at creation
 * and at send time. Anything a Consent can say that Sealpost cannot honour (periods, actors, data,
 * nested provisions…) is refused, never ignored.
 */

export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONSENT_SOURCE_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-consent-source';
/** The purposes of the ledger (core/domain.ts PURPOSES) as codes. */
export const CONSENT_PURPOSE_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-consent-purpose';

/** Elements accepted on create; `dateTime`, `performer`, `organization`, `policy`, `policyRule` are accepted and not kept. */
const ACCEPTED = [
  'resourceType',
  'id',
  'meta',
  'text',
  'status',
  'scope',
  'category',
  'patient',
  'dateTime',
  'performer',
  'organization',
  'policy',
  'policyRule',
  'provision',
] as const;

interface ConsentBody {
  status?: string;
  scope?: CodeableConcept;
  patient?: { reference?: string };
  provision?: { type?: string; code?: CodeableConcept[]; purpose?: { system?: string; code?: string }[] } & Record<
    string,
    unknown
  >;
}

export interface ParsedConsent {
  patientId: string;
  channel: ConsentChannel;
  purpose: ConsentPurpose;
  decision: ConsentDecision;
}

export function parseConsent(body: unknown): ParsedConsent {
  validateResource('Consent', body);
  const c = body as ConsentBody;
  onlyElements('Consent', c, ACCEPTED);
  if (c.status !== 'active') throw new AppError('SP_FHIR_CONSENT_UNSUPPORTED', 'Consent.status: must be active');
  if (!c.scope?.coding?.some((x) => x.system === CONSENT_SCOPE_SYSTEM && x.code === 'patient-privacy'))
    throw new AppError('SP_FHIR_CONSENT_UNSUPPORTED', `Consent.scope: must be ${CONSENT_SCOPE_SYSTEM}|patient-privacy`);
  if (!c.patient) throw new AppError('SP_FHIR_INVALID_RESOURCE', 'Consent.patient: is required');
  const patientId = referencedId(c.patient, 'Patient', 'Consent.patient');
  const p = c.provision;
  if (!p?.type)
    throw new AppError('SP_FHIR_CONSENT_UNSUPPORTED', 'Consent.provision.type: is required (deny or permit)');
  for (const k of Object.keys(p))
    if (k !== 'type' && k !== 'code' && k !== 'purpose')
      throw new AppError(
        'SP_FHIR_CONSENT_UNSUPPORTED',
        `Consent.provision.${/^_?[A-Za-z]{1,40}$/.test(k) ? k : '?'}: is not supported (only type, code and purpose)`,
      );
  if ((p.code?.length ?? 0) > 1)
    throw new AppError('SP_FHIR_CONSENT_UNSUPPORTED', 'Consent.provision.code: at most one channel per Consent');
  const channel: ConsentChannel = p.code?.length ? channelOf(p.code[0]!, 'Consent.provision.code[0]') : '*';
  return { patientId, channel, purpose: purposeOf(p.purpose), decision: p.type as ConsentDecision };
}

function purposeOf(purpose: unknown): ConsentPurpose {
  if (purpose === undefined) return '*';
  if (!Array.isArray(purpose) || purpose.length !== 1)
    throw new AppError('SP_FHIR_CONSENT_UNSUPPORTED', 'Consent.provision.purpose: exactly one purpose per Consent');
  const c = purpose[0] as { system?: unknown; code?: unknown };
  if (c?.system !== CONSENT_PURPOSE_SYSTEM || !PURPOSES.includes(c.code as Purpose))
    throw new AppError(
      'SP_FHIR_CONSENT_UNSUPPORTED',
      `Consent.provision.purpose[0]: must be ${CONSENT_PURPOSE_SYSTEM} with one of ${PURPOSES.join(', ')}`,
    );
  return c.code as Purpose;
}

export function toFhirConsent(r: ConsentRecord): Record<string, unknown> {
  return {
    resourceType: 'Consent',
    id: r.id,
    meta: {
      lastUpdated: r.recordedAt,
      tag: [{ system: CONSENT_SOURCE_SYSTEM, code: r.source }],
    },
    status: r.active ? 'active' : 'inactive',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy', display: 'Privacy Consent' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: reference('Patient', r.patientId),
    dateTime: r.recordedAt,
    policyRule: {
      coding: [{ system: ACT_CODE_SYSTEM, code: r.decision === 'permit' ? 'OPTIN' : 'OPTOUT' }],
    },
    provision: {
      type: r.decision,
      ...(r.channel !== '*' ? { code: [channelConcept(r.channel)] } : {}),
      ...(r.purpose !== '*' ? { purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: r.purpose }] } : {}),
    },
  };
}
