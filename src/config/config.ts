import type { ChannelKind } from '../core/domain.js';
import type { Hl7Settings } from './hl7-settings.js';
import type { MqttSettings } from './mqtt-settings.js';
import type { PagingSettings } from './paging-settings.js';
import type { DeliveryPolicySettings } from './delivery-policy-settings.js';
import type { PushSettings } from './push-settings.js';

export type SqliteDurability = 'full' | 'group';

/** The validated, frozen configuration. Built only by `loadConfig`. */
export interface Config {
  dataDir: string;
  host: string;
  port: number;
  publicUrl: string;
  tls: { certFile?: string; keyFile?: string };
  database: {
    /** `sqlite:<path>` (embedded default) or `postgres://…` / `postgresql://…`. */
    url: string;
    sqliteDurability: SqliteDurability;
    /** PostgreSQL only: connections per node, statement_timeout, and how long to wait for a connection. */
    poolMax: number;
    statementTimeoutMs: number;
    connectTimeoutMs: number;
  };
  /** Key provider (see src/crypto/open-key-provider.ts); every node sharing a database must use the same keys. */
  keys: {
    provider: 'local' | 'pkcs11';
    /** The local keyring file. */
    file: string;
    /** Seals a new local keyring and opens a sealed one (scrypt + AES-256-GCM). */
    passphrase?: string;
    /** How often a running server looks for key versions created by another process (`sealpost keys rotate`). */
    refreshSeconds: number;
    /** Unwrapped data keys held in memory (0 disables the cache) and for how long. */
    dataKeyCache: { max: number; ttlSeconds: number };
    pkcs11: { library?: string; slot?: number; tokenLabel?: string; pin?: string };
  };
  /** The built console (web/dist by default; SEALPOST_CONSOLE_DIR): served under /console, built at first start when missing. */
  consoleDir: string;
  organisationName: string;
  /** How patients reach the organisation (a phone number or a web address), in the SMS HELP answer. */
  organisationContact: string;
  logLevel: string;
  bodyLimitBytes: number;
  /** The Prometheus listener: loopback by default; without a port there is none. */
  metrics: { host: string; port?: number };
  /**
   * How long a client may take (headers, whole request, idle keep-alive) and how many connections
   * one source address may hold at once (0: no cap). Slow or idle clients are cut off (408).
   */
  http: {
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnectionsPerAddress: number;
  };
  /**
   * Addresses (IPs or CIDR ranges) of reverse proxies whose `X-Forwarded-For` is believed. Empty (the
   * default): the peer address is the client, as behind an L4 load balancer. Behind an L7 proxy, set
   * it, or every client shares the proxy's address and per-address sign-in throttling blocks them all.
   */
  trustedProxies: string[];
  worker: {
    enabled: boolean;
    leaseMs: number;
    pollMs: number;
    batchSize: number;
    concurrency: number;
    backoffBaseMs: number;
    backoffCapMs: number;
    maxAttempts: Record<ChannelKind, number>;
  };
  channels: {
    sms: 'dev-outbox' | 'twilio';
    email: 'dev-outbox' | 'smtp';
    webhook: 'dev-outbox' | 'http';
    /** `live`: Web Push, FCM and APNs (as configured) are called; `dev-outbox`: pushes are recorded there. */
    push: 'dev-outbox' | 'live';
    timeoutMs: number;
    /**
     * Turning certificate checks off for outbound calls (SMTP, Twilio, webhooks, the OIDC provider,
     * SMART clients' JWKS URLs) must be explicit (and is logged).
     */
    insecureSkipTlsVerify: boolean;
    /** Extra trusted CAs (a PEM bundle) for every outbound TLS client, beside Node's bundled store. */
    outboundCa?: string;
  };
  twilio: { baseUrl: string; accountSid?: string; authToken?: string; from?: string };
  smtp: {
    host: string;
    port: number;
    /** 'tls' = implicit TLS (465), 'starttls' = require STARTTLS, 'none' = plain (loopback/dev only). */
    security: 'tls' | 'starttls' | 'none';
    user?: string;
    password?: string;
    from: string;
    /** Extra trusted CA (PEM) for the SMTP server's certificate. */
    ca?: string;
  };
  webhook: {
    secret?: string;
    /**
     * Host names, addresses or CIDR ranges the server may reach although internal (loopback, private,
     * link-local…): webhook contact points and SMART clients' JWKS URLs. Empty: public addresses only.
     */
    allowedHosts: string[];
    /** FHIR Subscriptions (rest-hook): consecutive failed notifications before a subscription goes to `error`. */
    subscriptionMaxFailures: number;
    /**
     * The EHR's event webhook (patients' answers to reminders, signed like webhooks, ids only):
     * SEALPOST_EVENT_WEBHOOK_URL and its HMAC key SEALPOST_EVENT_WEBHOOK_SECRET; absent: no events.
     */
    events?: { url: string; secret: string };
  };
  portal: { linkTtlHours: number; maxAttempts: number; otpTtlMinutes: number; sessionTtlMinutes: number };
  /** People and systems: sessions, lockout, break-glass, SMART tokens, OIDC single sign-on. */
  identity: {
    /** HIPAA automatic logoff: a session unused this long ends. */
    sessionIdleMinutes: number;
    /** A session ends this long after sign-in, whatever its activity. */
    sessionAbsoluteHours: number;
    /** Failed sign-ins of one account before it locks, and how long the lock lasts. */
    lockoutThreshold: number;
    lockoutMinutes: number;
    /** How long a break-glass grant lasts. */
    breakGlassMinutes: number;
    /** Lifetime of an enrolment (invitation) link. */
    inviteTtlHours: number;
    /** Lifetime of SMART backend-services access tokens. */
    accessTokenMinutes: number;
    /** OIDC single sign-on for staff; absent when not configured. */
    oidc: {
      issuer: string;
      clientId: string;
      clientSecret?: string;
      /** IdP group → Sealpost roles; a user with no mapped group may not sign in. */
      groupRoles: Record<string, string[]>;
      /** The ID-token claim holding groups. */
      groupsClaim: string;
      /** Accept the IdP's MFA when its `amr` says so; otherwise Sealpost asks for its own second factor. */
      trustIdpMfa: boolean;
      /** The one tenant this identity provider signs people into (its users are that organisation's staff). */
      tenant: string;
    } | null;
  };
  audit: {
    /** C2SP checkpoint origin and signing-key name. */
    origin: string;
    checkpointSeconds: number;
    checkpointEntries: number;
    integrateBatch: number;
    /** Privacy monitoring (SEALPOST_PRIVACY_MONITOR): detectors over the audit stream, on one node. */
    privacyMonitor: boolean;
    /** How often the monitor reads the entries added since its last run. */
    privacyMonitorIntervalMs: number;
  };
  /** End-to-end encrypted messaging (SEALPOST_MESSAGING_*). */
  messaging: {
    /** A device told (and audited) when its single-use key packages of a suite fall below this. */
    keyPackageLow: number;
    /** Largest attachment ciphertext one upload may carry (413 SP_MESSAGING_ATTACHMENT_TOO_LARGE). */
    maxAttachmentBytes: number;
    /** Cap on the attachment bytes a device uploaded that no message names yet (409 SP_MESSAGING_ATTACHMENT_QUOTA). */
    attachmentQuotaBytes: number;
    /** Cap on all attachment bytes a conversation stores, named or not (409 SP_MESSAGING_ATTACHMENT_QUOTA). */
    conversationStorageBytes: number;
    /** Seconds a member device has to acknowledge an application message before its person is nudged. */
    nudgeDelaySeconds: number;
  };
  policy: {
    /** Minutes before an appointment's start at which reminders go out, e.g. [10080, 1440, 120]. */
    reminderOffsetsMinutes: number[];
    /** Local-time window, minutes after midnight, in which routine messages wait. */
    quietHours: { startMinute: number; endMinute: number } | null;
    /** Frequency caps, deduplication and digests of routine deliveries; absent: the defaults (DEFAULT_DELIVERY_POLICY). */
    delivery?: DeliveryPolicySettings;
  };
  /** The HL7 v2 MLLP listener (SEALPOST_HL7_*): off unless `listen` is set. */
  hl7: Hl7Settings;
  /** Device alarms over MQTT (SEALPOST_MQTT_*): the embedded broker, an external one, or none (the default). */
  mqtt: MqttSettings;
  /** The SNPP paging gateway of clinical alerts (SEALPOST_PAGING_*): the dev outbox unless `snpp` is set. */
  paging: PagingSettings;
  /** Push notifications (SEALPOST_VAPID_*, SEALPOST_FCM_*, SEALPOST_APNS_*): docs/push.md. */
  push: PushSettings;
  /** SEALPOST_* variables that were set but mean nothing to this version (a typo, or a removed setting); logged at start. */
  ignoredVariables: string[];
}
