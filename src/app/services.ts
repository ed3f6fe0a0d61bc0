import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config/config.js';
import { BrandingService } from '../core/branding-service.js';
import { OpsService } from '../core/ops-service.js';
import { SettingsOverview } from '../core/settings-overview.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import { patientRef, type CoreDeps } from '../core/context.js';
import type { Channel, OutboundChannelKind } from '../channels/channel.js';
import type { Store } from '../store/store.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { outboxSealer } from '../channels/dev-outbox/outbox-sealer.js';
import type { OutboxSealer } from '../channels/dev-outbox/dev-outbox-channel.js';
import { TemplateRegistry } from '../core/templates/template-registry.js';
import { PrivacyReportService } from '../core/privacy-report-service.js';
import { PrivacyAlertService } from '../core/privacy-alert-service.js';
import { PrivacyMonitor } from '../audit/privacy/privacy-monitor.js';
import { kekShredder, keyProviderKekOperations } from '../core/erasure-rotation.js';
import { PatientService } from '../core/patient-service.js';
import { NotificationService } from '../core/notification-service.js';
import { AppointmentService } from '../core/appointment-service.js';
import { PortalService } from '../core/portal-service.js';
import { ConsentService } from '../core/consent-service.js';
import { PatientPreferencesService } from '../core/patient-preferences.js';
import { DeliveryProcessor } from '../core/delivery-processor.js';
import { CareTeamService } from '../core/care-team-service.js';
import { BreakGlassService } from '../core/break-glass-service.js';
import { AuditQueryService } from '../core/audit-query-service.js';
import { SignerService } from '../core/signer-service.js';
import { ProofService } from '../core/proof-service.js';
import { PatientAccountService } from '../core/patient-account-service.js';
import { DeviceService } from '../core/device-service.js';
import { CommunicationRequestService } from '../ehr/fhir/communication-request.js';
import { CommunicationService } from '../ehr/fhir/communication.js';
import { SubscriptionService } from '../ehr/fhir/subscription-service.js';
import { SubscriptionEventSink } from '../ehr/fhir/subscription-events.js';
import { PatientInboxFeed } from '../core/patient-inbox-feed.js';
import { RestHookWorker } from '../ehr/fhir/subscription-worker.js';
import { subscriptionFocusReader } from '../ehr/fhir/subscription-focus.js';
import { OutboundAddressPolicy } from '../channels/outbound-address.js';
import { Hl7Service } from '../ehr/hl7-apply/hl7-service.js';
import { FhirPatients } from '../ehr/fhir/fhir-patients.js';
import { FhirAppointments } from '../ehr/fhir/fhir-appointments.js';
import { DeliveryWorker } from '../queue/delivery-worker.js';
import { AuditLog } from '../audit/audit-log.js';
import { SessionService, sessionPolicy } from '../auth/session-service.js';
import { PatientAccess } from '../auth/patient-access.js';
import { MfaService } from '../auth/mfa-service.js';
import { WebAuthnService } from '../auth/webauthn-service.js';
import { AdminAlertMailer } from '../auth/admin-alert-mailer.js';
import { LoginThrottle, throttlePolicy } from '../auth/throttle.js';
import { UserService } from '../auth/user-service.js';
import { SignInService } from '../auth/sign-in-service.js';
import { OidcService } from '../auth/oidc-service.js';
import { OAuthClientService } from '../auth/oauth-client-service.js';
import { Metrics } from '../api/metrics.js';
import { ScheduleService } from '../alerting/schedules/schedule-service.js';
import { GroupService } from '../alerting/directory/group-service.js';
import { Directory } from '../alerting/directory/directory.js';
import { AlertDispatcher } from '../alerting/alert-dispatcher.js';
import { AlertNotifierService } from '../alerting/alert-notifier.js';
import { buildAlerting, type AlertService } from '../alerting/alert-service.js';
import type { EscalationPolicyService } from '../alerting/escalation-policy-service.js';
import type { TimerWorker } from '../alerting/alert-timers.js';
import { AlertSmsReplies } from '../alerting/sms-replies.js';
import { PatientReplies, ReplyQuestionBinder } from '../core/patient-replies.js';
import { SmsAnswer } from '../core/sms-answer.js';
import { EventWebhookWorker } from '../core/event-webhooks.js';
import { EventWebhookSender } from '../channels/webhook/event-webhook-sender.js';
import { StaffContactService } from '../alerting/staff-contacts.js';
import type { AlertResponder } from '../alerting/alert-types.js';
import { MedicalDeviceService } from '../alerting/devices/medical-device-service.js';
import { AlarmIntake } from '../alerting/devices/alarm-intake.js';
import { buildChannels } from './channels.js';
import { errorCode } from './startup.js';
import { MessagingDeviceRevoker } from '../messaging/device-revoker.js';
import { DeviceRegistry } from '../messaging/device-registry.js';
import { KeyPackageService } from '../messaging/key-packages.js';
import { StoreDeviceDirectory } from '../messaging/device-directory.js';
import { buildLiveDelivery, type LiveDelivery } from '../messaging/live-delivery.js';
import { buildConversations, type Conversations } from '../messaging/conversation-module.js';
import { AttachmentService } from '../messaging/attachment-store.js';
import { AttachmentSweeper } from '../messaging/attachment-sweeper.js';
import { ExternalSenders } from '../messaging/external-sender.js';
import { PushRegistrationService } from '../core/push-registration-service.js';
import { lazyVapidKeys, loadVapidKeys, type VapidKeys } from '../channels/push/vapid-keys.js';

