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
      loadConfig({
        SEALPOST_PORT: '99999',
        SEALPOST_QUIET_HOURS: '25:00-08:00',
        SEALPOST_REMINDER_OFFSETS: '7x',
        SEALPOST_SMS_PROVIDER: 'twilio',
        SEALPOST_WORKER: 'perhaps',
      });
      throw new Error('expected a config error');
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      const msg = (e as AppError).message;
      for (const v of [
        'SEALPOST_PORT',
        'SEALPOST_QUIET_HOURS',
        'SEALPOST_REMINDER_OFFSETS',
        'SEALPOST_WORKER',
        'SEALPOST_TWILIO_ACCOUNT_SID',
        'SEALPOST_TWILIO_AUTH_TOKEN',
        'SEALPOST_TWILIO_FROM',
      ]) {
        expect(msg).toContain(v);
      }
    }
  });

  it('reads a secret from a *_FILE and reports a missing file without its path contents', () => {
    expect(() => loadConfig({ SEALPOST_SMTP_PASSWORD_FILE: '/nonexistent/secret' })).toThrow(
      /SEALPOST_SMTP_PASSWORD_FILE: cannot read/,
    );
  });

  it('refuses a public URL that is not https and a database URL of an unknown kind', () => {
    expect(() => loadConfig({ SEALPOST_PUBLIC_URL: 'http://clinic.example' })).toThrow(/SEALPOST_PUBLIC_URL/);
    expect(() => loadConfig({ SEALPOST_DATABASE_URL: 'mysql://x' })).toThrow(/SEALPOST_DATABASE_URL/);
    expect(() => loadConfig({ SEALPOST_DATABASE_URL: 'postgres://' })).toThrow(/SEALPOST_DATABASE_URL/);
    expect(() => loadConfig({ SEALPOST_DATABASE_POOL_MAX: '0' })).toThrow(/SEALPOST_DATABASE_POOL_MAX/);
  });

  it("lists SEALPOST_* variables it does not know (a typo does nothing, so it must be visible), but not the suite's own", () => {
    const c = loadConfig({
      SEALPOST_WORKER_ENABLED: 'false',
      SEALPOST_WORKER: 'false',
      SEALPOST_TEST_BACKENDS: 'sqlite',
      SEALPOST_BENCH_PG_URL: 'x',
      OTHER: '1',
    });
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
    expect(c.database).toMatchObject({
      url: 'postgresql://sealpost@127.0.0.1:5432/sealpost',
      poolMax: 20,
      statementTimeoutMs: 5000,
    });
    expect(c.keys.file).toBe('/etc/sealpost/keyring.json');
  });

  it('takes a per-channel attempt limit over the general one', () => {
    expect(loadConfig({ SEALPOST_MAX_ATTEMPTS: '3', SEALPOST_MAX_ATTEMPTS_WEBHOOK: '8' }).worker.maxAttempts).toEqual({
      sms: 3,
      email: 3,
      webhook: 8,
      push: 3,
    });
  });

  it('accepts quiet hours "off" and custom reminder offsets', () => {
    const c = loadConfig({ SEALPOST_QUIET_HOURS: 'off', SEALPOST_REMINDER_OFFSETS: '3d,12h,30m' });
    expect(c.policy.quietHours).toBeNull();
    expect(c.policy.reminderOffsetsMinutes).toEqual([4320, 720, 30]);
  });

  it('reads OIDC single sign-on settings: group roles (LDAP DNs too), the secret from a file, defaults for the claim and MFA trust', () => {
    expect(loadConfig({}).identity.oidc).toBeNull();
    const c = loadConfig({
      SEALPOST_OIDC_ISSUER: 'https://idp.example/realms/clinic',
      SEALPOST_OIDC_CLIENT_ID: 'sealpost',
      SEALPOST_OIDC_CLIENT_SECRET_FILE: '/dev/null',
      SEALPOST_OIDC_GROUP_ROLES:
        'cardiology-md=physician; ward-rn=nurse;it-admins=admin,auditor;cn=billing,ou=groups,dc=clinic=billing;ward-rn=receptionist',
    });
    expect(c.identity.oidc).toMatchObject({
      issuer: 'https://idp.example/realms/clinic',
      clientId: 'sealpost',
      groupsClaim: 'groups',
      trustIdpMfa: true,
      tenant: 'default',
    });
    expect(c.identity.oidc!.clientSecret).toBeUndefined();
    expect({ ...c.identity.oidc!.groupRoles }).toEqual({
      'cardiology-md': ['physician'],
      'ward-rn': ['nurse', 'receptionist'],
      'it-admins': ['admin', 'auditor'],
      'cn=billing,ou=groups,dc=clinic': ['billing'],
    });
    const d = loadConfig({
      SEALPOST_OIDC_ISSUER: 'https://idp.example/',
      SEALPOST_OIDC_CLIENT_ID: 'x',
      SEALPOST_OIDC_CLIENT_SECRET: 's3cret',
      SEALPOST_OIDC_GROUP_ROLES: 'g=nurse',
      SEALPOST_OIDC_GROUPS_CLAIM: 'roles',
      SEALPOST_OIDC_TRUST_IDP_MFA: 'false',
    });
    expect(d.identity.oidc).toMatchObject({
      issuer: 'https://idp.example/',
      clientSecret: 's3cret',
      groupsClaim: 'roles',
      trustIdpMfa: false,
    });
    expect(d.ignoredVariables).toEqual([]);
  });

  it('reports every OIDC configuration error together: issuer and client id need each other, https only, staff roles only', () => {
    const msg = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        expect(e).toBeInstanceOf(AppError);
        return (e as AppError).message;
      }
      throw new Error('expected a config error');
    };
    expect(msg({ SEALPOST_OIDC_ISSUER: 'https://idp.example', SEALPOST_OIDC_GROUP_ROLES: 'g=nurse' })).toContain(
      'SEALPOST_OIDC_CLIENT_ID: required',
    );
    expect(msg({ SEALPOST_OIDC_CLIENT_ID: 'x', SEALPOST_OIDC_GROUP_ROLES: 'g=nurse' })).toContain(
      'SEALPOST_OIDC_ISSUER: required',
    );
    const all = msg({
      SEALPOST_OIDC_ISSUER: 'http://idp.example',
      SEALPOST_OIDC_CLIENT_ID: 'x',
      SEALPOST_OIDC_GROUP_ROLES: 'g=patient',
      SEALPOST_OIDC_TRUST_IDP_MFA: 'maybe',
      SEALPOST_OIDC_TENANT: 'Other Org',
      SEALPOST_OIDC_CLIENT_SECRET_FILE: '/nonexistent/secret',
      SEALPOST_PORT: '99999',
    });
    for (const v of [
      'SEALPOST_OIDC_ISSUER: expected an https URL',
      'SEALPOST_OIDC_GROUP_ROLES',
      'SEALPOST_OIDC_TRUST_IDP_MFA',
      'SEALPOST_OIDC_CLIENT_SECRET_FILE',
      'SEALPOST_OIDC_TENANT',
      'SEALPOST_PORT',
    ])
      expect(all).toContain(v);
    expect(msg({ SEALPOST_OIDC_ISSUER: 'https://idp.example', SEALPOST_OIDC_CLIENT_ID: 'x' })).toContain(
      'SEALPOST_OIDC_GROUP_ROLES: required',
    );
    for (const bad of ['=nurse', 'g=', 'g=nurse,superuser', 'nurse'])
      expect(
        msg({
          SEALPOST_OIDC_ISSUER: 'https://idp.example',
          SEALPOST_OIDC_CLIENT_ID: 'x',
          SEALPOST_OIDC_GROUP_ROLES: bad,
        }),
      ).toContain('SEALPOST_OIDC_GROUP_ROLES: expected');
  });
});
