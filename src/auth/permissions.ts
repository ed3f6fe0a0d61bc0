/**
 * The one permission table of Sealpost. Roles (people) and scopes (systems) map to permissions here
 * and nowhere else; every route declares the permission it needs (`config.permission`, checked by
 * api/authenticate.ts, and a route without one refuses to register). docs/security.md carries this
 * table, generated from this file (`npm run docs:permissions`; a test keeps them in step).
 */

import { AppError } from '../core/errors.js';
import type { Role } from '../core/domain.js';

export const PERMISSIONS = {
  'patient.read': "Read a patient's demographics and contact points (PHI)",
  'patient.write': 'Register or replace a patient',
  'contact.webhook': 'Add a webhook contact point to a patient (the server POSTs portal links to that URL)',
  'consent.read': "Read a patient's consent records (FHIR Consent: permit or deny per channel)",
  'consent.write': "Record a patient's consent (FHIR Consent, PUT /v1/patients/{id}/consents)",
  'consent.manage': "Set the tenant's SMS consent keywords (STOP, START, HELP…) and their answers",
  'patient.erase': 'Erase a patient (crypto-shredding; cannot be undone)',
  'notification.create.scheduling': 'Send appointment reminders',
  'notification.create.clinical': 'Send clinical notices (results, medication, prescriptions, follow-ups)',
  'notification.create.billing': 'Send billing notices',
  'notification.read': "Read a notification's status and deliveries (no content)",
  'notification.cancel': "Cancel a notification's pending deliveries",
  'appointment.read': "Read an appointment's schedule",
  'appointment.write': 'Create, reschedule or cancel appointments and their reminders',
  'inbound.read':
    "Read a patient's inbound texts that were no reply code and no keyword (sealed; PHI, with the patient relationship)",
  'replies.manage': "Set the tenant's SMS reply codes for appointment reminders (e.g. C to confirm, N to decline)",
  'proof.read': "Read a notification's signature proof",
  'disclosure.read': 'Read the accounting of disclosures of one patient (ids and times, no PHI)',
  'audit.read': 'Read the audit log, its checkpoints and proofs (identifiers and hashes, no PHI)',
  'audit.checkpoint': 'Sign an audit checkpoint now (anchors a review)',
  'careteam.manage': 'Assign and remove care-team members',
  'breakglass.request': 'Request time-limited emergency access to a patient outside the care team',
  'securityalert.read': 'Read and acknowledge administrator (security) alerts',
  'alert.trigger': 'Raise a clinical alert (POST /v1/alerts)',
  'alert.read':
    'List clinical alerts and read their PHI-free summaries and timelines (details need the patient relationship or being a recipient)',
  'alert.respond':
    'Acknowledge, decline, forward or resolve a clinical alert (a system names the recipient it answers for)',
  'alert.manage':
    'Write escalation policies, groups and unit role assignments; edit staff contact methods for alerting',
  'schedule.read': 'Read on-call schedules, who is on call and the shifts (iCalendar export included)',
  'schedule.manage': 'Create and change on-call schedules, their layers, overrides and swaps',
  'device.manage': 'Register, change and remove medical devices that raise alarms over MQTT',
  'user.manage': 'Invite, change, lock, unlock, disable users and revoke their sessions',
  'apikey.manage': 'Create, list, rotate and revoke API keys',
  'client.manage': 'Register and revoke SMART backend-services clients',
  'hl7.manage': 'Register and remove HL7 v2 senders; list, replay and discard the HL7 error queue',
  'signer.manage': "Register and revoke persons' signing keys",
  'outbox.read': 'Read the development outbox',
  'subscription.manage': 'Create, read, change and delete FHIR Subscriptions (delivery events POSTed to an endpoint)',
  'self.messages': 'A patient reads their own notifications',
  'message.use':
    'End-to-end encrypted messaging as oneself: register messaging devices and key packages, open and take part in conversations (people only)',
  'message.manage': "Set the tenant's messaging policy (cipher suites, lifespans) and run the archive member",
  'settings.manage': "Set the tenant's branding: organisation name, accent colour and logo of its pages and console",
  'settings.read':
    "Read the tenant's delivery settings (reminder offsets, quiet hours), channel configuration status (no secrets) and template previews with sample data",
  'ops.read':
    "Read the tenant's delivery operations: counts by status, channel and time, queue depth and lag, failures by error code, dead letters, provider health (ids and counts, no PHI)",
  'ops.manage': 'Retry or cancel a dead letter (a delivery with no channel left)',
  'privacy.read':
    'Read privacy alerts (anomalies found in the audit log), their evidence entries, suppressions and the sensitive-patient flags (ids and codes, no PHI)',
  'privacy.manage':
    'Investigate and close privacy alerts, write notes on them, create and remove suppressions, flag patients as sensitive',
  'privacy.report': 'Run a breach investigation report over the audit log (who touched which patients, with proofs)',
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

const CLINICAL: Permission[] = [
  'patient.read',
  'patient.write',
  'consent.read',
  'consent.write',
  'notification.create.scheduling',
  'notification.create.clinical',
  'notification.read',
  'notification.cancel',
  'appointment.read',
  'appointment.write',
  'inbound.read',
  'proof.read',
  'breakglass.request',
  'alert.trigger',
  'alert.read',
  'alert.respond',
  'schedule.read',
  'message.use',
];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  // Administers people, keys and clients; sees no clinical content (not on care teams by role).
  admin: [
    'patient.erase',
    'consent.manage',
    'audit.read',
    'disclosure.read',
    'audit.checkpoint',
    'careteam.manage',
    'securityalert.read',
    'alert.read',
    'alert.manage',
    'schedule.read',
    'schedule.manage',
    'device.manage',
    'user.manage',
    'apikey.manage',
    'client.manage',
    'hl7.manage',
    'signer.manage',
    'outbox.read',
    'replies.manage',
    'contact.webhook',
    'subscription.manage',
    'message.use',
    'message.manage',
    'settings.manage',
    'settings.read',
    'ops.read',
    'ops.manage',
    'privacy.read',
    'privacy.manage',
    'privacy.report',
  ],
  physician: CLINICAL,
  nurse: CLINICAL,
  // Scheduling and appointment reminders; demographics to book, no clinical content.
  receptionist: [
    'patient.read',
    'patient.write',
    'consent.read',
    'consent.write',
    'notification.create.scheduling',
    'notification.read',
    'notification.cancel',
    'appointment.read',
    'appointment.write',
    'inbound.read',
    'message.use',
  ],
  billing: ['notification.create.billing', 'notification.read', 'message.use'],
  // Read-only audit, no PHI.
  auditor: ['audit.read', 'disclosure.read', 'proof.read', 'ops.read', 'settings.read'],
  // Reviews access (HIPAA 164.308(a)(1)(ii)(D)): privacy alerts, the log and disclosures; no PHI.
  privacy_officer: ['privacy.read', 'privacy.manage', 'privacy.report', 'audit.read', 'disclosure.read'],
  patient: ['self.messages', 'message.use'],
  // The archive member (docs/archiver.md): a messaging device of its own, nothing else.
  archiver: ['message.use'],
};

