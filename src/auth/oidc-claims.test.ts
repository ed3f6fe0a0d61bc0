import { describe, expect, it } from 'vitest';
import { idTokenIdentity, idpAssertsMfa, rolesForGroups } from './oidc-claims.js';

describe('OIDC claims', () => {
  it('takes the provider\'s MFA from amr "mfa", or a possession factor with a knowledge or inherence factor (RFC 8176)', () => {
    for (const amr of [
      ['mfa'],
      ['pwd', 'mfa'],
      ['pwd', 'otp'],
      ['hwk', 'pin'],
      ['swk', 'fpt'],
      ['sc', 'pin'],
      ['face', 'hwk'],
    ])
      expect(idpAssertsMfa(amr), amr.join('+')).toBe(true);
    for (const amr of [
      [],
      ['pwd'],
      ['otp'],
      ['hwk'],
      ['pwd', 'sms'],
      ['pwd', 'tel'],
      ['pwd', 'kba'],
      ['fpt', 'face'],
      ['user', 'pop'],
    ])
      expect(idpAssertsMfa(amr), amr.join('+')).toBe(false);
  });

  it('maps groups to roles through own keys only, in role-list order, without duplicates', () => {
    const mapping = Object.assign(Object.create(null) as Record<string, string[]>, {
      'ward-rn': ['nurse'],
      'it-admins': ['admin', 'nurse'],
      'cn=billing,ou=groups': ['billing'],
    });
    expect(rolesForGroups(['ward-rn', 'it-admins', 'cn=billing,ou=groups'], mapping)).toEqual([
      'admin',
      'nurse',
      'billing',
    ]);
    expect(rolesForGroups(['constructor', '__proto__', 'toString', 'unknown'], mapping)).toEqual([]);
    expect(rolesForGroups(['constructor', 'hasOwnProperty'], { nurses: ['nurse'] })).toEqual([]);
  });

  it('reads the identity from the ID token first and userinfo second, dropping values it cannot trust', () => {
    const id = idTokenIdentity(
      { sub: 'abc', amr: ['pwd', 'mfa', 'pwd', 'magic', 7], email: 'Ana@Clinic.example', roles: 'single-group' },
      { email: 'other@clinic.example', email_verified: false, name: 'Ana', roles: ['ignored'] },
      'roles',
    );
    expect(id).toEqual({
      sub: 'abc',
      email: 'Ana@Clinic.example',
      emailVerified: false,
      name: 'Ana',
      groups: ['single-group'],
      amr: ['pwd', 'mfa'],
    });
    const bad = idTokenIdentity(
      { sub: 'x', email: 'not an address', groups: [1, '', 'ok', 'g'.repeat(600)], name: 'n'.repeat(201) },
      {},
      'groups',
    );
    expect(bad).toEqual({ sub: 'x', email: null, emailVerified: null, name: null, groups: ['ok'], amr: [] });
  });
});
