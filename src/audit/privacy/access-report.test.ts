import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.js';
import { inScope, isoInstant, normaliseAddress, parseReportRequest } from './access-report.js';
import type { ParsedEntry } from './report-facts.js';

const FROM = '2031-01-01T00:00:00Z';
const TO = '2031-01-02T00:00:00Z';
const refusal = (raw: Record<string, unknown>) => {
  try {
    parseReportRequest({ tenantId: 't', from: FROM, to: TO, ...raw });
  } catch (e) {
    return e instanceof AppError ? `${e.code}: ${e.message}` : String(e);
  }
  return 'accepted';
};

describe('report request validation', () => {
  it('refuses a date-time without an explicit offset, a malformed one and a day that does not exist', () => {
    for (const from of [
      '2031-01-01T00:00',
      '2031-01-01T00:00:00',
      '2031-01-01Tgarbage',
      '2031-02-30T00:00:00Z',
      '2031-04-31T00:00:00+02:00',
      '2031-01-01T24:00:00Z',
      '2031-01-01T00:00:00+25:00',
      '2031-1-01T00:00:00Z',
    ])
      expect(refusal({ from }), from).toMatch(/^SP_PRIVACY_REPORT_INVALID: .*from: must be an ISO 8601 date-time/);
    expect(isoInstant('2032-02-29T12:00:00.5+01:00')).toBe(Date.parse('2032-02-29T11:00:00.500Z'));
    expect(isoInstant('2031-02-29T00:00:00Z')).toBeNull();
  });

  it('takes Z and ±hh:mm offsets as the instant they name', () => {
    const r = parseReportRequest({ tenantId: 't', from: '2031-01-01T01:00:00+01:00', to: '2031-01-01T19:00-05:00' });
    expect(new Date(r.fromMs).toISOString()).toBe('2031-01-01T00:00:00.000Z');
    expect(new Date(r.toMs).toISOString()).toBe('2031-01-02T00:00:00.000Z');
  });

  it('accepts only IP addresses, and takes an IPv4-mapped IPv6 address as the IPv4 address', () => {
    for (const address of ['1.2.3.4.5.6', '999.1.1.1', 'a:b', 'not-an-ip', '10.0.0.1/8', 'fe80::1%eth0', ''])
      expect(refusal({ address }), address).toMatch(/^SP_PRIVACY_REPORT_INVALID: .*address:/);
    const scope = (address: string) => parseReportRequest({ tenantId: 't', from: FROM, to: TO, address }).scope;
    expect(scope('::ffff:10.0.0.1')).toEqual({ kind: 'address', address: '10.0.0.1' });
    expect(scope('::FFFF:10.0.0.1')).toEqual({ kind: 'address', address: '10.0.0.1' });
    expect(scope('2001:DB8:0:0:0:0:0:1')).toEqual({ kind: 'address', address: '2001:db8::1' });
    expect(normaliseAddress('::ffff:a00:1')).toBe('10.0.0.1');
  });

  it("matches an entry logged with the IPv4-mapped form of the scope's address", () => {
    const e = (ip: string): ParsedEntry => ({
      v: 1,
      at: '2031-01-01T10:00:00.000Z',
      tenant: 't',
      actor: 'user:u1',
      action: 'patient.read',
      outcome: 'success',
      target: null,
      patient: 'ref',
      request: null,
      ip,
      details: null,
    });
    const scope = { kind: 'address' as const, value: '10.0.0.1' };
    const [from, to] = [Date.parse(FROM), Date.parse(TO)];
    expect(inScope(e('::ffff:10.0.0.1'), scope, 't', from, to)).toBe(true);
    expect(inScope(e('10.0.0.1'), scope, 't', from, to)).toBe(true);
    expect(inScope(e('10.0.0.10'), scope, 't', from, to)).toBe(false);
  });
});