/**
 * API-key scopes. A key without scopes is an integration key (the EHR feeding notifications), as
 * every key was before scopes existed; `admin` holds every permission.
 */
export const API_KEY_SCOPES = {
  // Messaging is a person's own (devices, conversations): no key acts as one.
  admin: ALL_PERMISSIONS.filter((p) => p !== 'self.messages' && p !== 'message.use'),
  integration: [
    'patient.read',
    'patient.write',
    'consent.read',
    'consent.write',
    'contact.webhook',
    'notification.create.scheduling',
    'notification.create.clinical',
    'notification.create.billing',
    'notification.read',
    'notification.cancel',
    'appointment.read',
    'appointment.write',
    'inbound.read',
    'proof.read',
    'subscription.manage',
    'alert.trigger',
    'alert.read',
  ],
  // A paging gateway answers for the people it paged (acknowledge, decline) over HTTP.
  paging: ['alert.read', 'alert.respond'],
  // A monitoring system may anchor what it reviewed in a fresh signed checkpoint.
  audit: ['audit.read', 'audit.checkpoint', 'disclosure.read'],
  erasure: ['patient.erase'],
} as const satisfies Record<string, readonly Permission[]>;
export type ApiKeyScope = keyof typeof API_KEY_SCOPES;

/**
 * SMART v2 system scopes (`system/<Resource>.<cruds>`; v1 `.read`/`.write`/`.*` accepted) by FHIR
 * resource and interaction. `*` as resource means every resource listed here. A resource's scopes
 * grant only permissions that resource's own data needs: a scope for one resource must never open
 * another resource's routes (Consent has permissions of its own, not Patient's). Communication and
 * CommunicationRequest are two views of one notification (its deliveries, its request; no content)
 * and share the notification permissions; AuditEvent and the accounting of disclosures are views of
 * the one audit log.
 */
