import { afterEach, describe, expect, it } from 'vitest';
import { httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';
import { loadConfig } from '../../src/config/load-config.js';

/** The source address on the record of the latest failed sign-in. */
const lastLoginFailureIp = (h: Harness) =>
  JSON.parse(
    query<{ entry: string }>(
      h.dataDir,
      "select entry from audit_entries where action = 'auth.login_failed' order by idx desc limit 1",
    )[0]!.entry,
  ).ip as string;

describe('client addresses behind a reverse proxy (SEALPOST_TRUSTED_PROXIES)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const failLogin = (forwardedFor: string) =>
    httpsJson(
      h!.url,
      h!.cert,
      'POST',
      '/v1/auth/login',
      { email: 'nobody@clinic.test', password: 'wrong wrong wrong' },
      { authorization: '', 'x-forwarded-for': forwardedFor },
    );

  it('ignores X-Forwarded-For by default: a client cannot choose the address its attempts are throttled and audited under', async () => {
    h = await startSealpost();
    expect((await failLogin('203.0.113.7')).status).toBe(401);
    expect(lastLoginFailureIp(h)).toBe('127.0.0.1');
  });

  it('believes X-Forwarded-For from a named proxy, so each client behind it is throttled and audited on its own', async () => {
    h = await startSealpost({ SEALPOST_TRUSTED_PROXIES: '127.0.0.1, ::1' });
    expect((await failLogin('203.0.113.7')).status).toBe(401);
    expect(lastLoginFailureIp(h)).toBe('203.0.113.7');
  });

  it('refuses a malformed proxy list at start, naming the variable', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '10.0.0.1/8/1', 'fe80::1/129']) {
      expect(() => loadConfig({ SEALPOST_TRUSTED_PROXIES: bad }), bad).toThrow(/SEALPOST_TRUSTED_PROXIES/);
    }
    expect(loadConfig({ SEALPOST_TRUSTED_PROXIES: '10.0.0.0/8,fd00::/8, 192.0.2.1' }).trustedProxies).toEqual([
      '10.0.0.0/8',
      'fd00::/8',
      '192.0.2.1',
    ]);
  });
});
