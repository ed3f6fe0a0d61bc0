import type { Config } from '../config/config.js';
import type { Store } from '../store/store.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import type { TypedApp } from '../api/types.js';
import { opsRoutes } from '../api/routes/ops-routes.js';
import { patientRoutes } from '../api/routes/patient-routes.js';
import { notificationRoutes } from '../api/routes/notification-routes.js';
import { notificationSearchRoutes } from '../api/routes/notification-search-routes.js';
import { patientLookupRoutes } from '../api/routes/patient-lookup-routes.js';
import { NotificationSearch } from '../core/notification-search.js';
import { ContactPointReveal } from '../core/contact-point-reveal.js';
import { appointmentRoutes } from '../api/routes/appointment-routes.js';
import { portalRoutes } from '../api/routes/portal-routes.js';
import { auditQueryRoutes } from '../api/routes/audit-query-routes.js';
import { fhirAuditRoutes } from '../api/routes/fhir-audit-routes.js';
import { communicationRequestRoutes } from '../api/routes/fhir/communication-request-routes.js';
import { communicationRoutes } from '../api/routes/fhir/communication-routes.js';
import { consentRoutes } from '../api/routes/fhir/consent-routes.js';
import { consentRestRoutes } from '../api/routes/consent-routes.js';
import { fhirMetadataRoutes } from '../api/routes/fhir/metadata-routes.js';
import { fhirPatientRoutes } from '../api/routes/fhir/patient-routes.js';
import { fhirAppointmentRoutes } from '../api/routes/fhir/appointment-routes.js';
import { fhirSubscriptionRoutes } from '../api/routes/fhir/subscription-routes.js';
import { auditLogRoutes } from '../api/routes/audit-log-routes.js';
import { privacyReportRoutes } from '../api/routes/privacy-report-routes.js';
import { privacyRoutes } from '../api/routes/privacy-routes.js';
import { signerRoutes } from '../api/routes/signer-routes.js';
import { proofRoutes } from '../api/routes/proof-routes.js';
import { apiKeyRoutes } from '../api/routes/api-key-routes.js';
import { oauthRoutes } from '../api/routes/oauth-routes.js';
import { oauthClientRoutes } from '../api/routes/oauth-client-routes.js';
import { userRoutes } from '../api/routes/user-routes.js';
import { authRoutes } from '../api/routes/auth-routes.js';
import { oidcRoutes } from '../api/routes/oidc-routes.js';
import { mfaRoutes } from '../api/routes/mfa-routes.js';
import { loginPages } from '../api/routes/login-pages.js';
import { careTeamRoutes } from '../api/routes/care-team-routes.js';
import { breakGlassRoutes } from '../api/routes/break-glass-routes.js';
import { securityAlertRoutes } from '../api/routes/security-alert-routes.js';
import { patientAccountRoutes } from '../api/routes/patient-account-routes.js';
import { preferenceRoutes } from '../api/routes/preference-routes.js';
import { deviceRoutes } from '../api/routes/device-routes.js';
import { pushRoutes, pushWorkerRoutes } from '../api/routes/push-routes.js';
import { messagingDeviceRoutes } from '../api/routes/messaging-device-routes.js';
import { conversationRoutes } from '../api/routes/conversation-routes.js';
import { attachmentRoutes } from '../api/routes/attachment-routes.js';
import { messagingPolicyRoutes } from '../api/routes/messaging-policy-routes.js';
import { messagingLiveRoutes } from '../api/routes/messaging-live-routes.js';
import { messagingDirectoryRoutes } from '../api/routes/messaging-directory-routes.js';
import { hl7Routes } from '../api/routes/hl7-routes.js';
import { subscriptionStatusRoutes } from '../api/routes/subscription-status-routes.js';
import { medicalDeviceRoutes } from '../api/routes/medical-device-routes.js';
import { devOutboxRoutes } from '../api/routes/dev-outbox-routes.js';
import { twilioCallbackRoutes } from '../api/routes/provider-routes.js';
import { inboundMessageRoutes } from '../api/routes/inbound-message-routes.js';
import { scheduleRoutes } from '../api/routes/schedule-routes.js';
import { groupRoutes } from '../api/routes/group-routes.js';
import { unitRoutes } from '../api/routes/unit-routes.js';
import { staffContactRoutes } from '../api/routes/staff-contact-routes.js';
import { clinicalAlertRoutes } from '../api/routes/clinical-alert-routes.js';
import { escalationPolicyRoutes } from '../api/routes/escalation-policy-routes.js';
import { alertPages } from '../api/routes/alert-pages.js';
import { portalInboxRoutes } from '../api/routes/portal-inbox-routes.js';
import { patientInboxRoutes } from '../api/routes/patient-inbox-routes.js';
import { consoleRoutes } from '../api/routes/console-routes.js';
import { portalNotificationsRoutes } from '../api/routes/portal-notifications-routes.js';
import { brandingRoutes } from '../api/routes/branding-routes.js';
import { opsConsoleRoutes } from '../api/routes/ops-console-routes.js';
import { settingsRoutes } from '../api/routes/settings-routes.js';
import type { Services } from './services.js';

