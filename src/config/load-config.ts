import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config, SqliteDurability } from './config.js';
import { AppError } from '../core/errors.js';
import { parseDurationMinutes, parseQuietHours } from './time-settings.js';
import { isLoopbackHost } from './loopback.js';
import { hl7Settings } from './hl7-settings.js';
import { mqttSettings } from './mqtt-settings.js';
import { pagingSettings } from './paging-settings.js';
import { deliveryPolicySettings } from './delivery-policy-settings.js';
import { pushSettings } from './push-settings.js';
import { CHANNEL_KINDS, DEFAULT_TENANT, STAFF_ROLES } from '../core/domain.js';

type Env = Record<string, string | undefined>;

/**
 * Reads SEALPOST_* variables (a secret may instead come from `<NAME>_FILE`), validates all of them,
 * reports every problem at once, and returns a deeply frozen Config.
 */
export function loadConfig(env: Env = process.env, overrides: DeepPartial<Config> = {}): Config {
  const errors: string[] = [];
  const known = new Set<string>();
  const str = (name: string, def?: string): string | undefined => {
    known.add(`SEALPOST_${name}`);
    const v = env[`SEALPOST_${name}`];
    return v === undefined || v === '' ? def : v;
  };
  const secret = (name: string): string | undefined => {
    const file = str(`${name}_FILE`);
    if (file) {
      try {
        return readFileSync(file, 'utf8').trim();
      } catch {
        errors.push(`SEALPOST_${name}_FILE: cannot read the file`);
        return undefined;
      }
    }
    return str(name);
  };
  const readOptionalFile = (name: string): string | undefined => {
    const file = str(name);
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch {
      errors.push(`SEALPOST_${name}: cannot read the file`);
      return undefined;
    }
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      errors.push(`SEALPOST_${name}: expected an integer in [${min}, ${max}]`);
      return def;
    }
    return n;
  };
  const oneOf = <T extends string>(name: string, values: readonly T[], def: T): T => {
    const raw = str(name, def)!;
    if (!values.includes(raw as T)) {
      errors.push(`SEALPOST_${name}: expected one of ${values.join(', ')}`);
      return def;
    }
    return raw as T;
  };
  const bool = (name: string, def: boolean): boolean => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
    if (['0', 'false', 'off', 'no'].includes(raw)) return false;
    errors.push(`SEALPOST_${name}: expected true or false`);
    return def;
  };

  const dataDir = resolve(str('DATA_DIR', './data')!);
  const port = int('PORT', 8443, 0, 65535);
  const publicUrl = str('PUBLIC_URL', `https://localhost:${port}`)!;
  try {
    const u = new URL(publicUrl);
    if (u.protocol !== 'https:') errors.push('SEALPOST_PUBLIC_URL: must be https');
  } catch {
    errors.push('SEALPOST_PUBLIC_URL: not a URL');
  }
  let reminderOffsetsMinutes: number[] = [7 * 1440, 1440, 120];
  const offsets = str('REMINDER_OFFSETS');
  if (offsets) {
    try {
      reminderOffsetsMinutes = offsets.split(',').map((s) => parseDurationMinutes(s.trim()));
    } catch {
      errors.push('SEALPOST_REMINDER_OFFSETS: expected a list like "7d,1d,2h"');
    }
  }
  let quietHours: Config['policy']['quietHours'] = { startMinute: 21 * 60, endMinute: 8 * 60 };
  const qh = str('QUIET_HOURS');
  if (qh) {
    try {
      quietHours = qh === 'off' ? null : parseQuietHours(qh);
    } catch {
      errors.push('SEALPOST_QUIET_HOURS: expected "HH:MM-HH:MM" or "off"');
    }
  }
  const maxAttempts = int('MAX_ATTEMPTS', 5, 1, 100);

  const config: Config = {
    dataDir,
    host: str('HOST', '0.0.0.0')!,
    port,
    publicUrl: publicUrl.replace(/\/+$/, ''),
    tls: { certFile: str('TLS_CERT_FILE'), keyFile: str('TLS_KEY_FILE') },
    database: {
      url: str('DATABASE_URL', `sqlite:${resolve(dataDir, 'sealpost.db')}`)!,
      sqliteDurability: oneOf<SqliteDurability>('SQLITE_DURABILITY', ['full', 'group'], 'group'),
      poolMax: int('DATABASE_POOL_MAX', 10, 1, 1000),
      statementTimeoutMs: int('DATABASE_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000),
      connectTimeoutMs: int('DATABASE_CONNECT_TIMEOUT_MS', 5_000, 100, 600_000),
    },
    keys: {
      provider: oneOf('KEY_PROVIDER', ['local', 'pkcs11'] as const, 'local'),
      file: resolve(str('KEYRING_FILE', join(dataDir, 'keyring.json'))!),
      passphrase: secret('KEYRING_PASSPHRASE'),
      refreshSeconds: int('KEY_REFRESH_SECONDS', 5, 1, 3600),
      dataKeyCache: {
        max: int('DATA_KEY_CACHE_MAX', 10_000, 0, 10_000_000),
        ttlSeconds: int('DATA_KEY_CACHE_TTL_SECONDS', 300, 1, 86_400),
      },
      pkcs11: {
        library: str('PKCS11_LIBRARY'),
        slot: str('PKCS11_SLOT') === undefined ? undefined : int('PKCS11_SLOT', 0, 0, Number.MAX_SAFE_INTEGER),
        tokenLabel: str('PKCS11_TOKEN_LABEL'),
        pin: secret('PKCS11_PIN'),
      },
    },
    consoleDir: resolve(str('CONSOLE_DIR', fileURLToPath(new URL('../../web/dist', import.meta.url)))!),
    organisationName: str('ORGANISATION_NAME', 'Sealpost Clinic')!,
    organisationContact: str('ORGANISATION_CONTACT', 'your care team')!,
    logLevel: oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    bodyLimitBytes: int('BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    http: httpLimits(int, errors),
    metrics: {
      host: str('METRICS_HOST', '127.0.0.1')!,
      port: str('METRICS_PORT') === undefined ? undefined : int('METRICS_PORT', 0, 0, 65535),
    },
    trustedProxies: trustedProxies(str('TRUSTED_PROXIES'), errors),
    worker: {
      enabled: bool('WORKER', true),
      leaseMs: int('LEASE_MS', 30_000, 100, 3_600_000),
      pollMs: int('POLL_MS', 500, 10, 60_000),
      batchSize: int('CLAIM_BATCH', 100, 1, 1000),
      concurrency: int('WORKER_CONCURRENCY', 64, 1, 1000),
      backoffBaseMs: int('BACKOFF_BASE_MS', 2_000, 1, 3_600_000),
      backoffCapMs: int('BACKOFF_CAP_MS', 300_000, 1, 86_400_000),
      maxAttempts: {
        sms: int('MAX_ATTEMPTS_SMS', maxAttempts, 1, 100),
        email: int('MAX_ATTEMPTS_EMAIL', maxAttempts, 1, 100),
        webhook: int('MAX_ATTEMPTS_WEBHOOK', maxAttempts, 1, 100),
        push: int('MAX_ATTEMPTS_PUSH', maxAttempts, 1, 100),
      },
    },
    channels: {
      sms: oneOf('SMS_PROVIDER', ['dev-outbox', 'twilio'] as const, 'dev-outbox'),
      email: oneOf('EMAIL_PROVIDER', ['dev-outbox', 'smtp'] as const, 'dev-outbox'),
      webhook: oneOf('WEBHOOK_PROVIDER', ['dev-outbox', 'http'] as const, 'dev-outbox'),
      push: oneOf('PUSH_PROVIDER', ['dev-outbox', 'live'] as const, 'dev-outbox'),
      timeoutMs: int('CHANNEL_TIMEOUT_MS', 10_000, 10, 300_000),
      insecureSkipTlsVerify: bool('INSECURE_SKIP_TLS_VERIFY', false),
      outboundCa: readOptionalFile('OUTBOUND_CA_FILE'),
    },
    twilio: {
      baseUrl: str('TWILIO_BASE_URL', 'https://api.twilio.com')!.replace(/\/+$/, ''),
      accountSid: str('TWILIO_ACCOUNT_SID'),
      authToken: secret('TWILIO_AUTH_TOKEN'),
      from: str('TWILIO_FROM'),
    },
    smtp: {
      host: str('SMTP_HOST', '127.0.0.1')!,
      port: int('SMTP_PORT', 587, 1, 65535),
      security: oneOf('SMTP_SECURITY', ['tls', 'starttls', 'none'] as const, 'starttls'),
      user: str('SMTP_USER'),
      password: secret('SMTP_PASSWORD'),
      from: str('SMTP_FROM', 'no-reply@localhost')!,
      ca: readOptionalFile('SMTP_CA_FILE'),
    },
    webhook: {
      secret: secret('WEBHOOK_SECRET'),
      allowedHosts: allowedHosts(str('WEBHOOK_ALLOWED_HOSTS'), errors),
      subscriptionMaxFailures: int('FHIR_SUBSCRIPTION_MAX_FAILURES', 10, 1, 1000),
      events: eventWebhook(str('EVENT_WEBHOOK_URL'), secret('EVENT_WEBHOOK_SECRET'), errors),
    },
    portal: {
      linkTtlHours: int('LINK_TTL_HOURS', 72, 1, 24 * 30),
      maxAttempts: int('LINK_MAX_ATTEMPTS', 5, 1, 20),
      otpTtlMinutes: int('OTP_TTL_MINUTES', 10, 1, 60),
      sessionTtlMinutes: int('PORTAL_SESSION_MINUTES', 15, 1, 240),
    },
    identity: {
      sessionIdleMinutes: int('SESSION_IDLE_MINUTES', 15, 1, 240),
      sessionAbsoluteHours: int('SESSION_ABSOLUTE_HOURS', 12, 1, 72),
      lockoutThreshold: int('LOCKOUT_THRESHOLD', 5, 3, 100),
      lockoutMinutes: int('LOCKOUT_MINUTES', 15, 1, 24 * 60),
      breakGlassMinutes: int('BREAK_GLASS_MINUTES', 60, 5, 24 * 60),
      inviteTtlHours: int('INVITE_TTL_HOURS', 72, 1, 24 * 14),
      accessTokenMinutes: int('ACCESS_TOKEN_MINUTES', 5, 1, 60),
      oidc: oidcConfig(str, secret, bool, errors),
    },
    audit: {
      origin: str('AUDIT_ORIGIN', `${safeHost(publicUrl)}/sealpost/audit`)!,
      checkpointSeconds: int('AUDIT_CHECKPOINT_SECONDS', 60, 1, 86_400),
      checkpointEntries: int('AUDIT_CHECKPOINT_ENTRIES', 1000, 1, 10_000_000),
      integrateBatch: int('AUDIT_INTEGRATE_BATCH', 5000, 1, 100_000),
      privacyMonitor: bool('PRIVACY_MONITOR', true),
      privacyMonitorIntervalMs: int('PRIVACY_MONITOR_INTERVAL_MS', 10_000, 50, 3_600_000),
    },
    messaging: {
      keyPackageLow: int('MESSAGING_KEY_PACKAGE_LOW', 10, 0, 100),
      maxAttachmentBytes: int('MESSAGING_MAX_ATTACHMENT_BYTES', 25 * 1024 * 1024, 1, 1024 * 1024 * 1024),
      attachmentQuotaBytes: int('MESSAGING_ATTACHMENT_QUOTA_BYTES', 100 * 1024 * 1024, 1, 64 * 1024 * 1024 * 1024),
      conversationStorageBytes: int(
        'MESSAGING_CONVERSATION_STORAGE_BYTES',
        1024 * 1024 * 1024,
        1,
        1024 * 1024 * 1024 * 1024,
      ),
      nudgeDelaySeconds: int('MESSAGING_NUDGE_DELAY_SECONDS', 30, 1, 3600),
    },
    policy: { reminderOffsetsMinutes, quietHours, delivery: deliveryPolicySettings(str, CHANNEL_KINDS, errors) },
    hl7: hl7Settings({ str, secret, int }, errors),
    mqtt: mqttSettings({ str, secret, int }, errors),
    paging: pagingSettings({ str, secret, int }, errors),
    push: pushSettings({ str, secret, int }, publicUrl.replace(/\/+$/, ''), errors),
    ignoredVariables: [],
  };
  if (/[\s+]/.test(config.audit.origin) || !config.audit.origin)
    errors.push('SEALPOST_AUDIT_ORIGIN: must be non-empty, without spaces or "+"');
  if (config.channels.sms === 'twilio') {
    if (!config.twilio.accountSid) errors.push('SEALPOST_TWILIO_ACCOUNT_SID: required when SMS_PROVIDER=twilio');
    if (!config.twilio.authToken) errors.push('SEALPOST_TWILIO_AUTH_TOKEN: required when SMS_PROVIDER=twilio');
    if (!config.twilio.from) errors.push('SEALPOST_TWILIO_FROM: required when SMS_PROVIDER=twilio');
  }
  if (config.channels.outboundCa !== undefined && !/-----BEGIN CERTIFICATE-----/.test(config.channels.outboundCa))
    errors.push('SEALPOST_OUTBOUND_CA_FILE: expected PEM certificates (-----BEGIN CERTIFICATE-----)');
  // Plaintext puts credentials on the wire (Twilio's Basic header, SMTP AUTH): loopback only.
  if (!twilioBaseUrlOk(config.twilio.baseUrl))
    errors.push('SEALPOST_TWILIO_BASE_URL: expected an https URL (http only to a loopback address)');
  if (config.smtp.security === 'none' && !isLoopbackHost(config.smtp.host))
    errors.push('SEALPOST_SMTP_SECURITY: none (plaintext) is allowed only with a loopback SEALPOST_SMTP_HOST');
  if (config.keys.provider === 'pkcs11') {
    if (!config.keys.pkcs11.library) errors.push('SEALPOST_PKCS11_LIBRARY: required when KEY_PROVIDER=pkcs11');
    if (config.keys.pkcs11.slot === undefined && !config.keys.pkcs11.tokenLabel)
      errors.push('SEALPOST_PKCS11_SLOT or SEALPOST_PKCS11_TOKEN_LABEL: required when KEY_PROVIDER=pkcs11');
    if (!config.keys.pkcs11.pin)
      errors.push('SEALPOST_PKCS11_PIN or SEALPOST_PKCS11_PIN_FILE: required when KEY_PROVIDER=pkcs11');
  }
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(config.database.url)) {
    errors.push('SEALPOST_DATABASE_URL: expected sqlite:<path> or postgres://user@host:port/database');
  }
  // A misspelt variable would otherwise do nothing, silently; names only, never values. The test suite's
  // and the bench's own variables (SEALPOST_TEST_*, SEALPOST_BENCH_*) are not Sealpost settings.
  config.ignoredVariables = Object.keys(env)
    .filter((k) => k.startsWith('SEALPOST_') && !known.has(k) && !/^SEALPOST_(TEST|BENCH)_/.test(k))
    .sort();
  const merged = deepMerge(config, overrides);
  if (errors.length) throw new AppError('SP_CONFIG_INVALID', errors.join('; '));
  return deepFreeze(merged);
}

