import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, base64url, type JWK } from 'jose';
import {
  AssertionError,
  publicJwks,
  readAssertionHead,
  selectAssertionKey,
  verifyClientAssertion,
} from './client-assertion.js';

const CLIENT = randomBytes(16).toString('hex');
const TOKEN_URL = 'https://sealpost.example/oauth2/token';
const NOW = new Date('2026-03-01T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);

async function pair(alg: 'RS384' | 'ES384', kid: string) {
  const k = await generateKeyPair(alg, { extractable: true });
  return {
    alg,
    kid,
    privateKey: k.privateKey,
    jwk: { ...(await exportJWK(k.publicKey)), kid } as JWK,
    privateJwk: { ...(await exportJWK(k.privateKey)), kid } as JWK,
  };
}

const sign = (k: Awaited<ReturnType<typeof pair>>, claims: Record<string, unknown> = {}) =>
  new SignJWT({ iss: CLIENT, sub: CLIENT, aud: TOKEN_URL, jti: 'j1', iat: T, exp: T + 120, ...claims })
    .setProtectedHeader({ alg: k.alg, kid: k.kid })
    .sign(k.privateKey);

async function reason(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return (e as AssertionError).reason;
  }
  return 'accepted';
}

describe('client assertions (RFC 7523, SMART Backend Services)', () => {
  it('reads alg, kid and the client id, refusing none, HS256, a missing kid and iss different from sub', async () => {
    const rsa = await pair('RS384', 'r1');
    expect(readAssertionHead(await sign(rsa))).toEqual({ alg: 'RS384', kid: 'r1', clientId: CLIENT });
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const body = enc({ iss: CLIENT, sub: CLIENT });
    expect(await reason(() => readAssertionHead(`${enc({ alg: 'none', kid: 'r1' })}.${body}.`))).toBe('alg');
    expect(await reason(() => readAssertionHead(`${enc({ alg: 'HS256', kid: 'r1' })}.${body}.c2ln`))).toBe('alg');
    expect(await reason(() => readAssertionHead(`${enc({ alg: 'RS384' })}.${body}.c2ln`))).toBe('kid');
    expect(
      await reason(() =>
        readAssertionHead(`${enc({ alg: 'RS384', kid: 'r1' })}.${enc({ iss: CLIENT, sub: 'x' })}.c2ln`),
      ),
    ).toBe('issuer');
    expect(await reason(() => readAssertionHead('garbage'))).toBe('malformed');
  });

  it('selects the key by kid only when its kty (and curve) fit the algorithm', async () => {
    const rsa = await pair('RS384', 'same');
    const ec = await pair('ES384', 'ec');
    const keys = [rsa.jwk, ec.jwk];
    expect(selectAssertionKey(keys, { alg: 'RS384', kid: 'same' })).toBe(rsa.jwk);
    expect(selectAssertionKey(keys, { alg: 'ES384', kid: 'same' })).toBeUndefined();
    expect(selectAssertionKey(keys, { alg: 'ES384', kid: 'ec' })).toBe(ec.jwk);
    expect(selectAssertionKey([{ ...ec.jwk, crv: 'P-256' }], { alg: 'ES384', kid: 'ec' })).toBeUndefined();
    expect(selectAssertionKey([{ ...rsa.jwk, use: 'enc' }], { alg: 'RS384', kid: 'same' })).toBeUndefined();
  });

  it('verifies signature, audience, expiry, lifetime and jti with 60 s of clock skew', async () => {
    const ec = await pair('ES384', 'e1');
    const opts = async (claims: Record<string, unknown> = {}) => {
      const jwt = await sign(ec, claims);
      return verifyClientAssertion(jwt, ec.jwk, { head: readAssertionHead(jwt), tokenUrl: TOKEN_URL, now: NOW });
    };
    expect(await opts()).toEqual({ jti: 'j1', exp: T + 120 });
    expect((await opts({ exp: T - 30 })).exp).toBe(T - 30); // within the skew
    expect(await reason(opts({ exp: T - 90 }))).toBe('expired');
    expect((await opts({ exp: T + 300 })).exp).toBe(T + 300);
    expect(await reason(opts({ exp: T + 361 }))).toBe('lifetime');
    expect(await reason(opts({ aud: 'https://sealpost.example/other' }))).toBe('audience');
    expect(await reason(opts({ aud: [TOKEN_URL, 'https://elsewhere'] }))).toBe('audience');
    expect(await reason(opts({ jti: undefined }))).toBe('claims');
    expect(await reason(opts({ jti: 'x'.repeat(201) }))).toBe('claims');
    expect(await reason(opts({ iat: T + 120 }))).toBe('claims');
    expect(await reason(opts({ nbf: T + 120 }))).toBe('claims');
    const other = await pair('ES384', 'e1');
    const forged = await sign(other);
    expect(
      await reason(
        verifyClientAssertion(forged, ec.jwk, { head: readAssertionHead(forged), tokenUrl: TOKEN_URL, now: NOW }),
      ),
    ).toBe('signature');
  });

  it('registers public RSA (>= 2048 bits) and P-384 keys only, keeping their public members', async () => {
    const rsa = await pair('RS384', 'r');
    const ec = await pair('ES384', 'e');
    const keys = await publicJwks({ keys: [{ ...rsa.jwk, alg: 'RS384', use: 'sig', x5c: ['ignored'] }, ec.jwk] });
    expect(keys).toEqual([
      { kty: 'RSA', kid: 'r', n: rsa.jwk.n, e: rsa.jwk.e, alg: 'RS384', use: 'sig' },
      { kty: 'EC', kid: 'e', crv: 'P-384', x: ec.jwk.x, y: ec.jwk.y },
    ]);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const refusals: unknown[] = [
      { keys: [rsa.privateJwk] },
      { keys: [ec.privateJwk] },
      { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] },
      { keys: [{ ...rsa.jwk, kid: undefined }] },
      { keys: [rsa.jwk, { ...rsa.jwk }] },
      { keys: [{ ...ec.jwk, alg: 'RS384' }] },
      { keys: [{ ...ec.jwk, crv: 'P-256' }] },
      { keys: [{ ...rsa.jwk, n: 'AQAB' }] },
      { keys: [{ ...small, kid: 'small' }] },
      { keys: [] },
      {},
    ];
    for (const r of refusals) await expect(publicJwks(r)).rejects.toThrow();
  });
});
