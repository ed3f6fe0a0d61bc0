import { AppError } from '../../core/errors.js';
import { BACKPORT, COMMUNICATION_STATUSES, topicByUrl, type TopicDefinition } from './subscription-topics.js';

/**
 * R4 Subscription ↔ Sealpost, per the R5 Backport IG (profile backport-subscription): `criteria` is
 * a topic's canonical URL, filters are `backport-filter-criteria` extensions on `_criteria`, and the
 * channel carries `backport-heartbeat-period`, `backport-timeout`, `backport-max-count` and, on
 * `_payload`, `backport-payload-content`. Only the rest-hook channel with application/fhir+json.
 */

export const SUBSCRIPTION_PROFILE = `${BACKPORT}/backport-subscription`;
const FILTER_CRITERIA = `${BACKPORT}/backport-filter-criteria`;
const HEARTBEAT = `${BACKPORT}/backport-heartbeat-period`;
const TIMEOUT = `${BACKPORT}/backport-timeout`;
const MAX_COUNT = `${BACKPORT}/backport-max-count`;
const PAYLOAD_CONTENT = `${BACKPORT}/backport-payload-content`;

/** What a header value reads as in a Subscription read; sent back in an update, it keeps the stored value. */
export const REDACTED = '[redacted]';

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

export interface SubscriptionFilters {
  patient?: string;
  /** Communication.status codes. */
  status?: string[];
  /** A CommunicationRequest (notification) id. */
  basedOn?: string;
}

/** A Subscription as the caller asked for it, checked. */
export interface SubscriptionSpec {
  topic: TopicDefinition;
  /** `requested` (handshake, then active) or `off`. */
  status: 'requested' | 'off';
  reason: string;
  end?: number;
  filters: SubscriptionFilters;
  /** The filter-criteria strings as given (echoed by reads). */
  filterCriteria: string[];
  endpoint: string;
  /** `Name: value` lines. */
  headers: string[];
  payloadContent: PayloadContent;
  heartbeatSeconds?: number;
  timeoutSeconds?: number;
  maxCount: number;
}

/** What is sealed in `fhir_subscriptions.data_ct`. */
export interface SealedSubscription {
  endpoint: string;
  headers: string[];
  reason: string;
  filterCriteria: string[];
  patient?: string;
}

export const DEFAULT_MAX_COUNT = 10;
const MAX_HEADERS = 10;
const FORBIDDEN_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

const invalid = (detail: string) => new AppError('SP_FHIR_SUBSCRIPTION_INVALID', detail);

type Json = Record<string, unknown>;
interface Extension {
  url: string;
  [k: string]: unknown;
}

function extensions(holder: unknown, where: string, allowed: readonly string[]): Extension[] {
  if (holder === undefined) return [];
  const h = holder as { extension?: Extension[]; modifierExtension?: unknown; id?: unknown };
  if (h.modifierExtension !== undefined) throw invalid(`${where}.modifierExtension: is not supported`);
  const list = h.extension ?? [];
  for (const e of list)
    if (!allowed.includes(e.url)) throw invalid(`${where}.extension: an extension is not supported here`);
  return list;
}

function one(list: Extension[], url: string, where: string): Extension | undefined {
  const hits = list.filter((e) => e.url === url);
  if (hits.length > 1) throw invalid(`${where}.extension: ${url.split('/').pop()} given more than once`);
  return hits[0];
}