/**
 * OIDC single sign-on (SEALPOST_OIDC_*): null unless an issuer or a client id is set, then both are
 * required. The issuer must be https (ID tokens and keys travel over it). Group roles read
 * `group=role[,role];group=role`; a group is everything before the entry's last `=`, so LDAP DNs work.
 */
function oidcConfig(
  str: (name: string, def?: string) => string | undefined,
  secret: (name: string) => string | undefined,
  bool: (name: string, def: boolean) => boolean,
  errors: string[],
): Config['identity']['oidc'] {
  const issuer = str('OIDC_ISSUER');
  const clientId = str('OIDC_CLIENT_ID');
  const clientSecret = secret('OIDC_CLIENT_SECRET');
  const rawRoles = str('OIDC_GROUP_ROLES');
  const groupsClaim = str('OIDC_GROUPS_CLAIM', 'groups')!;
  const trustIdpMfa = bool('OIDC_TRUST_IDP_MFA', true);
  const tenant = str('OIDC_TENANT', DEFAULT_TENANT)!;
  if (!issuer && !clientId) return null;
  if (!issuer) errors.push('SEALPOST_OIDC_ISSUER: required when SEALPOST_OIDC_CLIENT_ID is set');
  if (!clientId) errors.push('SEALPOST_OIDC_CLIENT_ID: required when SEALPOST_OIDC_ISSUER is set');
  if (issuer && !/^https:\/\/[^\s?#]+$/.test(issuer))
    errors.push('SEALPOST_OIDC_ISSUER: expected an https URL without query or fragment');
  if (!/^[a-z0-9-]{1,64}$/.test(tenant)) errors.push('SEALPOST_OIDC_TENANT: expected a tenant id (a-z, 0-9, -)');
  if (/\s/.test(groupsClaim)) errors.push('SEALPOST_OIDC_GROUPS_CLAIM: must not contain spaces');
  // No prototype: a group named `__proto__` or `constructor` is just a key.
  const groupRoles: Record<string, string[]> = Object.create(null);
  for (const entry of (rawRoles ?? '')
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const at = entry.lastIndexOf('=');
    const group = at > 0 ? entry.slice(0, at).trim() : '';
    const roles =
      at > 0
        ? entry
            .slice(at + 1)
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean)
        : [];
    const bad = roles.filter((r) => !(STAFF_ROLES as string[]).includes(r));
    if (!group || !roles.length || bad.length) {
      errors.push(
        `SEALPOST_OIDC_GROUP_ROLES: expected "group=role[,role];…" with roles among ${STAFF_ROLES.join(', ')}`,
      );
      break;
    }
    groupRoles[group] = [...new Set([...(groupRoles[group] ?? []), ...roles])];
  }
  if (!rawRoles)
    errors.push('SEALPOST_OIDC_GROUP_ROLES: required when OIDC is configured (nobody could sign in without it)');
  // The issuer is kept exactly as given: it must equal the discovery document's `issuer` (a trailing slash included).
  return {
    issuer: issuer ?? '',
    clientId: clientId ?? '',
    ...(clientSecret ? { clientSecret } : {}),
    groupRoles,
    groupsClaim,
    trustIdpMfa,
    tenant,
  };
}

function twilioBaseUrlOk(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  } catch {
    return false;
  }
}