/**
 * Every route module, registered with its prefix and what it needs. Each route declares its
 * permission (auth/permissions.ts); the server refuses to register one that does not.
 */
export function registerRoutes(
  server: TypedApp,
  s: Services,
  o: { config: Config; store: Store; clock: () => Date; isReady: () => boolean },
): void {
  const { config, store, clock } = o;
  const access = s.patientAccess;
  // Per-tenant branding of the pages and the console (name, accent colour, logo).
  const branding = s.branding;
  server.register(brandingRoutes, { branding, sessions: s.sessions });
  // Operations: liveness, readiness (metrics have a listener of their own: App.metricsServer).
  server.register(opsRoutes, { store, started: o.isReady });
  // The console's operations overview (PHI-free counts, dead letters) and settings (no secrets, sample data only).
  server.register(opsConsoleRoutes, { prefix: '/v1/ops', ops: s.ops });
  server.register(settingsRoutes, { prefix: '/v1/settings', settings: s.settings });
  // Patients, their notifications and appointments; the patient portal behind the nudges.
  server.register(patientRoutes, { prefix: '/v1/patients', patients: s.patients, access });
  server.register(notificationRoutes, { prefix: '/v1/notifications', notifications: s.notifications, access });
  // The console's searches: notifications by patient, type, status and time; patients by identifier, contact points masked.
  server.register(notificationSearchRoutes, { search: new NotificationSearch(s.core), access, store, clock });
  server.register(patientLookupRoutes, { contacts: new ContactPointReveal(s.core, s.patients), access, clock });
  server.register(appointmentRoutes, { prefix: '/v1/appointments', appointments: s.appointments, access });
  // Patients' unrecognised inbound texts and the tenant's SMS reply codes.
  server.register(inboundMessageRoutes, { prefix: '/v1', replies: s.patientReplies, access });
  server.register(portalRoutes, {
    prefix: '/m',
    portal: s.portal,
    sessionMinutes: config.portal.sessionTtlMinutes,
    branding,
  });
  // Audit: queries, FHIR AuditEvent, the transparency log; signatures and delivery proofs.
  server.register(auditQueryRoutes, { prefix: '/v1', audit: s.auditQueries });
  server.register(fhirAuditRoutes, { prefix: '/fhir/R4', audit: s.auditQueries, publicUrl: config.publicUrl });
  server.register(communicationRequestRoutes, {
    prefix: '/fhir/R4',
    communicationRequests: s.communicationRequests,
    access,
    publicUrl: config.publicUrl,
  });
  server.register(communicationRoutes, {
    prefix: '/fhir/R4',
    communications: s.communications,
    access,
    publicUrl: config.publicUrl,
  });
  server.register(consentRoutes, { prefix: '/fhir/R4', consents: s.consent, access, publicUrl: config.publicUrl });
  // The consent ledger over REST: staff, the signed-in patient, the tenant's SMS keywords.
  server.register(consentRestRoutes, { prefix: '/v1', consents: s.consent, access });
  server.register(fhirSubscriptionRoutes, { prefix: '/fhir/R4', subscriptions: s.subscriptions, access });
  // FHIR R4: the CapabilityStatement and vocabulary (public), then one plugin per resource.
  server.register(fhirMetadataRoutes, {
    prefix: '/fhir/R4',
    publicUrl: config.publicUrl,
    tokenUrl: s.oauthClients.tokenUrl,
    version: '0.1.0',
  });
  server.register(fhirPatientRoutes, {
    prefix: '/fhir/R4',
    patients: s.fhirPatients,
    access,
    publicUrl: config.publicUrl,
  });
  server.register(fhirAppointmentRoutes, {
    prefix: '/fhir/R4',
    appointments: s.fhirAppointments,
    access,
    publicUrl: config.publicUrl,
  });
  server.register(auditLogRoutes, { prefix: '/v1/audit', log: s.auditLog });
  // Breach investigation reports (privacy officers): the audit log's entries in a scope, with proofs, signed.
  server.register(privacyReportRoutes, { prefix: '/v1/privacy', reports: s.privacyReports });
  server.register(privacyRoutes, { prefix: '/v1', privacy: s.privacy });
  server.register(signerRoutes, { prefix: '/v1/signers', signers: s.signers });
  server.register(proofRoutes, { proofs: s.proofs, access });
  // Identity and access: system clients, people, sign-in, MFA, care teams, break-glass.
  server.register(apiKeyRoutes, { prefix: '/v1/api-keys', store, clock });
  server.register(oauthRoutes, { clients: s.oauthClients });
  server.register(oauthClientRoutes, { prefix: '/v1/oauth-clients', clients: s.oauthClients });
  server.register(userRoutes, { prefix: '/v1/users', users: s.users });
  server.register(authRoutes, {
    prefix: '/v1',
    signIn: s.signIn,
    sessions: s.sessions,
    store,
    publicUrl: config.publicUrl,
    clock,
  });
  if (s.oidc) server.register(oidcRoutes, { prefix: '/v1/auth/oidc', oidc: s.oidc, sessions: s.sessions });
  server.register(mfaRoutes, { prefix: '/v1/auth', store, sessions: s.sessions, mfa: s.mfa, webauthn: s.webauthn });
  server.register(loginPages, { branding });
  server.register(careTeamRoutes, { prefix: '/v1/patients', careTeams: s.careTeams });
  server.register(breakGlassRoutes, { prefix: '/v1', breakGlass: s.breakGlass });
  server.register(securityAlertRoutes, { prefix: '/v1/security-alerts', alerts: s.breakGlass });
  server.register(patientAccountRoutes, { prefix: '/v1', accounts: s.patientAccounts, sessions: s.sessions, access });
  server.register(preferenceRoutes, { prefix: '/v1', preferences: s.preferences, access });
  // The portal's secure-message inbox and its scripts (the SDK bundled for browsers).
  server.register(portalInboxRoutes, { prefix: '/portal', branding });
  // The signed-in patient's notifications, settings and devices, live over Server-Sent Events.
  server.register(patientInboxRoutes, {
    prefix: '/v1',
    accounts: s.patientAccounts,
    feed: s.inboxFeed,
    store,
    sessions: s.sessions,
    onError: (e) =>
      server.log.warn({ code: (e as { code?: string })?.code ?? (e as Error)?.name }, 'inbox stream read failed'),
  });
  server.register(portalNotificationsRoutes, { prefix: '/portal', branding });
  // The console (web/, built into config.consoleDir): a single-page application over the public API.
  server.register(consoleRoutes, { dir: config.consoleDir });
  server.register(deviceRoutes, { prefix: '/v1/me/devices', devices: s.devices });
  // Push notifications: the patient's device registrations, the VAPID key, the portal's service worker.
  server.register(pushRoutes, { prefix: '/v1', push: s.push, vapidKeys: s.vapidKeys });
  server.register(pushWorkerRoutes, { prefix: '/portal' });
  // Messaging devices (MLS bindings, key transparency) and their key packages.
  server.register(messagingDeviceRoutes, {
    prefix: '/v1/messaging',
    registry: s.messagingDevices,
    keyPackages: s.keyPackages,
  });
  // Conversations (MLS Delivery Service), the tenant's messaging policy and external sender.
  server.register(conversationRoutes, { prefix: '/v1', conversations: s.conversations });
  server.register(attachmentRoutes, { prefix: '/v1/conversations', attachments: s.attachments });
  server.register(messagingPolicyRoutes, { prefix: '/v1/messaging', conversations: s.conversations });
  server.register(messagingDirectoryRoutes, { prefix: '/v1/messaging', store });
  // Live delivery: the WebSocket of conversation events (its own @fastify/websocket scope).
  server.register(messagingLiveRoutes, {
    prefix: '/v1/messaging',
    hub: s.live.hub,
    devices: s.deviceDirectory,
    store,
    publicUrl: config.publicUrl,
  });
  // Clinical alerting's directory: on-call schedules, staff groups, unit roles.
  server.register(scheduleRoutes, { prefix: '/v1/schedules', schedules: s.schedules });
  server.register(groupRoutes, { prefix: '/v1/groups', groups: s.groups });
  server.register(unitRoutes, { prefix: '/v1/units', groups: s.groups });
  // Clinical alerting: how each staff user is reached (contact methods, quiet hours, language).
  server.register(staffContactRoutes, { prefix: '/v1', contacts: s.staffContacts });
  // Clinical alerts and their escalation policies.
  server.register(clinicalAlertRoutes, { prefix: '/v1/alerts', alerts: s.alerts, access });
  server.register(escalationPolicyRoutes, { prefix: '/v1/escalation-policies', policies: s.escalationPolicies });
  server.register(alertPages, { alerts: s.alerts });
  // Medical devices that raise alarms over MQTT (administrators).
  server.register(medicalDeviceRoutes, { prefix: '/v1/medical-devices', devices: s.medicalDevices });
  // HL7 v2: registered senders and the error queue (administrators).
  server.register(hl7Routes, { prefix: '/v1/hl7', hl7: s.hl7 });
  server.register(subscriptionStatusRoutes, { prefix: '/v1', store });
  // Development outbox (when a channel uses it) and provider callbacks (when the provider is configured).
  if (Object.values(s.channels).some((c) => c.provider === 'dev-outbox'))
    server.register(devOutboxRoutes, {
      prefix: '/v1/dev/outbox',
      store,
      sealer: s.sealer,
      smsReplies:
        s.channels.sms.provider === 'dev-outbox'
          ? { alerts: s.alertSmsReplies, consent: s.consent, replies: s.patientReplies }
          : undefined,
    });
  if (config.channels.sms === 'twilio')
    server.register(twilioCallbackRoutes, {
      prefix: '/v1/providers/twilio',
      authToken: config.twilio.authToken!,
      publicUrl: config.publicUrl,
      processor: s.processor,
      consent: s.consent,
      alertDispatcher: s.alertDispatcher,
      alertSmsReplies: s.alertSmsReplies,
      replies: s.patientReplies,
      tenantId: DEFAULT_TENANT,
    });
}
