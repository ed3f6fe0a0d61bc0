import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SignJWT, base64url } from 'jose';
import { scopePermissions, signAccessToken, verifyAccessToken } from './access-tokens.js';

const KEY = randomBytes(32);
const ISSUER = 'https://sealpost.example';
const NOW = new Date('2026-03-01T12:00:00Z');
const CLAIMS = { clientId: 'c'.repeat(32), tenantId: 'default', scopes: ['system/Patient.rs'] };

describe('access tokens (HS256 JWT, RFC 9068 profile)', () => {
  it('verifies a token it signed until it expires, with its client, tenant and scopes', async () => {
    const t = await signAccessToken(KEY, CLAIMS, { issuer: ISSUER, lifetimeSeconds: 300, now: NOW });
    expect(t.expiresIn).toBe(300);
    expect(await verifyAccessToken(KEY, t.token, { issuer: ISSUER, now: new Date(NOW.getTime() + 299_000) })).toEqual({
      ...CLAIMS,
      jti: t.jti,
    });
    expect(
      await verifyAccessToken(KEY, t.token, { issuer: ISSUER, now: new Date(NOW.getTime() + 300_000) }),
    ).toBeNull();
  });

  it('refuses another key, another issuer, a changed payload and a changed algorithm', async () => {
    const { token } = await signAccessToken(KEY, CLAIMS, { issuer: ISSUER, lifetimeSeconds: 300, now: NOW });
    const opts = { issuer: ISSUER, now: NOW };
    expect(await verifyAccessToken(randomBytes(32), token, opts)).toBeNull();
    expect(await verifyAccessToken(KEY, token, { ...opts, issuer: 'https://other.example' })).toBeNull();
    const [h, p, s] = token.split('.') as [string, string, string];
    const widened = base64url.encode(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'system/*.cruds' }),
    );
    expect(await verifyAccessToken(KEY, `${h}.${widened}.${s}`, opts)).toBeNull();
    expect(await verifyAccessToken(KEY, `${base64url.encode('{"alg":"none","typ":"at+jwt"}')}.${p}.`, opts)).toBeNull();
    // Same key, same claims, another MAC algorithm: still refused (the algorithm is pinned).
    const hs512 = await new SignJWT(JSON.parse(Buffer.from(p, 'base64url').toString()))
      .setProtectedHeader({ alg: 'HS512', typ: 'at+jwt' })
      .sign(KEY);
    expect(await verifyAccessToken(KEY, hs512, opts)).toBeNull();
    // Without the at+jwt type (e.g. some other JWT MACed with the same key) it is not an access token.
    const untyped = await new SignJWT(JSON.parse(Buffer.from(p, 'base64url').toString()))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(KEY);
    expect(await verifyAccessToken(KEY, untyped, opts)).toBeNull();
  });

  it('grants the union of the permissions of its SMART scopes', () => {
    expect([...scopePermissions(['system/Patient.r', 'system/Communication.c'])].sort()).toEqual(
      [
        'notification.create.billing',
        'notification.create.clinical',
        'notification.create.scheduling',
        'patient.read',
      ].sort(),
    );
    expect(scopePermissions(['bogus']).size).toBe(0);
  });
});
