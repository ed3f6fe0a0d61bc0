import { api, ok } from '../../app/api';
import type { paths } from '@sealpost/sdk/rest';

/**
 * What the Privacy screen asks of the API, through the SDK's typed client: the alerts the privacy
 * monitor raised, their lifecycle and notes, suppression rules, sensitive-patient flags and the
 * breach investigation report. Nothing here is PHI but a patient id typed by the officer (sent in a
 * request, never put in the page's address) and the report, which stays in memory until downloaded.
 */

type Ok<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : paths[P][M] extends { responses: { 201: { content: { 'application/json': infer T } } } }
    ? T
    : never;

export type AlertList = Ok<'/v1/privacy/alerts', 'get'>;
export type Alert = AlertList['items'][number];
export type AlertDetail = Ok<'/v1/privacy/alerts/{id}', 'get'>;
export type Suppression = Ok<'/v1/privacy/suppressions', 'get'>['items'][number];
export type Sensitive = Ok<'/v1/privacy/sensitive-patients', 'get'>['items'][number];
export type MonitorStatus = Ok<'/v1/privacy/status', 'get'>;
export type ReportAnswer = Ok<'/v1/privacy/reports', 'post'>;
export type AlertStatus = Alert['status'];
export type Outcome = NonNullable<Alert['outcome']>;
export type SensitivityKind = Sensitive['kind'];

export const STATUSES: AlertStatus[] = ['open', 'investigating', 'closed'];
export const OUTCOMES: Outcome[] = ['false_positive', 'policy_reminder', 'sanction', 'breach'];
export const KINDS: SensitivityKind[] = ['staff', 'vip', 'flagged'];
/** The detectors of src/audit/privacy/detector.ts (a suppression may name one). */
export const DETECTORS = [
  'volume_self',
  'volume_role',
  'distinct_patients',
  'off_hours',
  'sensitive_patient',
  'refused_burst',
  'credential_stuffing',
  'account_many_addresses',
  'break_glass',
  'credential_new_origin',
  'mass_action',
  'dormant_account',
] as const;

const id = (v: string) => ({ params: { path: { id: v } } });

export const alerts = {
  list: (status: AlertStatus | undefined, cursor?: string) =>
    ok(api.GET('/v1/privacy/alerts', { params: { query: { limit: 100, ...(status ? { status } : {}), cursor } } })),
  get: (v: string) => ok(api.GET('/v1/privacy/alerts/{id}', id(v))),
  investigate: (v: string) => ok(api.POST('/v1/privacy/alerts/{id}/investigate', id(v))),
  close: (v: string, outcome: Outcome, note: string) =>
    ok(api.POST('/v1/privacy/alerts/{id}/close', { ...id(v), body: { outcome, note } })),
  note: (v: string, text: string) => ok(api.POST('/v1/privacy/alerts/{id}/notes', { ...id(v), body: { text } })),
  status: () => ok(api.GET('/v1/privacy/status')),
};

export const suppressions = {
  list: (expired: boolean) =>
    ok(api.GET('/v1/privacy/suppressions', { params: { query: expired ? { expired } : {} } })).then((r) => r.items),
  create: (body: { detector: string | null; subject: string | null; reason: string; expiresAt: string }) =>
    ok(api.POST('/v1/privacy/suppressions', { body })),
  remove: (v: string) => ok(api.DELETE('/v1/privacy/suppressions/{id}', id(v))),
};

export const sensitivity = {
  list: () => ok(api.GET('/v1/privacy/sensitive-patients')).then((r) => r.items),
  set: (patientId: string, kind: SensitivityKind) =>
    ok(api.PUT('/v1/patients/{id}/sensitivity', { ...id(patientId), body: { kind } })),
  clear: (patientId: string) => ok(api.DELETE('/v1/patients/{id}/sensitivity', id(patientId))),
};

export interface ReportAsk {
  from: string;
  to: string;
  user?: string;
  apiKey?: string;
  address?: string;
  patients?: string[];
}

export const reports = {
  run: (body: ReportAsk) => ok(api.POST('/v1/privacy/reports', { body })),
};