const SMART_RESOURCES: Record<string, Partial<Record<'c' | 'r' | 'u' | 'd' | 's', readonly Permission[]>>> = {
  Patient: { c: ['patient.write'], r: ['patient.read'], u: ['patient.write'], d: ['patient.erase'] },
  Communication: {
    c: ['notification.create.scheduling', 'notification.create.clinical', 'notification.create.billing'],
    r: ['notification.read', 'proof.read'],
    u: ['notification.cancel'],
  },
  Appointment: {
    c: ['appointment.write'],
    r: ['appointment.read'],
    u: ['appointment.write'],
    d: ['appointment.write'],
  },
  AuditEvent: { r: ['audit.read', 'disclosure.read'], s: ['audit.read'] },
  CommunicationRequest: {
    c: ['notification.create.scheduling', 'notification.create.clinical', 'notification.create.billing'],
    r: ['notification.read'],
    u: ['notification.cancel'],
    s: ['notification.read'],
  },
  Consent: { c: ['consent.write'], r: ['consent.read'], s: ['consent.read'] },
  // Reading a Subscription needs the same permission as changing it (it names the endpoint that
  // receives the feed): only write scopes grant it, never a read-only one.
  Subscription: { c: ['subscription.manage'], u: ['subscription.manage'], d: ['subscription.manage'] },
};
export const SMART_SCOPE_PATTERN = /^system\/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)$/;

/** Permissions a SMART system scope grants; null when the scope is malformed or names an unknown resource. */
export function smartScopePermissions(scope: string): Permission[] | null {
  const m = SMART_SCOPE_PATTERN.exec(scope);
  if (!m || m[2] === '') return null;
  const resources = m[1] === '*' ? Object.keys(SMART_RESOURCES) : [m[1]];
  if (!resources.every((r) => r in SMART_RESOURCES)) return null;
  const ops = m[2] === '*' ? 'cruds' : m[2] === 'read' ? 'rs' : m[2] === 'write' ? 'cud' : m[2];
  const out = new Set<Permission>();
  for (const r of resources) for (const op of ops) for (const p of SMART_RESOURCES[r][op as 'c'] ?? []) out.add(p);
  return [...out];
}

export function rolePermissions(roles: readonly string[]): Set<Permission> {
  const out = new Set<Permission>();
  for (const r of roles) for (const p of ROLE_PERMISSIONS[r as Role] ?? []) out.add(p);
  return out;
}

export function apiKeyPermissions(scopes: readonly string[]): Set<Permission> {
  const out = new Set<Permission>();
  for (const s of scopes.length === 0 ? ['integration'] : scopes) {
    for (const p of API_KEY_SCOPES[s as ApiKeyScope] ?? smartScopePermissions(s) ?? []) out.add(p);
  }
  return out;
}

/**
 * Refuses to mint a credential with permissions its creator lacks: a person administering keys
 * without PHI access must not give themselves PHI access through a key or client they hold
 * (no privilege escalation through delegation, ASVS 8.2.x). Throws SP_AUTH_FORBIDDEN.
 */
export function assertMayDelegate(held: ReadonlySet<Permission>, granted: ReadonlySet<Permission>): void {
  const missing = [...granted].filter((p) => !held.has(p));
  if (missing.length)
    throw new AppError(
      'SP_AUTH_FORBIDDEN',
      `a credential cannot hold permissions its creator lacks (${missing.join(', ')})`,
    );
}

/** Permissions SMART system scopes grant together (unknown scopes grant nothing). */
export function smartScopesPermissions(scopes: readonly string[]): Set<Permission> {
  return new Set(scopes.flatMap((s) => smartScopePermissions(s) ?? []));
}

/** Which create permission a notification type needs (receptionists send reminders, billing sends bills). */
export function notificationCreatePermission(type: string): Permission {
  if (type === 'appointment_reminder') return 'notification.create.scheduling';
  if (type === 'billing_statement') return 'notification.create.billing';
  return 'notification.create.clinical';
}

/** Which notification types a principal may read: the ones it may create, by category. */
export function mayReadNotificationType(permissions: ReadonlySet<Permission>, type: string): boolean {
  return permissions.has(notificationCreatePermission(type));
}

/**
 * What a route needs: a permission, or one of
 * - `public`: no authentication (health, portal, docs, sign-in steps that carry their own proof);
 * - `provider`: callbacks signed by a provider (Twilio), checked by the route;
 * - `authenticated`: any signed-in principal (its own sessions, devices, MFA factors).
 */
export type RoutePermission = Permission | 'public' | 'provider' | 'authenticated';