/** What the services are built on: opened (and closed) by `buildApp`. */
export interface Foundations {
  config: Config;
  logger: Logger;
  clock: () => Date;
  keyring: KeyProvider;
  store: Store;
  /** This node's name in leases and claims (host, process, random). */
  owner: string;
  /** Replacements of channel adapters (tests of our own boundaries only). */
  channels?: Partial<Record<OutboundChannelKind, Channel>>;
}

/** Every service of a running Sealpost, built once, each from what it needs. */
export interface Services {
  cipher: EnvelopeCipher;
  sealer: OutboxSealer;
  /** Patients' channel kinds plus `paging` (staff alerting only). */
  channels: Record<OutboundChannelKind, Channel>;
  core: CoreDeps;
  /** Per-tenant branding of the pages and the console (name, accent colour, logo). */
  branding: BrandingService;
  /** The console's operations overview (PHI-free counts, dead letters) and settings (no secrets). */
  ops: OpsService;
  settings: SettingsOverview;
  // Patients and their notifications
  patients: PatientService;
  notifications: NotificationService;
  appointments: AppointmentService;
  portal: PortalService;
  consent: ConsentService;
  /** Patients' delivery preferences (channel per type, language, quiet hours, no texts after). */
  preferences: PatientPreferencesService;
  processor: DeliveryProcessor;
  worker: DeliveryWorker;
  metrics: Metrics;
  // Audit, signatures and proofs
  auditLog: AuditLog;
  auditQueries: AuditQueryService;
  signers: SignerService;
  proofs: ProofService;
  privacyReports: PrivacyReportService;
  /** Privacy monitoring: the worker over the audit stream (one node, leased) and the officers' alert lifecycle. */
  privacyMonitor: PrivacyMonitor;
  privacy: PrivacyAlertService;
  // Identity and access: people, sign-in, MFA, care teams, break-glass, system clients
  sessions: SessionService;
  patientAccess: PatientAccess;
  throttle: LoginThrottle;
  users: UserService;
  signIn: SignInService;
  mfa: MfaService;
  webauthn: WebAuthnService;
  oidc: OidcService | null;
  oauthClients: OAuthClientService;
  breakGlass: BreakGlassService;
  careTeams: CareTeamService;
  // Clinical alerting's directory: on-call schedules, groups and unit roles, and target resolution
  schedules: ScheduleService;
  groups: GroupService;
  directory: Directory;
  patientAccounts: PatientAccountService;
  /** Open patient inboxes on this node and the signal that wakes them on every node. */
  inboxFeed: PatientInboxFeed;
  /** Patients' push registrations (their devices) and the installation's VAPID keys. */
  push: PushRegistrationService;
  vapidKeys: () => Promise<VapidKeys>;
  // EHR integration: HL7 v2 senders, messages and the error queue
  hl7: Hl7Service;
  // FHIR R4 Patient and Appointment
  fhirPatients: FhirPatients;
  fhirAppointments: FhirAppointments;
  devices: DeviceService;
  // FHIR CommunicationRequest (notifications) and Communication (deliveries); Consent is `consent`
  communicationRequests: CommunicationRequestService;
  communications: CommunicationService;
  // FHIR Subscriptions (R5 Backport IG): the resource and the rest-hook sender
  subscriptions: SubscriptionService;
  restHooks: RestHookWorker;
  // Clinical alerting: how staff are told (nudges, their dispatcher and sweep, SMS replies, contacts)
  alertNotifier: AlertNotifierService;
  alertDispatcher: AlertDispatcher;
  alertSmsReplies: AlertSmsReplies;
  /** Two-way SMS replies to appointment reminders, unrecognised texts, and the EHR's event webhook sender. */
  patientReplies: PatientReplies;
  eventWebhooks: EventWebhookWorker | null;
  staffContacts: StaffContactService;
  // Clinical alerts: trigger, responses, escalation policies and the durable timer worker
  alerts: AlertService;
  escalationPolicies: EscalationPolicyService;
  alertTimers: TimerWorker;
  // Device alarms over MQTT: registered medical devices, and what turns their messages into alerts
  medicalDevices: MedicalDeviceService;
  alarmIntake: AlarmIntake;
  // Messaging devices (MLS bindings) and key packages; the revoker's `membership` and the key
  // packages' `feed` are set once the conversations and live parts exist.
  messagingDevices: DeviceRegistry;
  keyPackages: KeyPackageService;
  deviceDirectory: StoreDeviceDirectory;
  deviceRevocations: MessagingDeviceRevoker;
  // Live delivery of conversation events (WebSocket hub, every node through the store's feed
  // signal) and PHI-free nudges of people who did not get a message live.
  live: LiveDelivery;
  // Conversations (the MLS Delivery Service): rosters, commits, the event log, recall, lifespan purge.
  conversations: Conversations;
  // Encrypted attachments of messages, and the sweep of those no message names within 24 h.
  attachments: AttachmentService;
  attachmentSweeper: AttachmentSweeper;
}

