import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from './config/config.js';
import { DEFAULT_TENANT, type ChannelKind } from './core/domain.js';
import type { CoreDeps } from './core/context.js';
import type { Channel } from './channels/channel.js';
import type { Store } from './store/store.js';
import type { TypedApp } from './api/types.js';
import { openStore } from './store/open-store.js';
import { isStoreUnavailable } from './store/store-errors.js';
import { AppError } from './core/errors.js';
import type { KeyProvider } from './crypto/key-provider.js';
import { openKeyProvider, watchKeyProvider } from './crypto/open-key-provider.js';
import { EnvelopeCipher } from './crypto/envelope-cipher.js';
import { outboxSealer } from './crypto/outbox-sealer.js';
import { TemplateRegistry } from './core/templates/template-registry.js';
import { PatientService } from './core/patient-service.js';
import { kekShredder } from './core/erasure-rotation.js';
import { retireKey, rotateTenantKek } from './crypto/key-rotation.js';
import { NotificationService } from './core/notification-service.js';
import { AppointmentService } from './core/appointment-service.js';
import { PortalService } from './core/portal-service.js';
import { ConsentService } from './core/consent-service.js';
import { DeliveryProcessor } from './core/delivery-processor.js';
import { DeliveryWorker } from './queue/delivery-worker.js';
import { DevOutboxChannel, type OutboxRecord } from './channels/dev-outbox/dev-outbox-channel.js';
import { SmtpEmailChannel } from './channels/email/smtp-email-channel.js';
import { TwilioSmsChannel } from './channels/sms/twilio-sms-channel.js';
import { HttpWebhookChannel } from './channels/webhook/http-webhook-channel.js';
import { SessionService } from './auth/session-service.js';
import { buildServer } from './api/build-server.js';
import { Metrics } from './api/metrics.js';
import { createApiKey } from './auth/api-keys.js';
import { createLogger } from './logger.js';
import { patientRoutes } from './api/routes/patient-routes.js';
import { PatientAccess } from './auth/patient-access.js';
import { MfaService } from './auth/mfa-service.js';
import { CareTeamService } from './core/care-team-service.js';
import { AdminAlertMailer } from './auth/admin-alert-mailer.js';
import { BreakGlassService } from './core/break-glass-service.js';
import { careTeamRoutes } from './api/routes/care-team-routes.js';
import { breakGlassRoutes } from './api/routes/break-glass-routes.js';
import { alertRoutes } from './api/routes/alert-routes.js';
import { patientRef } from './core/context.js';
import { notificationRoutes } from './api/routes/notification-routes.js';
import { appointmentRoutes } from './api/routes/appointment-routes.js';
import { opsRoutes } from './api/routes/ops-routes.js';
import { devOutboxRoutes } from './api/routes/dev-outbox-routes.js';
import { portalRoutes } from './api/routes/portal-routes.js';
import { twilioCallbackRoutes } from './api/routes/provider-routes.js';
import { AuditQueryService } from './core/audit-query-service.js';
import { auditQueryRoutes } from './api/routes/audit-query-routes.js';
import { fhirAuditRoutes } from './api/routes/fhir-audit-routes.js';
import { auditLogRoutes } from './api/routes/audit-log-routes.js';
import { SignerService } from './core/signer-service.js';
import { ProofService } from './core/proof-service.js';
import { signerRoutes } from './api/routes/signer-routes.js';
import { proofRoutes } from './api/routes/proof-routes.js';
import { apiKeyRoutes } from './api/routes/api-key-routes.js';
import { LoginThrottle, DEFAULT_THROTTLE } from './auth/throttle.js';
import { UserService } from './auth/user-service.js';
import { SignInService } from './auth/sign-in-service.js';
import { userRoutes } from './api/routes/user-routes.js';
import { authRoutes } from './api/routes/auth-routes.js';
import { WebAuthnService } from './auth/webauthn-service.js';
import { mfaRoutes } from './api/routes/mfa-routes.js';
import { loginPages } from './api/routes/login-pages.js';
import { OidcService } from './auth/oidc-service.js';
import { oidcRoutes } from './api/routes/oidc-routes.js';
import { AuditLog } from './audit/audit-log.js';
import { OAuthClientService } from './auth/oauth-client-service.js';
import { oauthRoutes } from './api/routes/oauth-routes.js';
import { oauthClientRoutes } from './api/routes/oauth-client-routes.js';
import { PatientAccountService } from './core/patient-account-service.js';
import { DeviceService } from './core/device-service.js';
import { patientAccountRoutes } from './api/routes/patient-account-routes.js';
import { deviceRoutes } from './api/routes/device-routes.js';

