import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import type { Channel, OutboundChannelKind } from './channels/channel.js';
import type { Store } from './store/store.js';
import type { TypedApp } from './api/types.js';
import type { DeliveryWorker } from './queue/delivery-worker.js';
import type { DeliveryProcessor } from './core/delivery-processor.js';
import type { AuditLog } from './audit/audit-log.js';
import type { PatientService } from './core/patient-service.js';
import type { NotificationService } from './core/notification-service.js';
import type { AppointmentService } from './core/appointment-service.js';
import type { PortalService } from './core/portal-service.js';
import type { SessionService } from './auth/session-service.js';
import type { Hl7Service } from './ehr/hl7-apply/hl7-service.js';
import type { MedicalDeviceService } from './alerting/devices/medical-device-service.js';
import type { AlarmIntake } from './alerting/devices/alarm-intake.js';
import type { PrivacyReportService } from './core/privacy-report-service.js';
import type { PrivacyMonitor } from './audit/privacy/privacy-monitor.js';
import { startHl7Listener, type Hl7Listener } from './app/hl7-listener.js';
import { startMqttListener, type MqttListener } from './app/mqtt-listener.js';
import { openStore } from './store/open-store.js';
import { openKeyProvider, watchKeyProvider } from './crypto/open-key-provider.js';
import { buildServer } from './api/build-server.js';
import { buildMetricsServer } from './api/metrics-server.js';
import { accessTokenAuthenticator } from './api/authenticate.js';
import { createLogger } from './logger.js';
import { buildServices } from './app/services.js';
import { registerRoutes } from './app/routes.js';
import { errorCode, prepareDatabase, retryWhileStoreUnavailable } from './app/startup.js';

export interface AppDeps {
  logger?: Logger;
  clock?: () => Date;
  /** TLS material for the listener; omit for plain HTTP (tests that use inject()). */
  https?: { key: string | Buffer; cert: string | Buffer } | null;
  /** Replace a channel adapter (tests of our own boundaries only). */
  channels?: Partial<Record<OutboundChannelKind, Channel>>;
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
    /** HL7 v2: senders, messages, the error queue (the MLLP listener's handler). */
    hl7: Hl7Service;
    /** Medical devices that raise alarms over MQTT (`sealpost devices`). */
    medicalDevices: MedicalDeviceService;
    /** Device messages to alerts (the MQTT listener's handler; its counters show which node handled what). */
    alarmIntake: AlarmIntake;
    /** Breach investigation reports (`sealpost report access`, POST /v1/privacy/reports). */
    privacyReports: PrivacyReportService;
  };
  /** Privacy monitoring's worker (runs on its own when SEALPOST_PRIVACY_MONITOR is on; tests run it directly). */
  privacyMonitor: PrivacyMonitor;
  /** The MLLP listener's port once `start()` opened it (SEALPOST_HL7_LISTEN); null when off; rejects if it failed. */
  hl7Port(): Promise<number | null>;
  /** The embedded MQTT broker's port once `start()` opened it (SEALPOST_MQTT_LISTEN); null when off or external; rejects if it failed. */
  mqttPort(): Promise<number | null>;
  /** Sessions of people (tests issue sessions directly to exercise authorization). */
  sessions: SessionService;
  /** Deletes expired sign-in challenges and idle throttle counters (hourly once started). */
  sweepIdentity(): Promise<void>;
  /** The bootstrap API key, only when this start created it (also written to <dataDir>/bootstrap-api-key). */
  readonly bootstrapKey: string | null;
  logger: Logger;
  /** GET /metrics on its own listener (SEALPOST_METRICS_PORT set), not listening yet; null without a port. */
  metricsServer: FastifyInstance | null;
  /**
   * With `deferDatabase`: migrates and prepares the database, retrying while it is unreachable.
   * Until it resolves, /readyz answers 503 and every API route 503 SP_STORE_UNAVAILABLE.
   */
  connect(): Promise<void>;
  /** Starts the delivery worker (when enabled) and the audit-log integrator. The HTTP listener is started by the caller. */
  start(): void;
  close(): Promise<void>;
}

