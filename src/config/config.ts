import type { ChannelKind } from '../core/domain.js';

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
  organisationName: string;
  logLevel: string;
  bodyLimitBytes: number;
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
    timeoutMs: number;
    /** Turning certificate checks off for outbound provider calls must be explicit (and is logged). */
    insecureSkipTlsVerify: boolean;
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
  webhook: { secret?: string };
  portal: { linkTtlHours: number; maxAttempts: number; otpTtlMinutes: number; sessionTtlMinutes: number };
  audit: {
    /** C2SP checkpoint origin and signing-key name. */
    origin: string;
    checkpointSeconds: number;
    checkpointEntries: number;
    integrateBatch: number;
  };
  policy: {
    /** Minutes before an appointment's start at which reminders go out, e.g. [10080, 1440, 120]. */
    reminderOffsetsMinutes: number[];
    /** Local-time window, minutes after midnight, in which routine messages wait. */
    quietHours: { startMinute: number; endMinute: number } | null;
  };
  /** SEALPOST_* variables that were set but mean nothing to this version (a typo, or a removed setting); logged at start. */
  ignoredVariables: string[];
}