function whole(e: Extension | undefined, key: string, where: string, min: number, max: number): number | undefined {
  if (!e) return undefined;
  const v = e[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw invalid(`${where}: ${key} must be a whole number from ${min} to ${max}`);
  return v;
}

/**
 * Reads a Subscription body already validated against the R4 schema (validation.ts) into a spec;
 * throws an AppError naming the element and the rule (never the value) for what Sealpost refuses.
 */
export function parseSubscription(body: unknown): SubscriptionSpec {
  const r = body as Json;
  if (r.modifierExtension !== undefined || r.extension !== undefined)
    throw invalid('Subscription.extension: extensions are not supported here');
  if (r.contact !== undefined) throw invalid('Subscription.contact: is not supported');
  // `error` is the server's (a read echoes it); one sent back in an update is ignored.
  const status = r.status;
  if (status !== 'requested' && status !== 'active' && status !== 'off')
    throw invalid('Subscription.status: must be requested, active or off');
  if (typeof r.reason !== 'string' || !r.reason.trim()) throw invalid('Subscription.reason: is required');
  if (typeof r.criteria !== 'string') throw invalid('Subscription.criteria: is required (a topic canonical URL)');
  const topic = topicByUrl(r.criteria);
  if (!topic)
    throw new AppError('SP_FHIR_SUBSCRIPTION_TOPIC_UNKNOWN', 'Subscription.criteria: is not a topic of this server');
  let end: number | undefined;
  if (r.end !== undefined) {
    end = Date.parse(String(r.end));
    if (Number.isNaN(end)) throw invalid('Subscription.end: is not a valid instant');
  }

  const criteria = extensions(r._criteria, 'Subscription._criteria', [FILTER_CRITERIA]);
  const filterCriteria = criteria.map((e) => {
    if (typeof e.valueString !== 'string')
      throw invalid('Subscription._criteria.extension: backport-filter-criteria needs valueString');
    return e.valueString;
  });
  const filters = parseFilters(topic, filterCriteria);

  const channel = r.channel as Json | undefined;
  if (!channel) throw invalid('Subscription.channel: is required');
  if (channel.modifierExtension !== undefined)
    throw invalid('Subscription.channel.modifierExtension: is not supported');
  if (channel.type !== 'rest-hook')
    throw new AppError(
      'SP_FHIR_SUBSCRIPTION_CHANNEL_UNSUPPORTED',
      'Subscription.channel.type: only rest-hook is supported',
    );
  const chExt = extensions(channel, 'Subscription.channel', [HEARTBEAT, TIMEOUT, MAX_COUNT]);
  const heartbeatSeconds = whole(
    one(chExt, HEARTBEAT, 'Subscription.channel'),
    'valueUnsignedInt',
    'Subscription.channel.extension(backport-heartbeat-period)',
    1,
    604_800,
  );
  const timeoutSeconds = whole(
    one(chExt, TIMEOUT, 'Subscription.channel'),
    'valueUnsignedInt',
    'Subscription.channel.extension(backport-timeout)',
    1,
    60,
  );
  const maxCount =
    whole(
      one(chExt, MAX_COUNT, 'Subscription.channel'),
      'valuePositiveInt',
      'Subscription.channel.extension(backport-max-count)',
      1,
      100,
    ) ?? DEFAULT_MAX_COUNT;
  if (typeof channel.endpoint !== 'string') throw invalid('Subscription.channel.endpoint: is required for rest-hook');
  const endpoint = checkEndpointSyntax(channel.endpoint);
  let payloadContent: PayloadContent = 'empty';
  if (channel.payload !== undefined) {
    if (channel.payload !== 'application/fhir+json' && channel.payload !== 'application/json')
      throw new AppError(
        'SP_FHIR_SUBSCRIPTION_CHANNEL_UNSUPPORTED',
        'Subscription.channel.payload: only application/fhir+json is supported',
      );
    payloadContent = 'id-only';
  }
  const pc = one(
    extensions(channel._payload, 'Subscription.channel._payload', [PAYLOAD_CONTENT]),
    PAYLOAD_CONTENT,
    'Subscription.channel._payload',
  );
  if (pc) {
    if (channel.payload === undefined)
      throw invalid('Subscription.channel.payload: is required with backport-payload-content');
    if (pc.valueCode !== 'empty' && pc.valueCode !== 'id-only' && pc.valueCode !== 'full-resource')
      throw invalid('Subscription.channel._payload: backport-payload-content must be empty, id-only or full-resource');
    payloadContent = pc.valueCode;
  }
  const headers = (channel.header as unknown[] | undefined) ?? [];
  if (headers.length > MAX_HEADERS) throw invalid(`Subscription.channel.header: at most ${MAX_HEADERS}`);
  headers.forEach((h, i) => checkHeader(h, i));
  return {
    topic,
    status: status === 'off' ? 'off' : 'requested',
    reason: r.reason,
    end,
    filters,
    filterCriteria,
    endpoint,
    headers: headers as string[],
    payloadContent,
    heartbeatSeconds,
    timeoutSeconds,
    maxCount,
  };
}

/** `<Resource>?a=b&c=d`, each parameter once over all the criteria, each known to the topic. */
function parseFilters(topic: TopicDefinition, criteria: string[]): SubscriptionFilters {
  const out: SubscriptionFilters = {};
  const seen = new Set<string>();
  for (const c of criteria) {
    const q = c.indexOf('?');
    const resource = q < 0 ? c : c.slice(0, q);
    if (resource !== topic.resource)
      throw new AppError('SP_FHIR_SUBSCRIPTION_FILTER_INVALID', `filter criteria: must start with ${topic.resource}?`);
    let params: URLSearchParams;
    try {
      params = new URLSearchParams(q < 0 ? '' : c.slice(q + 1));
    } catch {
      throw new AppError('SP_FHIR_SUBSCRIPTION_FILTER_INVALID', 'filter criteria: malformed query');
    }
    for (const [name, value] of params) {
      if (!(name in topic.filters))
        throw new AppError(
          'SP_FHIR_SUBSCRIPTION_FILTER_INVALID',
          /^[A-Za-z_:.-]{1,40}$/.test(name)
            ? `filter criteria: ${name} is not a filter of this topic`
            : 'filter criteria: a parameter is not a filter of this topic',
        );
      if (seen.has(name))
        throw new AppError('SP_FHIR_SUBSCRIPTION_FILTER_INVALID', `filter criteria: ${name} given more than once`);
      seen.add(name);
      if (name === 'patient') out.patient = reference(value, 'Patient', 'patient');
      else if (name === 'based-on') out.basedOn = reference(value, 'CommunicationRequest', 'based-on');
      else if (name === 'status') {
        const codes = value.split(',');
        if (!codes.every((s) => (COMMUNICATION_STATUSES as readonly string[]).includes(s)))
          throw new AppError(
            'SP_FHIR_SUBSCRIPTION_FILTER_INVALID',
            `filter criteria: status must be among ${COMMUNICATION_STATUSES.join(', ')}`,
          );
        out.status = codes;
      }
    }
  }
  return out;
}

function reference(value: string, type: string, param: string): string {
  const m = /^(?:([A-Z][A-Za-z]+)\/)?([A-Za-z0-9.-]{1,64})$/.exec(value);
  if (!m || (m[1] !== undefined && m[1] !== type) || m[2] === '.' || m[2] === '..')
    throw new AppError('SP_FHIR_SUBSCRIPTION_FILTER_INVALID', `filter criteria: ${param} must be ${type}/<id>`);
  return m[2]!;
}

/** An absolute http(s) URL without credentials (the address policy is checked by the service). */
export function checkEndpointSyntax(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError(
      'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED',
      'Subscription.channel.endpoint: is not an absolute URL',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new AppError('SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED', 'Subscription.channel.endpoint: must be https');
  if (url.username || url.password)
    throw new AppError(
      'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED',
      'Subscription.channel.endpoint: must not carry credentials',
    );
  return url.toString();
}

function checkHeader(h: unknown, i: number): void {
  const at = `Subscription.channel.header[${i}]`;
  if (typeof h !== 'string' || h.length > 4096) throw invalid(`${at}: must be a string of at most 4096 characters`);
  const colon = h.indexOf(':');
  const name = colon < 0 ? '' : h.slice(0, colon).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(name)) throw invalid(`${at}: must be "Name: value"`);
  if (/[\r\n\0]/.test(h)) throw invalid(`${at}: must not contain line breaks`);
  if (FORBIDDEN_HEADERS.has(name.toLowerCase())) throw invalid(`${at}: this header is set by the server`);
}

/** Header lines where each value sent back as REDACTED is replaced by the stored value of that name. */
export function mergeHeaders(given: string[], stored: string[]): string[] {
  const byName = new Map(stored.map((h) => [h.slice(0, h.indexOf(':')).trim().toLowerCase(), h]));
  return given.map((h) => {
    const colon = h.indexOf(':');
    const name = h.slice(0, colon).trim().toLowerCase();
    if (h.slice(colon + 1).trim() !== REDACTED) return h;
    const kept = byName.get(name);
    if (!kept) throw invalid('Subscription.channel.header: a redacted value names no stored header');
    return kept;
  });
}

export interface SubscriptionView {
  id: string;
  status: string;
  topic: string;
  errorCode: string | null;
  end: number | null;
  payloadContent: string;
  heartbeatSeconds: number | null;
  timeoutSeconds: number | null;
  maxCount: number;
  updatedAt: number;
  sealed: SealedSubscription;
}

/** The R4 Subscription a read answers: header values redacted, never echoed. */
export function toFhirSubscription(v: SubscriptionView): Json {
  const chExt = [
    ...(v.heartbeatSeconds != null ? [{ url: HEARTBEAT, valueUnsignedInt: v.heartbeatSeconds }] : []),
    ...(v.timeoutSeconds != null ? [{ url: TIMEOUT, valueUnsignedInt: v.timeoutSeconds }] : []),
    { url: MAX_COUNT, valuePositiveInt: v.maxCount },
  ];
  return {
    resourceType: 'Subscription',
    id: v.id,
    meta: { profile: [SUBSCRIPTION_PROFILE], lastUpdated: new Date(v.updatedAt).toISOString() },
    status: v.status,
    ...(v.end != null ? { end: new Date(v.end).toISOString() } : {}),
    reason: v.sealed.reason,
    criteria: v.topic,
    ...(v.sealed.filterCriteria.length
      ? { _criteria: { extension: v.sealed.filterCriteria.map((s) => ({ url: FILTER_CRITERIA, valueString: s })) } }
      : {}),
    ...(v.errorCode ? { error: `Sealpost error code ${v.errorCode}` } : {}),
    channel: {
      extension: chExt,
      type: 'rest-hook',
      endpoint: v.sealed.endpoint,
      ...(v.payloadContent === 'empty'
        ? {}
        : {
            payload: 'application/fhir+json',
            _payload: { extension: [{ url: PAYLOAD_CONTENT, valueCode: v.payloadContent }] },
          }),
      ...(v.sealed.headers.length
        ? { header: v.sealed.headers.map((h) => `${h.slice(0, h.indexOf(':')).trim()}: ${REDACTED}`) }
        : {}),
    },
  };
}
