import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { isLoopbackHost } from './loopback.js';

/**
 * Credentials travel in clear text over `http://` (Twilio's Basic header) and `SMTP_SECURITY=none`
 * (AUTH PLAIN/LOGIN): both are allowed to loopback addresses only, and any other host is refused at start.
 */
describe('plaintext credentials only to loopback', () => {
  const twilio = (baseUrl: string) =>
    loadConfig({
      SEALPOST_SMS_PROVIDER: 'twilio',
      SEALPOST_TWILIO_BASE_URL: baseUrl,
      SEALPOST_TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000001',
      SEALPOST_TWILIO_AUTH_TOKEN: 'token',
      SEALPOST_TWILIO_FROM: '+14155550000',
    });
  const smtp = (host: string, security = 'none') =>
    loadConfig({
      SEALPOST_EMAIL_PROVIDER: 'smtp',
      SEALPOST_SMTP_HOST: host,
      SEALPOST_SMTP_SECURITY: security,
      SEALPOST_SMTP_USER: 'relay',
      SEALPOST_SMTP_PASSWORD: 'secret',
    });

  it('refuses an http Twilio base URL on any other host, naming the variable and not the token', () => {
    for (const url of [
      'http://api.twilio.com',
      'http://10.0.0.5:8080',
      'http://[fe80::1]',
      'http://127.0.0.1.nip.io',
      'ftp://127.0.0.1',
      'not a url',
    ]) {
      expect(() => twilio(url), url).toThrow(/SEALPOST_TWILIO_BASE_URL/);
    }
    try {
      twilio('http://api.twilio.com');
    } catch (e) {
      expect((e as Error).message).not.toContain('token');
      expect((e as { code?: string }).code).toBe('SP_CONFIG_INVALID');
    }
  });

  it('accepts https anywhere and http to loopback addresses', () => {
    for (const url of [
      'https://api.twilio.com',
      'https://10.0.0.5',
      'http://127.0.0.1:8080',
      'http://127.9.9.9',
      'http://[::1]:9000',
      'http://localhost:9000',
    ]) {
      expect(twilio(url).twilio.baseUrl, url).toBe(url);
    }
  });

  it('refuses SMTP_SECURITY=none to any other host, and allows it to loopback', () => {
    for (const host of ['smtp.example.org', '10.0.0.7', '192.168.1.1', '::ffff:10.0.0.1', '127.0.0.1.example']) {
      expect(() => smtp(host), host).toThrow(/SEALPOST_SMTP_SECURITY/);
    }
    for (const host of ['127.0.0.1', '::1', 'localhost', '127.0.0.53']) {
      expect(smtp(host).smtp.host).toBe(host);
    }
    expect(smtp('smtp.example.org', 'starttls').smtp.security).toBe('starttls');
    expect(smtp('smtp.example.org', 'tls').smtp.security).toBe('tls');
  });

  it('isLoopbackHost: literal loopback addresses (v4, v6, v4-mapped) and localhost only', () => {
    for (const h of ['127.0.0.1', '127.255.0.1', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['', '10.0.0.1', '0.0.0.0', '::', 'fe80::1', 'localhost.example', '127.1', '2130706433'])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});