/**
 * The composition root: the only place that picks concrete adapters. Opens the keys and the store,
 * builds the services (app/services.ts), the HTTP server and its routes (app/routes.ts), and returns
 * the app's lifecycle. Builds but does not listen.
 */
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

  const s = buildServices({ config, logger, clock, keyring, store, owner, channels: deps.channels });

  let ready = false;
  let bootstrapKey: string | null = null;
  const init = async () => {
    bootstrapKey = await prepareDatabase({
      store,
      keyring,
      cipher: s.cipher,
      keyringCreated,
      organisationName: config.organisationName,
      dataDir: config.dataDir,
      publicUrl: config.publicUrl,
      clock,
    });
    ready = true;
  };

  const server = await buildServer({
    logger,
    bodyLimit: config.bodyLimitBytes,
    http: config.http,
    https: deps.https,
    store,
    metrics: s.metrics,
    clock,
    publicUrl: config.publicUrl,
    isReady: () => ready,
    sessions: s.sessions,
    trustedProxies: config.trustedProxies,
    extraAuthenticators: [accessTokenAuthenticator(s.oauthClients.accessTokens())],
  });
  registerRoutes(server, s, { config, store, clock, isReady: () => ready });
  const metricsServer =
    config.metrics.port === undefined ? null : await buildMetricsServer({ logger, metrics: s.metrics });
  await server.ready();
  if (!deps.deferDatabase) await init();

  let started = false;
  // HL7 v2 over MLLP (SEALPOST_HL7_LISTEN): opened by start(), closed before the store.
  let hl7Listener: Promise<Hl7Listener | null> = Promise.resolve(null);
  // Device alarms over MQTT (SEALPOST_MQTT_LISTEN or SEALPOST_MQTT_URL): opened by start(), closed before the store.
  let mqttListener: Promise<MqttListener | null> = Promise.resolve(null);
  let closing = false;
  let unsubscribe = () => {};
  // Housekeeping of sign-in state: expired challenges and idle throttle counters are useless, and
  // unauthenticated callers can create them. Every node may run it; deletes are idempotent.
  let housekeeping: NodeJS.Timeout | null = null;
  const sweepIdentity = async () => {
    const now = clock().getTime();
    await store.read.challenges.purgeAllExpired(now - 3_600_000);
    await store.read.challenges.purgeIdleThrottles(now - 24 * 3_600_000, now);
  };
  return {
    config,
    server,
    store,
    worker: s.worker,
    processor: s.processor,
    auditLog: s.auditLog,
    services: {
      patients: s.patients,
      notifications: s.notifications,
      appointments: s.appointments,
      portal: s.portal,
      hl7: s.hl7,
      medicalDevices: s.medicalDevices,
      alarmIntake: s.alarmIntake,
      privacyReports: s.privacyReports,
    },
    privacyMonitor: s.privacyMonitor,
    hl7Port: async () => (await hl7Listener)?.port ?? null,
    mqttPort: async () => (await mqttListener)?.port ?? null,
    sessions: s.sessions,
    sweepIdentity,
    get bootstrapKey() {
      return bootstrapKey;
    },
    logger,
    metricsServer,
    async connect() {
      if (!ready) await retryWhileStoreUnavailable(init, { logger, stopped: () => closing });
    },
    start() {
      if (started) return;
      started = true;
      if (config.worker.enabled) {
        s.worker.start();
        if (store.dueSignal) unsubscribe = store.dueSignal.subscribe(() => s.worker.wake());
      }
      s.auditLog.start();
      // Live delivery hears the other nodes (PostgreSQL); every node serves its own connections.
      s.live.start();
      s.inboxFeed.start();
      if (config.worker.enabled) s.restHooks.start();
      if (config.worker.enabled) s.eventWebhooks?.start();
      // Escalation timers: due steps of open alerts, fired once across nodes.
      if (config.worker.enabled) s.alertTimers.start();
      if (config.worker.enabled) s.alertDispatcher.start();
      // Lifespan purge of conversation ciphertext, and patient rosters following care teams.
      if (config.worker.enabled) s.conversations.sweeper.start();
      if (config.worker.enabled) s.attachmentSweeper.start();
      // Privacy monitoring over the audit stream, on whichever node holds its lease.
      if (config.audit.privacyMonitor) s.privacyMonitor.start();
      hl7Listener = startHl7Listener(config, s.hl7, logger);
      hl7Listener.catch((e: unknown) =>
        logger.error(
          { code: errorCode(e) ?? (e as NodeJS.ErrnoException)?.code },
          'the HL7 MLLP listener did not start',
        ),
      );
      mqttListener = startMqttListener(config, s.alarmIntake, owner, logger);
      mqttListener.catch((e: unknown) =>
        logger.error({ code: errorCode(e) ?? (e as NodeJS.ErrnoException)?.code }, 'the MQTT listener did not start'),
      );
      housekeeping = setInterval(
        () =>
          void sweepIdentity().catch((e: unknown) =>
            logger.warn({ code: errorCode(e) }, 'sign-in housekeeping failed; next run in an hour'),
          ),
        3_600_000,
      );
      housekeeping.unref();
      // Erasures whose KEK rotation a crash (or a failure) interrupted are completed now.
      void s.patients.erasures
        .resumePending()
        .catch((e: unknown) => logger.error({ code: errorCode(e) }, 'could not resume pending erasures'));
    },
    async close() {
      closing = true;
      unsubscribe();
      if (housekeeping) clearInterval(housekeeping);
      await (await hl7Listener.catch(() => null))?.close();
      await (await mqttListener.catch(() => null))?.close();
      await s.restHooks.stop();
      await s.eventWebhooks?.stop();
      await s.alertTimers.stop();
      await s.alertDispatcher.stop();
      await s.conversations.sweeper.stop();
      await s.attachmentSweeper.stop();
      await s.privacyMonitor.stop();
      await s.live.stop();
      s.inboxFeed.stop();
      await s.worker.stop();
      await s.auditLog.stop();
      // Idle keep-alive connections close at once; one a client keeps busy (a browser's open page)
      // gets a few seconds to finish, then is cut, so a SIGTERM never waits on a client.
      const drain = setTimeout(() => server.server.closeAllConnections?.(), 5_000);
      drain.unref();
      await server.close();
      clearTimeout(drain);
      await metricsServer?.close();
      await Promise.allSettled(Object.values(s.channels).map((c) => c.close?.()));
      await store.close();
      stopKeyWatch();
      s.cipher.clear();
      await keyring.close();
    },
  };
}
