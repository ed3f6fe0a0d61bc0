import { Problem, raw } from '../../app/api';
import { toSignIn } from '../../app/session';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const FHIR = 'application/fhir+json';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Json = Record<string, any>;

/**
 * A FHIR call on this origin with the session cookie. FHIR routes answer errors as
 * OperationOutcome (the Sealpost code in details.coding, the rule broken in diagnostics): turned into the console's Problem.
 */
export async function fhir(method: string, path: string, body?: Json): Promise<Json | undefined> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { accept: FHIR, ...(body ? { 'content-type': FHIR } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) toSignIn('ended');
  const text = await response.text();
  const json = text && /json/.test(response.headers.get('content-type') ?? '') ? (JSON.parse(text) as Json) : undefined;
  if (!response.ok) {
    // details.coding holds the Sealpost code, details.text its title, diagnostics the rule broken.
    const issue = json?.issue?.[0];
    const code = issue?.details?.coding?.[0]?.code ?? json?.code ?? `HTTP_${response.status}`;
    const title = [issue?.details?.text ?? json?.title ?? response.statusText, issue?.diagnostics]
      .filter(Boolean)
      .join(': ');
    throw new Problem(response.status, String(code), title);
  }
  return json;
}

export interface Delivery {
  id: string;
  topic: string;
  status: string;
  errorCode: string | null;
  eventsSinceStart: number;
  eventsSent: number;
  failures: number;
  lastDeliveryAt: string | null;
  nextAttemptAt: string | null;
}

export interface SubscriptionRow {
  resource: Json;
  delivery: Delivery | undefined;
}

/** The tenant's Subscriptions (FHIR search) joined with their delivery state (GET /v1/subscriptions). */
export async function loadSubscriptions(): Promise<SubscriptionRow[]> {
  const [bundle, delivery] = await Promise.all([
    fhir('GET', '/fhir/R4/Subscription?_count=100'),
    raw('GET', '/v1/subscriptions') as Promise<{ items: Delivery[] }>,
  ]);
  const byId = new Map(delivery.items.map((d) => [d.id, d]));
  return ((bundle?.entry ?? []) as Json[]).map((e) => ({
    resource: e.resource as Json,
    delivery: byId.get(e.resource.id),
  }));
}

/** The topics this server offers (its CapabilityStatement's subscription-topic canonicals). */
export async function loadTopics(): Promise<string[]> {
  const cs = await fhir('GET', '/fhir/R4/metadata');
  const sub = (cs?.rest?.[0]?.resource as Json[] | undefined)?.find((r) => r.type === 'Subscription');
  return ((sub?.extension ?? []) as Json[])
    .filter((x) => String(x.url).endsWith('capabilitystatement-subscriptiontopic-canonical'))
    .map((x) => String(x.valueCanonical));
}

/** Pauses (off) or restarts (requested: a new handshake) a Subscription: its read sent back, headers still redacted. */
export async function setStatus(resource: Json, status: 'off' | 'requested'): Promise<void> {
  const { meta: _meta, error: _error, ...rest } = resource;
  await fhir('PUT', `/fhir/R4/Subscription/${encodeURIComponent(resource.id)}`, { ...rest, status });
}

export const topicKey = (url: string) => url.slice(url.lastIndexOf('/') + 1);
