import { CHANNEL_KINDS, type ChannelKind } from '../../core/domain.js';
import { AppError } from '../../core/errors.js';

/**
 * The channel vocabulary shared by CommunicationRequest.medium, Communication.medium and
 * Consent.provision.code: Sealpost's own CodeSystem of channels (every channel, webhook and push included),
 * and HL7 v3 ParticipationMode for the two that have a code there (SMSWRIT, EMAILWRIT).
 */
export const CHANNEL_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-channel';
/** Sealpost's error codes as a code system (the same as OperationOutcome's, api/routes/fhir/fhir-support.ts). */
export const ERROR_CODE_SYSTEM = 'https://sealpost.dev/errors';
export const PARTICIPATION_MODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';

const V3_CODE: Partial<Record<ChannelKind, { code: string; display: string }>> = {
  sms: { code: 'SMSWRIT', display: 'SMS written' },
  email: { code: 'EMAILWRIT', display: 'email' },
};
const DISPLAY: Record<ChannelKind, string> = {
  sms: 'SMS',
  email: 'E-mail',
  webhook: 'Webhook',
  push: 'Push notification',
};

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

/** The channel one coding names, or undefined when it names none Sealpost knows. */
export function channelOfCoding(c: Coding): ChannelKind | undefined {
  if (c.system === CHANNEL_SYSTEM && (CHANNEL_KINDS as readonly string[]).includes(c.code ?? ''))
    return c.code as ChannelKind;
  if (c.system === PARTICIPATION_MODE_SYSTEM)
    return (Object.keys(V3_CODE) as ChannelKind[]).find((k) => V3_CODE[k]!.code === c.code);
  return undefined;
}

/**
 * The channel of a CodeableConcept: the first coding Sealpost knows. Throws SP_FHIR_UNKNOWN_CODE
 * naming `path` (never the code, which is the caller's text) when none is known.
 */
export function channelOf(cc: CodeableConcept, path: string): ChannelKind {
  for (const c of cc.coding ?? []) {
    const ch = channelOfCoding(c);
    if (ch) return ch;
  }
  throw new AppError('SP_FHIR_UNKNOWN_CODE', `${path}: no coding of ${CHANNEL_SYSTEM} or SMSWRIT/EMAILWRIT`);
}

/** A channel as a CodeableConcept: Sealpost's coding, and the v3 ParticipationMode one where there is one. */
export function channelConcept(ch: ChannelKind): CodeableConcept {
  const v3 = V3_CODE[ch];
  return {
    coding: [
      { system: CHANNEL_SYSTEM, code: ch, display: DISPLAY[ch] },
      ...(v3 ? [{ system: PARTICIPATION_MODE_SYSTEM, code: v3.code, display: v3.display }] : []),
    ],
    text: DISPLAY[ch],
  };
}

/** Epoch milliseconds as a FHIR instant (UTC); undefined for null. */
export const instant = (ms: number | null | undefined): string | undefined =>
  ms == null ? undefined : new Date(Number(ms)).toISOString();

/** `Patient/<id>` etc. as a Reference. */
export const reference = (type: string, id: string) => ({ reference: `${type}/${id}` });

/**
 * The id of a Reference of `type` in a resource body (`Patient/123`, or an absolute URL ending in
 * `/Patient/123`); throws SP_FHIR_INVALID_RESOURCE naming `path` otherwise (contained `#x`
 * references, logical identifiers, other types).
 */
export function referencedId(ref: { reference?: string } | undefined, type: string, path: string): string {
  const m =
    /^(?:https?:\/\/[^\s]*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9._-]{1,64})(?:\/_history\/[A-Za-z0-9.-]{1,64})?$/.exec(
      ref?.reference ?? '',
    );
  if (!m || m[1] !== type || m[2] === '.' || m[2] === '..')
    throw new AppError('SP_FHIR_INVALID_RESOURCE', `${path}: must be a reference to ${type}/<id>`);
  return m[2]!;
}

/** Refuses every element of `body` outside `allowed` (accepted by R4, but not something Sealpost can honour). */
export function onlyElements(type: string, body: object, allowed: readonly string[]): void {
  for (const k of Object.keys(body))
    if (!allowed.includes(k) && !(k.startsWith('_') && allowed.includes(k.slice(1))))
      throw new AppError(
        'SP_FHIR_INVALID_RESOURCE',
        `${type}.${/^_?[A-Za-z][A-Za-z0-9]{0,60}$/.test(k) ? k : '?'}: is not supported by Sealpost`,
      );
}

/** A page position `<createdAt>.<id>` (the `_cursor` of a next link) → its parts. */
export function parseCursor(raw: string | undefined): { createdAt: number; id: string } | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d{1,15})\.([A-Za-z0-9-]{1,64})$/.exec(raw);
  if (!m) throw new AppError('SP_FHIR_INVALID_SEARCH', '_cursor: is not a cursor this server gave');
  return { createdAt: Number(m[1]), id: m[2]! };
}

export const cursorOf = (row: { created_at: number; id: string }): string => `${Number(row.created_at)}.${row.id}`;

/** A complete CodeSystem resource of Sealpost's (`https://sealpost.dev/fhir/CodeSystem/<id>`), as published. */
function codeSystem(id: string, title: string, description: string, concept: { code: string; display: string }[]) {
  return {
    resourceType: 'CodeSystem',
    id,
    url: `https://sealpost.dev/fhir/CodeSystem/${id}`,
    name: title.replace(/[^A-Za-z]/g, ''),
    title,
    status: 'active',
    experimental: false,
    publisher: 'Sealpost',
    description,
    caseSensitive: true,
    content: 'complete',
    count: concept.length,
    concept,
  };
}

/**
 * The small CodeSystems of the communication resources, by id: channels (CommunicationRequest and
 * Communication `medium`, Consent `provision.code`), a notification's terminal Sealpost status
 * (CommunicationRequest `statusReason`) and where a consent record came from (Consent `meta.tag`).
 */
export const COMMUNICATION_CODE_SYSTEMS: Record<string, object> = {
  'sealpost-channel': codeSystem(
    'sealpost-channel',
    'Sealpost channels',
    'The channels Sealpost delivers nudges on. SMS and e-mail also have v3 ParticipationMode codes (SMSWRIT, EMAILWRIT).',
    CHANNEL_KINDS.map((code) => ({ code, display: DISPLAY[code] })),
  ),
  'sealpost-notification-status': codeSystem(
    'sealpost-notification-status',
    'Sealpost notification end states',
    'Why a completed CommunicationRequest reached no one: every delivery failed (dead), or policy stopped it (suppressed).',
    [
      { code: 'failed', display: 'Failed' },
      { code: 'dead', display: 'No channel left' },
      { code: 'suppressed', display: 'Suppressed by policy (consent, patient or appointment gone)' },
    ],
  ),
  'sealpost-consent-source': codeSystem(
    'sealpost-consent-source',
    'Sealpost consent sources',
    'Where a consent record came from.',
    [
      { code: 'fhir', display: 'A FHIR Consent' },
      { code: 'sms_keyword', display: 'An SMS keyword (STOP, START…) from the patient' },
      { code: 'api', display: 'The REST API, called by a system' },
      { code: 'hl7', display: 'A CON segment of an HL7 v2 ADT message' },
      { code: 'portal', display: 'The patient, signed in to the portal' },
      { code: 'staff', display: "A staff member on the patient's behalf" },
    ],
  ),
};
