import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { AppError } from '../core/errors.js';

describe('configuration', () => {
  it('starts from embedded defaults: SQLite in ./data, dev outbox everywhere, group commit', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8443);
    expect(c.database.url).toMatch(/^sqlite:.*data\/sealpost\.db$/);
    expect(c.database.sqliteDurability).toBe('group');
    expect([c.channels.sms, c.channels.email, c.channels.webhook]).toEqual(['dev-outbox', 'dev-outbox', 'dev-outbox']);
    expect(c.policy.reminderOffsetsMinutes).toEqual([10080, 1440, 120]);
    expect(c.policy.quietHours).toEqual({ startMinute: 1260, endMinute: 480 });
  });

  it('is frozen, deeply', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.worker.maxAttempts)).toBe(true);
  });

  it('reports every invalid variable in one error', () => {
    try {
      loadConfig({ SEALPOST_PORT: '99999', SEALPOST_QUIET_HOURS: '25:00-08:00', SEALPOST_REMINDER_OFFSETS: '7x', SEALPOST_SMS_PROVIDER: 'twilio', SEALPOST_WORKER: 'perhaps' });
      throw new Error('expected a config error');
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      const msg = (e as AppError).message;
      for (const v of ['SEALPOST_PORT', 'SEALPOST_QUIET_HOURS', 'SEALPOST_REMINDER_OFFSETS', 'SEALPOST_WORKER', 'SEALPOST_TWILIO_ACCOUNT_SID', 'SEALPOST_TWILIO_AUTH_TOKEN', 'SEALPOST_TWILIO_FROM']) {
        expect(msg).toContain(v);
      }
    }
  });

  it('reads a secret from a *_FILE and reports a missing file without its path contents', () => {
    expect(() => loadConfig({ SEALPOST_SMTP_PASSWORD_FILE: '/nonexistent/secret' })).toThrow(/SEALPOST_SMTP_PASSWORD_FILE: cannot read/);
  });

  it('refuses a public URL that is not https and a database URL of an unknown kind', () => {
    expect(() => loadConfig({ SEALPOST_PUBLIC_URL: 'http://clinic.example' })).toThrow(/SEALPOST_PUBLIC_URL/);
    expect(() => loadConfig({ SEALPOST_DATABASE_URL: 'mysql://x' })).toThrow(/SEALPOST_DATABASE_URL/);
    expect(() => loadConfig({ SEALPOST_DATABASE_URL: 'postgres://' })).toThrow(/SEALPOST_DATABASE_URL/);
    expect(() => loadConfig({ SEALPOST_DATABASE_POOL_MAX: '0' })).toThrow(/SEALPOST_DATABASE_POOL_MAX/);
  });

  it('lists SEALPOST_* variables it does not know (a typo does nothing, so it must be visible), but not the suite\'s own', () => {
    const c = loadConfig({ SEALPOST_WORKER_ENABLED: 'false', SEALPOST_WORKER: 'false', SEALPOST_TEST_BACKENDS: 'sqlite', SEALPOST_BENCH_PG_URL: 'x', OTHER: '1' });
    expect(c.ignoredVariables).toEqual(['SEALPOST_WORKER_ENABLED']);
    expect(c.worker.enabled).toBe(false);
    expect(loadConfig({ SEALPOST_SMTP_PASSWORD_FILE: '/dev/null' }).ignoredVariables).toEqual([]);
  });

  it('accepts a PostgreSQL URL with its pool settings and a shared keyring file', () => {
    const c = loadConfig({
      SEALPOST_DATABASE_URL: 'postgresql://sealpost@127.0.0.1:5432/sealpost',
      SEALPOST_DATABASE_POOL_MAX: '20',
      SEALPOST_DATABASE_STATEMENT_TIMEOUT_MS: '5000',
      SEALPOST_KEYRING_FILE: '/etc/sealpost/keyring.json',
    });
    expect(c.database).toMatchObject({ url: 'postgresql://sealpost@127.0.0.1:5432/sealpost', poolMax: 20, statementTimeoutMs: 5000 });
    expect(c.keys.file).toBe('/etc/sealpost/keyring.json');
  });

  it('takes a per-channel attempt limit over the general one', () => {
    expect(loadConfig({ SEALPOST_MAX_ATTEMPTS: '3', SEALPOST_MAX_ATTEMPTS_WEBHOOK: '8' }).worker.maxAttempts).toEqual({ sms: 3, email: 3, webhook: 8 });
  });

  it('accepts quiet hours "off" and custom reminder offsets', () => {
    const c = loadConfig({ SEALPOST_QUIET_HOURS: 'off', SEALPOST_REMINDER_OFFSETS: '3d,12h,30m' });
    expect(c.policy.quietHours).toBeNull();
    expect(c.policy.reminderOffsetsMinutes).toEqual([4320, 720, 30]);
  });
});
