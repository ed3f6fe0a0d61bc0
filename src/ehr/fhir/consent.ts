import { AppError } from '../../core/errors.js';
import type { ConsentChannel, ConsentDecision, ConsentRecord } from '../../core/consent-service.js';
import { validateResource } from './validation.js';
import { channelConcept, channelOf, onlyElements, reference, referencedId, type CodeableConcept } from './channels.js';

/**
 * FHIR R4 Consent ↔ one record of the consent ledger (core/consent-service.ts; docs/integrations.md,
 * "Consent"): a patient's permit or deny of one channel (`provision.code`, coded like
 * CommunicationRequest.medium) or, without a code, of every channel. The delivery worker applies
 * the latest record covering a channel at send time. Anything a Consent can say that Sealpost
 * cannot honour (periods, actors, purposes, data, nested provisions…) is refused, never ignored.
 */

export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONSENT_SOURCE_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-consent-source';

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
  provision?: { type?: string; code?: CodeableConcept[] } & Record<string, unknown>;
}

export interface ParsedConsent {
  patientId: string;
  channel: ConsentChannel;
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
    if (k !== 'type' && k !== 'code')
      throw new AppError(
        'SP_FHIR_CONSENT_UNSUPPORTED',
        `Consent.provision.${/^_?[A-Za-z]{1,40}$/.test(k) ? k : '?'}: is not supported (only type and code)`,
      );
  if ((p.code?.length ?? 0) > 1)
    throw new AppError('SP_FHIR_CONSENT_UNSUPPORTED', 'Consent.provision.code: at most one channel per Consent');
  const channel: ConsentChannel = p.code?.length ? channelOf(p.code[0]!, 'Consent.provision.code[0]') : '*';
  return { patientId, channel, decision: p.type as ConsentDecision };
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
    },
  };
}