/** `SEALPOST_EVENT_WEBHOOK_URL` (http or https, no credentials) needs `SEALPOST_EVENT_WEBHOOK_SECRET`. */
function eventWebhook(
  url: string | undefined,
  secret: string | undefined,
  errors: string[],
): { url: string; secret: string } | undefined {
  if (url === undefined) {
    if (secret !== undefined) errors.push('SEALPOST_EVENT_WEBHOOK_SECRET: set without SEALPOST_EVENT_WEBHOOK_URL');
    return undefined;
  }
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password)
    errors.push('SEALPOST_EVENT_WEBHOOK_URL: expected an https URL without credentials');
  if (secret === undefined || secret.length < 16)
    errors.push('SEALPOST_EVENT_WEBHOOK_SECRET: required with SEALPOST_EVENT_WEBHOOK_URL, at least 16 characters');
  return u && secret ? { url, secret } : undefined;
}

/** `SEALPOST_WEBHOOK_ALLOWED_HOSTS`: comma-separated host names, IP addresses or CIDR ranges. */
function allowedHosts(raw: string | undefined, errors: string[]): string[] {
  const items = (raw ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const ok = (s: string) => {
    const [addr, bits, extra] = s.replace(/^\[(.*)\]$/, '$1').split('/');
    const v = isIP(addr ?? '');
    if (v === 0)
      return (
        bits === undefined &&
        /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/.test(s)
      );
    return (
      extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128)))
    );
  };
  if (!items.every(ok))
    errors.push('SEALPOST_WEBHOOK_ALLOWED_HOSTS: expected comma-separated host names, IP addresses or CIDR ranges');
  return items;
}