/** The table of what exists: construction only, nothing starts here (see `App.start`). */
export function buildServices(f: Foundations): Services {
  const { config, logger, clock, keyring, store, owner } = f;
  const outbound = {
    timeoutMs: config.channels.timeoutMs,
    insecureSkipTlsVerify: config.channels.insecureSkipTlsVerify,
    ca: config.channels.outboundCa,
    allowedHosts: config.webhook.allowedHosts,
  };

  const cipher = new EnvelopeCipher(keyring, {
    max: config.keys.dataKeyCache.max,
    ttlMs: config.keys.dataKeyCache.ttlSeconds * 1000,
  });
  const sealer = outboxSealer(keyring);
  const webhookSecret = keyring.macKey('sealpost/webhook').toString('hex');
  // The installation's VAPID key pair (Web Push), made and sealed at first use, the same on every node.
  const vapidKeys = lazyVapidKeys(() => loadVapidKeys(store.read.settings, keyring.macKey('sealpost/vapid')));
  const channels = { ...buildChannels(config, store, sealer, webhookSecret, logger, vapidKeys), ...f.channels };

  let worker: DeliveryWorker | null = null;
  const wake = () => {
    worker?.wake();
    store.dueSignal?.announce();
  };
  // The notary key (and its published current and retired versions) is the key provider's.
  const signing = { signer: () => keyring.signer(), publishedKeys: () => keyring.publishedSigningKeys() };
  const core: CoreDeps = {
    config,
    store,
    cipher,
    templates: TemplateRegistry.load(),
    clock,
    newId: uuidv7,
    wake,
    signing,
  };
  // FHIR Subscriptions hear core's events inside their transactions (ehr/fhir/subscription-events.ts).
  const subscriptionEvents = new SubscriptionEventSink((tenantId, patientId) => patientRef(core, tenantId, patientId));
  // Open patient inboxes (the portal's live stream) hear the same events, and creations and reads.
  const inboxFeed = new PatientInboxFeed({
    ref: (tenantId, patientId) => patientRef(core, tenantId, patientId),
    signal: store.feedSignal,
    onError: (e) => logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'patient inbox signal failed'),
  });
  const replyQuestions = new ReplyQuestionBinder(core);
  core.events = {
    async record(tx, events) {
      await subscriptionEvents.record(tx, events);
      await inboxFeed.record(tx, events);
      // Reply codes bind to the number an appointment reminder's SMS went to (core/patient-replies.ts).
      await replyQuestions.record(tx, events);
    },
  };
  core.inbox = inboxFeed;
  // Clinical alerting's directory: who a target names at the instant an escalation step fires.
  const schedules = new ScheduleService(core, logger);
  const directory = new Directory(schedules);

  const patients = new PatientService(core, {
    // Erasure completes with a tenant KEK rotation and the destruction of every older version.
    kek: kekShredder(keyProviderKekOperations(store, keyring, clock)),
    // A failed background shredding stays pending and is resumed at the next start (codes only, no PHI).
    onError: (e) =>
      logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'erasure shredding failed; it stays pending'),
  });
  const notifications = new NotificationService(core);
  const processor = new DeliveryProcessor(core, channels, owner);
  const metrics = new Metrics(store);
  worker = new DeliveryWorker(
    store,
    (limit, now, leaseUntil) => processor.claim(limit, now, leaseUntil),
    { owner, ...config.worker, clock },
    logger,
  );
  worker.onOutcome = (o, d) => metrics.deliveryAttempted(o, Number(d.run_at), clock().getTime());

  // Devices revoked by a remote wipe or by their owner take their messaging bindings with them.
  const deviceRevocations = new MessagingDeviceRevoker();
  const sessions = new SessionService(store, sessionPolicy(config.identity), clock, deviceRevocations);
  const devices = new DeviceService(core, deviceRevocations);
  const keyPackages = new KeyPackageService({
    store,
    clock,
    newId: uuidv7,
    lowThreshold: config.messaging.keyPackageLow,
  });
  // One directory of messaging devices for every part that checks or claims them.
  const deviceDirectory = new StoreDeviceDirectory(keyPackages);
  const live = buildLiveDelivery({
    core,
    devices: deviceDirectory,
    channels: { email: channels.email, sms: channels.sms },
    signal: store.feedSignal,
    organisationName: config.organisationName,
    publicUrl: config.publicUrl,
    timeoutMs: config.channels.timeoutMs,
    nudgeDelayMs: config.messaging.nudgeDelaySeconds * 1000,
    onError: (e) => logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'live delivery step failed'),
  });
  // A device whose key packages run low is told on its live connection, on whichever node holds it.
  keyPackages.feed = live.hub;
  // Encrypted attachments (opaque blobs): built before the conversations, which link and delete
  // them, and reading membership back through them.
  let conversationsPart: Conversations | null = null;
  const attachments = new AttachmentService({
    store,
    clock,
    newId: uuidv7,
    devices: deviceDirectory,
    conversations: {
      memberDevices: (tenantId, id) => conversationsPart!.events.memberDevices(tenantId, id),
      eventsFor: (tenantId, id, deviceId, after, limit) =>
        conversationsPart!.events.eventsFor(tenantId, id, deviceId, after, limit),
    },
    limits: {
      maxBytes: config.messaging.maxAttachmentBytes,
      quotaBytes: config.messaging.attachmentQuotaBytes,
      conversationBytes: config.messaging.conversationStorageBytes,
    },
  });
  const attachmentSweeper = new AttachmentSweeper(attachments, { intervalMs: 15 * 60_000 }, (e) =>
    logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'attachment sweep failed; next run in 15 minutes'),
  );
  // Conversations: live delivery reads through them; a revoked device leaves every group it was in.
  const conversations = buildConversations(
    {
      store,
      cipher,
      clock,
      newId: uuidv7,
      devices: deviceDirectory,
      attachments,
      feed: live.hub,
      externalSenders: new ExternalSenders({ cipher, clock }),
      patientRef: (tenantId, patientId) => patientRef(core, tenantId, patientId),
    },
    { onError: (e) => logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'conversation sweep failed') },
  );
  conversationsPart = conversations;
  live.readFrom(conversations.events);
  deviceRevocations.membership = conversations.recall;
  const throttle = new LoginThrottle(store, throttlePolicy(config.identity));
  const users = new UserService(core, sessions, throttle);
  const mfa = new MfaService({
    store,
    cipher,
    sessions,
    clock,
    newId: uuidv7,
    ...throttle.secondFactorHooks(clock),
  });
  // Break-glass is told to the tenant's administrators at once, by e-mail (ids and times only).
  const alertMailer = new AdminAlertMailer(
    store,
    channels.email,
    {
      organisationName: config.organisationName,
      publicUrl: config.publicUrl,
      timeoutMs: outbound.timeoutMs,
      newId: uuidv7,
    },
    logger,
  );

  const auditLog = new AuditLog(
    store,
    keyring,
    {
      origin: config.audit.origin,
      checkpointSeconds: config.audit.checkpointSeconds,
      checkpointEntries: config.audit.checkpointEntries,
      batch: config.audit.integrateBatch,
      owner,
    },
    clock,
    logger,
  );

  // Privacy monitoring: detectors over the numbered audit stream; new alerts e-mailed (id and score only).
  const privacyMonitor = new PrivacyMonitor(
    store,
    { owner, intervalMs: config.audit.privacyMonitorIntervalMs, batchSize: 2000, newId: uuidv7 },
    clock,
    {
      notify: (tenantId, alert) => alertMailer.notifyPrivacyAlert(tenantId, alert),
      onError: (e) =>
        logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'privacy monitor run failed; will retry'),
    },
  );

  const fhirBase = `${config.publicUrl.replace(/\/+$/, '')}/fhir/R4`;
  const restHooks: RestHookWorker = new RestHookWorker(
    core,
    fhirBase,
    {
      owner,
      pollMs: Math.max(config.worker.pollMs, 250),
      leaseMs: config.worker.leaseMs,
      backoffBaseMs: config.worker.backoffBaseMs,
      backoffCapMs: config.worker.backoffCapMs,
      timeoutMs: config.channels.timeoutMs,
      maxFailures: config.webhook.subscriptionMaxFailures,
      batchSize: 20,
      allowedHosts: config.webhook.allowedHosts,
      insecureSkipTlsVerify: config.channels.insecureSkipTlsVerify,
      ca: config.channels.outboundCa,
    },
    subscriptionFocusReader(core),
    (e) => logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'subscription notification round failed'),
  );
  const subscriptions = new SubscriptionService(
    core,
    new OutboundAddressPolicy(config.webhook.allowedHosts),
    () => restHooks.wake(),
    fhirBase,
  );

  // Alert nudges: leased to this node when planned, re-sent by any node's sweep once a lease expires.
  const alertDispatcher = new AlertDispatcher(
    store,
    {
      sms: channels.sms,
      email: channels.email,
      webhook: channels.webhook,
      // The paging gateway (SNPP), or the sealed dev outbox when none is configured.
      paging: channels.paging,
    },
    {
      owner,
      organisationName: config.organisationName,
      publicUrl: config.publicUrl,
      leaseMs: Math.max(30_000, config.channels.timeoutMs * 2),
      pollMs: 1_000,
      maxAttempts: 4,
      backoffBaseMs: config.worker.backoffBaseMs,
      backoffCapMs: Math.min(config.worker.backoffCapMs, 60_000),
      timeoutMs: config.channels.timeoutMs,
      concurrency: 16,
    },
    clock,
    (e) => logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'alert nudge send failed'),
  );
  const alertNotifier = new AlertNotifierService({
    cipher,
    newId: uuidv7,
    dispatcher: alertDispatcher,
    owner,
    leaseMs: Math.max(30_000, config.channels.timeoutMs * 2),
  });
  // SMS replies ("1" acknowledges, "1D" passes on) answer through the alert service once it is built.
  // (the alert service, once built here, is set as `alertResponder.current`).
  const alertResponder: { current?: AlertResponder } = {};
  const alertSmsReplies = new AlertSmsReplies({
    store,
    cipher,
    tenantId: DEFAULT_TENANT,
    sms: channels.sms,
    responder: () => alertResponder.current,
    clock,
    newId: uuidv7,
    timeoutMs: config.channels.timeoutMs,
    onError: (e) => logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'alert SMS reply not fully handled'),
  });

  // The EHR's event webhook (SEALPOST_EVENT_WEBHOOK_URL): durable queue, signed POSTs, retried.
  const eventWebhookSettings = config.webhook.events;
  const eventWebhooks = eventWebhookSettings
    ? new EventWebhookWorker(
        store,
        new EventWebhookSender({
          ...eventWebhookSettings,
          timeoutMs: config.channels.timeoutMs,
          allowedHosts: config.webhook.allowedHosts,
          insecureSkipTlsVerify: config.channels.insecureSkipTlsVerify,
          ca: config.channels.outboundCa,
        }),
        {
          owner,
          pollMs: Math.max(config.worker.pollMs, 1000),
          leaseMs: Math.max(30_000, config.channels.timeoutMs * 2),
          batchSize: 50,
          maxAttempts: config.worker.maxAttempts.webhook,
          backoffBaseMs: config.worker.backoffBaseMs,
          backoffCapMs: config.worker.backoffCapMs,
        },
        clock,
        (e) => logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'event webhook round failed'),
      )
    : null;
  // Keyword reads (stateless): reply codes must never be keywords; unrecognised texts get the HELP text.
  const keywordConsent = new ConsentService(core);
  const patientReplies = new PatientReplies(core, {
    answer: new SmsAnswer({
      sms: channels.sms,
      newId: uuidv7,
      timeoutMs: config.channels.timeoutMs,
      onError: (e) => logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'SMS answer not sent'),
    }),
    isKeyword: (tenantId, word) => keywordConsent.isKeyword(tenantId, word),
    helpText: (tenantId, language) => keywordConsent.helpText(tenantId, language),
    eventWebhook: eventWebhooks !== null,
    wakeEventWebhook: () => eventWebhooks?.wake(),
  });

  const alerting = buildAlerting(
    core,
    { resolver: directory, notifier: alertNotifier },
    { owner, onError: (e) => logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'alert timer round failed') },
  );
  alertResponder.current = alerting.alerts;

  return {
    cipher,
    subscriptions,
    ...alerting,
    medicalDevices: new MedicalDeviceService(core),
    alarmIntake: new AlarmIntake(core, { trigger: alerting.alerts, responder: alerting.alerts }),
    alertNotifier,
    alertDispatcher,
    alertSmsReplies,
    patientReplies,
    eventWebhooks,
    staffContacts: new StaffContactService({ store, clock }, config.webhook.allowedHosts),
    restHooks,
    sealer,
    channels,
    core,
    branding: new BrandingService({ store, clock, config }),
    ops: new OpsService(core, channels),
    settings: new SettingsOverview(core),
    patients,
    notifications,
    appointments: new AppointmentService(core, notifications),
    portal: new PortalService(core, channels),
    // Keyword confirmations and HELP answers go straight back through the SMS channel (PHI-free).
    consent: new ConsentService(core, {
      answer: new SmsAnswer({
        sms: channels.sms,
        newId: uuidv7,
        timeoutMs: config.channels.timeoutMs,
        onError: (e) => logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'consent keyword answer not sent'),
      }),
    }),
    preferences: new PatientPreferencesService(core),
    communicationRequests: new CommunicationRequestService(core, notifications),
    communications: new CommunicationService(core),
    processor,
    worker,
    metrics,
    auditLog,
    auditQueries: new AuditQueryService(core),
    signers: new SignerService(core),
    // Each proof is anchored in the audit log (its creation entry's inclusion in a signed checkpoint).
    proofs: new ProofService(core, auditLog),
    // Breach investigation reports over the audit log, signed by the notary key (privacy.report).
    privacyReports: new PrivacyReportService(core, auditLog),
    privacyMonitor,
    // Suppressions and false-positive closes are e-mailed to the other officers and administrators.
    privacy: new PrivacyAlertService(
      core,
      { enabled: config.audit.privacyMonitor, status: () => privacyMonitor.status() },
      (tenantId, notice) =>
        alertMailer.notifyPrivacyOversight(tenantId, notice).catch((e) => {
          logger.warn({ code: errorCode(e) ?? (e as Error)?.name }, 'privacy oversight e-mail not sent');
        }),
    ),
    sessions,
    // The patient relationship (care team, break-glass) every content route checks for clinicians.
    patientAccess: new PatientAccess({
      store,
      clock,
      patientRef: (tenantId, patientId) => patientRef(core, tenantId, patientId),
    }),
    throttle,
    users,
    signIn: new SignInService(core, sessions, throttle, users, channels.email, logger),
    mfa,
    webauthn: new WebAuthnService({ store, mfa, clock, newId: uuidv7, publicUrl: config.publicUrl }),
    oidc: config.identity.oidc
      ? new OidcService(
          store,
          sessions,
          { settings: config.identity.oidc, publicUrl: config.publicUrl, ...outbound, defaultTenant: DEFAULT_TENANT },
          clock,
        )
      : null,
    // SMART backend-services clients; access tokens are MACed with a key every node derives alike.
    oauthClients: new OAuthClientService({
      store,
      clock,
      publicUrl: config.publicUrl,
      tokenKey: keyring.macKey('sealpost/access-token'),
      accessTokenMinutes: config.identity.accessTokenMinutes,
      defaultTenant: DEFAULT_TENANT,
      outbound,
    }),
    breakGlass: new BreakGlassService(core, mfa, (tenantId, alert) => alertMailer.notify(tenantId, alert)),
    careTeams: new CareTeamService(core),
    schedules,
    groups: new GroupService(core),
    directory,
    patientAccounts: new PatientAccountService(core, { email: channels.email, sms: channels.sms }, sessions, (code) =>
      logger.warn({ code }, 'patient sign-in code not sent'),
    ),
    inboxFeed,
    push: new PushRegistrationService(core),
    vapidKeys,
    devices,
    messagingDevices: new DeviceRegistry({ store, clock, devices, signer: signing.signer, anchors: auditLog }),
    keyPackages,
    deviceDirectory,
    deviceRevocations,
    conversations,
    attachments,
    attachmentSweeper,
    live,
    // HL7 v2 messages act through the same core services as the REST API (their ...InTx methods).
    hl7: new Hl7Service({ core, patients, notifications, appointments: new AppointmentService(core, notifications) }),
    // FHIR Patient and Appointment act through the same core services as /v1 (their ...InTx methods).
    fhirPatients: new FhirPatients({ core, patients }),
    fhirAppointments: new FhirAppointments({ core, appointments: new AppointmentService(core, notifications) }),
  };
}