export interface AppDeps {
  logger?: Logger;
  clock?: () => Date;
  /** TLS material for the listener; omit for plain HTTP (tests that use inject()). */
  https?: { key: string | Buffer; cert: string | Buffer } | null;
  /** Replace a channel adapter (tests of our own boundaries only). */
  channels?: Partial<Record<ChannelKind, Channel>>;
  /** Build without touching the database; the caller listens, then awaits `connect()` (what `serve` does). */
  deferDatabase?: boolean;
}

export interface App {
  config: Config;
  server: TypedApp;
  store: Store;
  worker: DeliveryWorker;
  processor: DeliveryProcessor;
  auditLog: AuditLog;
  services: {
    patients: PatientService;
    notifications: NotificationService;
    appointments: AppointmentService;
    portal: PortalService;
  };
  /** Sessions of people (tests issue sessions directly to exercise authorization). */
  sessions: SessionService;
  /** Deletes expired sign-in challenges and idle throttle counters (hourly once started). */
  sweepIdentity(): Promise<void>;
  /** The bootstrap API key, only when this start created it (also written to <dataDir>/bootstrap-api-key). */
  readonly bootstrapKey: string | null;
  logger: Logger;
  /**
   * With `deferDatabase`: migrates and prepares the database, retrying while it is unreachable.
   * Until it resolves, /readyz answers 503 and every API route 503 SP_STORE_UNAVAILABLE.
   */
  connect(): Promise<void>;
  /** Starts the delivery worker (when enabled) and the audit-log integrator. The HTTP listener is started by the caller. */
  start(): void;
  close(): Promise<void>;
}

