import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_DELIVERY_POLICY } from './delivery-policy-settings.js';

const base = { SEALPOST_DATA_DIR: '/tmp/sealpost-config-test' };

describe('frequency caps, deduplication and digest settings', () => {
  it('defaults to 1 routine SMS a day and 3 a week, a 24 h deduplication window and 30 min digests', () => {
    expect(loadConfig(base).policy.delivery).toEqual(DEFAULT_DELIVERY_POLICY);
    expect(DEFAULT_DELIVERY_POLICY).toEqual({
      caps: { sms: { perDay: 1, perWeek: 3 } },
      dedupWindowMinutes: 1440,
      digestWindowMinutes: 30,
    });
  });

  it('reads caps per channel, windows as durations, and "off"', () => {
    const c = loadConfig({
      ...base,
      SEALPOST_FREQUENCY_CAPS: 'sms:2/5, email:3/10',
      SEALPOST_DEDUP_WINDOW: '12h',
      SEALPOST_DIGEST_WINDOW: 'off',
    });
    expect(c.policy.delivery).toEqual({
      caps: { sms: { perDay: 2, perWeek: 5 }, email: { perDay: 3, perWeek: 10 } },
      dedupWindowMinutes: 720,
      digestWindowMinutes: 0,
    });
    expect(loadConfig({ ...base, SEALPOST_FREQUENCY_CAPS: 'off' }).policy.delivery?.caps).toEqual({});
  });

  it.each([
    ['SEALPOST_FREQUENCY_CAPS', 'sms:1'],
    ['SEALPOST_FREQUENCY_CAPS', 'sms:0/3'],
    ['SEALPOST_FREQUENCY_CAPS', 'sms:4/3'],
    ['SEALPOST_FREQUENCY_CAPS', 'sms:1/3,sms:2/4'],
    ['SEALPOST_FREQUENCY_CAPS', 'fax:1/3'],
    ['SEALPOST_DEDUP_WINDOW', '24'],
    ['SEALPOST_DEDUP_WINDOW', '8d'],
    ['SEALPOST_DIGEST_WINDOW', 'soon'],
  ])('refuses %s=%s with an error naming the variable', (name, value) => {
    let err: unknown;
    try {
      loadConfig({ ...base, [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toContain(name);
  });
});
