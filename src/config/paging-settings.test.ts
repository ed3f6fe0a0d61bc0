import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { parseSnppUrl } from './paging-settings.js';

describe('SEALPOST_PAGING_* (the SNPP paging gateway)', () => {
  it('defaults: no gateway (dev outbox), no login, 240 characters', () => {
    expect(loadConfig({}).paging).toEqual({ maxChars: 240 });
  });

  it('parses snpp:// and snpps:// with the default port 444, IPv6 in brackets', () => {
    expect(parseSnppUrl('snpp://127.0.0.1')).toEqual({ host: '127.0.0.1', port: 444, tls: false });
    expect(parseSnppUrl('snpps://pager-gw.hospital.example:7777/')).toEqual({
      host: 'pager-gw.hospital.example',
      port: 7777,
      tls: true,
    });
    expect(parseSnppUrl('SNPP://[::1]:444')).toEqual({ host: '::1', port: 444, tls: false });
    for (const bad of [
      'http://gw:444',
      'snpp://',
      'snpp://gw:0',
      'snpp://gw:70000',
      'snpp://user:pw@gw',
      'snpp://gw/path',
      'snpp://gw?x=1',
      'snpp://[not-v6]:444',
      'snpp://bad_host:444',
      'gw:444',
    ]) {
      expect(parseSnppUrl(bad), bad).toBeNull();
    }
  });

  it('reads the URL, login, password (or its _FILE) and the character limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'paging-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    const config = loadConfig({
      SEALPOST_PAGING_SNPP_URL: 'snpps://gw.example:444',
      SEALPOST_PAGING_SNPP_LOGIN: 'sealpost',
      SEALPOST_PAGING_SNPP_PASSWORD_FILE: join(dir, 'pw'),
      SEALPOST_PAGING_MAX_CHARS: '80',
    });
    expect(config.paging).toEqual({
      snpp: { host: 'gw.example', port: 444, tls: true },
      login: { id: 'sealpost', password: 'from-file' },
      maxChars: 80,
    });
    expect(config.ignoredVariables).toEqual([]);
  });

  it('allows plain snpp:// anywhere without a login, but a login over it only to loopback', () => {
    expect(loadConfig({ SEALPOST_PAGING_SNPP_URL: 'snpp://10.1.2.3' }).paging.snpp).toEqual({
      host: '10.1.2.3',
      port: 444,
      tls: false,
    });
    const login = { SEALPOST_PAGING_SNPP_LOGIN: 'sealpost', SEALPOST_PAGING_SNPP_PASSWORD: 'hunter2' };
    expect(() => loadConfig({ SEALPOST_PAGING_SNPP_URL: 'snpp://10.1.2.3', ...login })).toThrow(
      /SEALPOST_PAGING_SNPP_LOGIN: a login over plain snpp:\/\/ is allowed only to a loopback host/,
    );
    try {
      loadConfig({ SEALPOST_PAGING_SNPP_URL: 'snpp://10.1.2.3', ...login });
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
    expect(loadConfig({ SEALPOST_PAGING_SNPP_URL: 'snpp://localhost:4444', ...login }).paging.login).toEqual({
      id: 'sealpost',
      password: 'hunter2',
    });
    expect(loadConfig({ SEALPOST_PAGING_SNPP_URL: 'snpps://10.1.2.3', ...login }).paging.snpp?.tls).toBe(true);
  });

  it('reports every bad value at once, naming variables and never the password', () => {
    let message = '';
    try {
      loadConfig({
        SEALPOST_PAGING_SNPP_URL: 'smtp://gw',
        SEALPOST_PAGING_SNPP_PASSWORD: 'two words',
        SEALPOST_PAGING_MAX_CHARS: '5',
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/SEALPOST_PAGING_SNPP_URL: expected snpp/);
    expect(message).toMatch(/SEALPOST_PAGING_SNPP_PASSWORD: expected printable characters without spaces/);
    expect(message).toMatch(/SEALPOST_PAGING_SNPP_LOGIN: required when SEALPOST_PAGING_SNPP_PASSWORD is set/);
    expect(message).toMatch(/SEALPOST_PAGING_MAX_CHARS: expected an integer in \[16, 4000\]/);
    expect(message).not.toContain('two words');
  });
});