/** The composition root: the only place that picks concrete adapters. Builds but does not listen. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const clock = deps.clock ?? (() => new Date());
  if (config.ignoredVariables.length)
    logger.warn(
      { variables: config.ignoredVariables },
      'ignoring SEALPOST_* variables this version does not know (a typo?)',
    );
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // The local keyring or the HSM (SEALPOST_KEY_PROVIDER); a wrong passphrase or PIN fails here, before anything else.
  const { provider: keyring, created: keyringCreated } = await openKeyProvider(config.keys);
  // Versions created by `sealpost keys rotate` in another process are picked up without a restart.
  const stopKeyWatch = watchKeyProvider(keyring, config.keys.refreshSeconds, (e) =>
    logger.warn({ causeCode: errorCode(e) }, 'could not re-read the keys'),
  );
  const owner = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const store = openStore(config.database, { nodeId: owner, log: logger });
  let ready = false;
  let bootstrapKey: string | null = null;

  /** Everything that needs the database at start; safe to run again after a failure. */
  const init = async () => {
    await store.migrate();
    await store.read.tenants.ensure(DEFAULT_TENANT, config.organisationName, clock().getTime());
    await checkKeyringMatches(store, keyring);
    if (keyringCreated) {
      // Key operations are on the record like everything else (ids only, never key material).
      await store.transaction((tx) =>
        tx.audit.append({
          tenantId: DEFAULT_TENANT,
          at: clock(),
          actor: 'system:bootstrap',
          action: 'key.keyring_created',
          outcome: 'success',
          targetType: 'key',
          targetId: keyring.currentKeyId(DEFAULT_TENANT),
        }),
      );
    }
    bootstrapKey = await ensureBootstrapKey(store, config.dataDir, clock());
    ready = true;
  };

  const cipher = new EnvelopeCipher(keyring, {
    max: config.keys.dataKeyCache.max,
    ttlMs: config.keys.dataKeyCache.ttlSeconds * 1000,
  });
  const templates = TemplateRegistry.load();
  const sealer = outboxSealer(keyring);
  const channels = {
    ...buildChannels(config, store, sealer, keyring.macKey('sealpost/webhook').toString('hex'), logger),
    ...deps.channels,
  };

  let worker: DeliveryWorker | null = null;
  const wake = () => {
    worker?.wake();
    store.dueSignal?.announce();
  };
  // The notary key (and its published current and retired versions) is the key provider's.
  const signing = { signer: () => keyring.signer(), publishedKeys: () => keyring.publishedSigningKeys() };
  const core: CoreDeps = { config, store, cipher, templates, clock, newId: uuidv7, wake, signing };
  const processor = new DeliveryProcessor(core, channels, owner);
  const patients = new PatientService(core, {
    // Erasure completes with a tenant KEK rotation and the destruction of every older version.
    kek: kekShredder({
      rotate: (tenantId, onProgress) =>
        rotateTenantKek(store, keyring, tenantId, {
          actor: 'system:erasure',
          clock,
          onProgress: (p) => onProgress?.(p.done, p.total),
        }),
      kekVersions: (tenantId) => keyring.listKeys().filter((k) => k.purpose === 'kek' && k.tenantId === tenantId),
      destroy: async (keyId) => void (await retireKey(store, keyring, keyId, { actor: 'system:erasure', clock })),
    }),
    // A failed background shredding stays pending and is resumed at the next start (codes only, no PHI).
    onError: (e) =>
      logger.error({ code: errorCode(e) ?? (e as Error)?.name }, 'erasure shredding failed; it stays pending'),
  });
  const notifications = new NotificationService(core);
  const appointments = new AppointmentService(core, notifications);
  const portal = new PortalService(core, channels);
  const metrics = new Metrics(store);
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

  worker = new DeliveryWorker(
    store,
    (limit, now, leaseUntil) => processor.claim(limit, now, leaseUntil),
    { owner, ...config.worker, clock },
    logger,
  );
  worker.onOutcome = (o, d) => {
    metrics.deliveryOutcomes.inc({ channel: o.channel, outcome: o.status });
    if (o.status === 'sent' || o.status === 'delivered') {
      metrics.deliveryLatency.observe({ channel: o.channel }, Math.max(0, clock().getTime() - Number(d.run_at)) / 1000);
    }
  };

  const sessions = new SessionService(
    store,
    {
      idleMs: config.identity.sessionIdleMinutes * 60_000,
      absoluteMs: config.identity.sessionAbsoluteHours * 3_600_000,
    },
    clock,
  );
  // SMART backend-services clients; access tokens are MACed with a key every node derives alike.
  const oauthClients = new OAuthClientService({
    store,
    clock,
    publicUrl: config.publicUrl,
    tokenKey: keyring.macKey('sealpost/access-token'),
    accessTokenMinutes: config.identity.accessTokenMinutes,
    defaultTenant: DEFAULT_TENANT,
    outbound: { timeoutMs: config.channels.timeoutMs, insecureSkipTlsVerify: config.channels.insecureSkipTlsVerify },
  });
  const server = await buildServer({
    logger,
    bodyLimit: config.bodyLimitBytes,
    https: deps.https,
    store,
    metrics,
    clock,
    publicUrl: config.publicUrl,
    isReady: () => ready,
    sessions,
    trustedProxies: config.trustedProxies,
    extraAuthenticators: [oauthClients.authenticator()],
  });
  opsRoutes(server, store, metrics, () => ready);
  // The patient relationship (care team, break-glass) every content route checks for clinicians.
  const patientAccess = new PatientAccess({
    store,
    clock,
    patientRef: (tenantId, patientId) => patientRef(core, tenantId, patientId),
  });
  patientRoutes(server, patients, patientAccess);
  notificationRoutes(server, notifications, patientAccess);
  appointmentRoutes(server, appointments, patientAccess);
  portalRoutes(server, portal, config.portal.sessionTtlMinutes);
  const auditQueries = new AuditQueryService(core);
  auditQueryRoutes(server, auditQueries);
  fhirAuditRoutes(server, auditQueries, config.publicUrl);
  auditLogRoutes(server, auditLog);
  signerRoutes(server, new SignerService(core));
  proofRoutes(server, new ProofService(core), patientAccess);
  apiKeyRoutes(server, store, clock);
  // Identity and access: people, sign-in, MFA, care teams, break-glass, system clients.
  oauthRoutes(server, oauthClients);
  oauthClientRoutes(server, oauthClients);
  const throttle = new LoginThrottle(store, {
    ...DEFAULT_THROTTLE,
    lockoutThreshold: config.identity.lockoutThreshold,
    lockoutMinutes: config.identity.lockoutMinutes,
  });
  const users = new UserService(core, sessions, throttle);
  userRoutes(server, users);
  authRoutes(server, {
    signIn: new SignInService(core, sessions, throttle, users, channels.email, logger),
    sessions,
    store,
    publicUrl: config.publicUrl,
    clock,
  });
  const oidc = config.identity.oidc
    ? new OidcService(
        store,
        sessions,
        {
          settings: config.identity.oidc,
          publicUrl: config.publicUrl,
          insecureSkipTlsVerify: config.channels.insecureSkipTlsVerify,
          timeoutMs: config.channels.timeoutMs,
          defaultTenant: DEFAULT_TENANT,
        },
        clock,
      )
    : null;
  if (oidc) oidcRoutes(server, oidc, sessions);
  // A wrong second factor also counts toward the account's lockout (the password step's counter).
  const mfa = new MfaService({
    store,
    cipher,
    sessions,
    clock,
    newId: uuidv7,
    onAccountFailure: async (tx, ctx, userId) => {
      const u = await tx.users.byId(ctx.tenantId, userId);
      if (u?.status === 'active') await throttle.countUserFailure(tx, u, ctx, clock().getTime());
    },
    onSignInComplete: (tx, ctx, userId) => throttle.signInCompleted(tx, ctx.tenantId, userId),
  });
  mfaRoutes(server, {
    store,
    sessions,
    mfa,
    webauthn: new WebAuthnService({ store, mfa, clock, newId: uuidv7, publicUrl: config.publicUrl }),
  });
  loginPages(server);
  // Break-glass is told to the tenant's administrators at once, by e-mail (ids and times only).
  const alertMailer = new AdminAlertMailer(
    store,
    channels.email,
    {
      organisationName: config.organisationName,
      publicUrl: config.publicUrl,
      timeoutMs: config.channels.timeoutMs,
      newId: uuidv7,
    },
    logger,
  );
  const breakGlass = new BreakGlassService(core, mfa, (tenantId, alert) => alertMailer.notify(tenantId, alert));
  careTeamRoutes(server, new CareTeamService(core));
  breakGlassRoutes(server, breakGlass);
  alertRoutes(server, breakGlass);
  patientAccountRoutes(
    server,
    new PatientAccountService(core, { email: channels.email, sms: channels.sms }, sessions, (code) =>
      logger.warn({ code }, 'patient sign-in code not sent'),
    ),
    sessions,
    patientAccess,
  );
  deviceRoutes(server, new DeviceService(core));
  if (Object.values(channels).some((c) => c.provider === 'dev-outbox')) devOutboxRoutes(server, store, sealer);
  if (config.channels.sms === 'twilio')
    twilioCallbackRoutes(server, {
      authToken: config.twilio.authToken!,
      publicUrl: config.publicUrl,
      processor,
      consent: new ConsentService(core),
      tenantId: DEFAULT_TENANT,
    });
  await server.ready();
  if (!deps.deferDatabase) await init();

  let started = false;
  let unsubscribe = () => {};
  // Housekeeping of sign-in state: expired challenges and idle throttle counters are useless, and
  // unauthenticated callers can create them. Every node may run it; deletes are idempotent.
  let housekeeping: NodeJS.Timeout | null = null;
  const sweepIdentity = async () => {
    const now = clock().getTime();
    await store.read.challenges.purgeAllExpired(now - 3_600_000);
    await store.read.challenges.purgeIdleThrottles(now - 24 * 3_600_000, now);
  };
  let closing = false;
  return {
    config,
    server,
    store,
    worker,
    processor,
    auditLog,
    services: { patients, notifications, appointments, portal },
    sessions,
    sweepIdentity,
    get bootstrapKey() {
      return bootstrapKey;
    },
    logger,
    async connect() {
      // The database may be down or still starting: keep trying with capped, jittered backoff while
      // /readyz says false, and fail at once on anything else (a wrong keyring, a broken migration).
      for (let attempt = 1, delay = 250; !ready; attempt++, delay = Math.min(delay * 2, 10_000)) {
        try {
          await init();
        } catch (e) {
          if (closing || !isStoreUnavailable(e)) throw e;
          const wait = Math.round(delay / 2 + Math.random() * (delay / 2));
          logger.warn({ attempt, retryInMs: wait, causeCode: errorCode(e) }, 'database unavailable at start; retrying');
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    },
    start() {
      if (started) return;
      started = true;
      if (config.worker.enabled) {
        worker!.start();
        if (store.dueSignal) unsubscribe = store.dueSignal.subscribe(() => worker!.wake());
      }
      auditLog.start();
      housekeeping = setInterval(
        () =>
          void sweepIdentity().catch((e: unknown) =>
            logger.warn({ code: errorCode(e) }, 'sign-in housekeeping failed; next run in an hour'),
          ),
        3_600_000,
      );
      housekeeping.unref();
      // Erasures whose KEK rotation a crash (or a failure) interrupted are completed now.
      void patients.erasures
        .resumePending()
        .catch((e: unknown) => logger.error({ code: errorCode(e) }, 'could not resume pending erasures'));
    },
    async close() {
      closing = true;
      unsubscribe();
      if (housekeeping) clearInterval(housekeeping);
      await worker!.stop();
      await auditLog.stop();
      await server.close();
      await Promise.allSettled(Object.values(channels).map((c) => c.close?.()));
      await store.close();
      stopKeyWatch();
      cipher.clear();
      await keyring.close();
    },
  };
}

function buildChannels(
  config: Config,
  store: Store,
  sealer: ReturnType<typeof outboxSealer>,
  derivedWebhookSecret: string,
  logger: Logger,
): Record<ChannelKind, Channel> {
  // A message is recorded when its transaction commits, with those of concurrent sends (batchable).
  const sink = {
    record: (row: OutboxRecord) => store.transaction(async (tx) => tx.atCommit.outbox([row]), { batchable: true }),
  };
  const outbox = (kind: ChannelKind) => new DevOutboxChannel(kind, sink, sealer);
  const { channels: c, twilio, smtp } = config;
  if (c.insecureSkipTlsVerify)
    logger.warn('SEALPOST_INSECURE_SKIP_TLS_VERIFY is on: provider certificates are NOT verified');
  return {
    sms:
      c.sms === 'twilio'
        ? new TwilioSmsChannel({
            baseUrl: twilio.baseUrl,
            accountSid: twilio.accountSid!,
            authToken: twilio.authToken!,
            from: twilio.from!,
            statusCallbackUrl: `${config.publicUrl}/v1/providers/twilio/status`,
            timeoutMs: c.timeoutMs,
            insecureSkipTlsVerify: c.insecureSkipTlsVerify,
          })
        : outbox('sms'),
    email:
      c.email === 'smtp'
        ? new SmtpEmailChannel({
            ...smtp,
            timeoutMs: c.timeoutMs,
            rejectUnauthorized: !c.insecureSkipTlsVerify,
            ca: smtp.ca,
          })
        : outbox('email'),
    // Patient webhook URLs are validated to be https, or http on a loopback host only.
    webhook:
      c.webhook === 'http'
        ? new HttpWebhookChannel({
            secret: config.webhook.secret ?? derivedWebhookSecret,
            timeoutMs: c.timeoutMs,
            allowInsecureHttp: true,
            insecureSkipTlsVerify: c.insecureSkipTlsVerify,
          })
        : outbox('webhook'),
  };
}

/**
 * A database must only ever be written with one keyring: a node started with another (a fresh data
 * directory, a wrong SEALPOST_KEYRING_FILE) would write data no other node can read. The first start
 * records a fingerprint (an HMAC under the keyring's own MAC key, revealing nothing about it).
 */
async function checkKeyringMatches(store: Store, keyring: KeyProvider): Promise<void> {
  const mine = createHmac('sha256', keyring.macKey('sealpost/keyring-fingerprint'))
    .update('sealpost keyring fingerprint v1')
    .digest('hex')
    .slice(0, 32);
  const recorded = await store.read.settings.init('keyring_fingerprint', mine);
  if (recorded !== mine) {
    throw new AppError(
      'SP_CRYPTO_KEYRING_MISMATCH',
      'this database was written with another keyring (check SEALPOST_KEYRING_FILE: every node must use the same one)',
    );
  }
}

function errorCode(e: unknown): string | undefined {
  const c =
    (e as { code?: unknown; cause?: { code?: unknown } })?.code ?? (e as { cause?: { code?: unknown } })?.cause?.code;
  return typeof c === 'string' ? c : undefined;
}

/** On a fresh installation, creates the first API key and writes it (only) to a 0600 file. */
async function ensureBootstrapKey(store: Store, dataDir: string, now: Date): Promise<string | null> {
  if ((await store.read.apiKeys.count()) > 0) return null;
  const key = await createApiKey(store, DEFAULT_TENANT, 'bootstrap', ['admin'], now);
  const file = join(dataDir, 'bootstrap-api-key');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  if (existsSync(file)) chmodSync(file, 0o600);
  return key;
}