/** Timeouts and the per-address connection cap of the listener; headers must fit within the request. */
function httpLimits(int: (name: string, def: number, min: number, max: number) => number, errors: string[]) {
  const limits = {
    headersTimeoutMs: int('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    requestTimeoutMs: int('HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    keepAliveTimeoutMs: int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
    maxConnectionsPerAddress: int('HTTP_MAX_CONNECTIONS_PER_ADDRESS', 100, 0, 1_000_000),
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    errors.push('SEALPOST_HTTP_HEADERS_TIMEOUT_MS: must not be longer than SEALPOST_HTTP_REQUEST_TIMEOUT_MS');
  return limits;
}

/** `SEALPOST_TRUSTED_PROXIES`: comma-separated IPv4/IPv6 addresses or CIDR ranges. */
function trustedProxies(raw: string | undefined, errors: string[]): string[] {
  const items = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ok = (s: string) => {
    const [addr, bits, extra] = s.split('/');
    const v = isIP(addr ?? '');
    return (
      extra === undefined &&
      v !== 0 &&
      (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128)))
    );
  };
  if (!items.every(ok)) errors.push('SEALPOST_TRUSTED_PROXIES: expected comma-separated IP addresses or CIDR ranges');
  return items;
}

function safeHost(url: string): string {
  try {
    // Host name only: the origin names the log and must not change when only the port does.
    return new URL(url).hostname || 'localhost';
  } catch {
    return 'localhost';
  }
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function deepMerge<T>(base: T, over: DeepPartial<T>): T {
  const out: any = Array.isArray(base) ? [...(base as any)] : { ...base };
  for (const [k, v] of Object.entries(over as object)) {
    if (v === undefined) continue;
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object'
        ? deepMerge(out[k], v)
        : v;
  }
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
