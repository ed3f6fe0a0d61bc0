import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK } from 'jose';

/**
 * Client authentication of SMART Backend Services: a JWT the client signs with its private key
 * (`private_key_jwt`, RFC 7523 §2.2 and §3; SMART App Launch v2 "Backend Services"). This file holds
 * the pure checks; oauth-client-service.ts finds the client, its keys and records the `jti`.
 */

/** Signature algorithms accepted on client assertions (SMART requires RS384 and ES384). Never `none`, never HS*. */
export const ASSERTION_ALGS = ['RS384', 'ES384'] as const;
export type AssertionAlg = (typeof ASSERTION_ALGS)[number];

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Longest accepted assertion lifetime (SMART: `exp` no more than five minutes in the future). */
export const MAX_ASSERTION_SECONDS = 300;
/** Clock difference tolerated between client and server. */
export const CLOCK_SKEW_SECONDS = 60;

/** Client ids are ours (hex); anything else in `iss` is never looked up nor written to the audit log. */
export const CLIENT_ID_PATTERN = /^[0-9a-f]{32}$/;

/** Why an assertion was refused: for the audit record only; the caller hears `invalid_client`. */
export type AssertionFailure =
  'malformed' | 'alg' | 'kid' | 'issuer' | 'signature' | 'audience' | 'expired' | 'lifetime' | 'claims';

export class AssertionError extends Error {
  constructor(readonly reason: AssertionFailure) {
    super(`client assertion refused: ${reason}`);
  }
}

/** What an unverified assertion claims to be: enough to find the client and its key, nothing trusted. */
export interface AssertionHead {
  alg: AssertionAlg;
  kid: string;
  /** `iss`, equal to `sub` (checked), shaped like a client id (checked). */
  clientId: string;
}

/**
 * The client an unverified assertion names (`iss`), when it is shaped like a client id; null
 * otherwise. Only to find the client (and put it on the audit record of a refusal), never trusted.
 */
export function assertionIssuer(jwt: string): string | null {
  try {
    const iss = decodeJwt(jwt).iss;
    return typeof iss === 'string' && CLIENT_ID_PATTERN.test(iss) ? iss : null;
  } catch {
    return null;
  }
}

/** Reads header and issuer of an unverified assertion; throws AssertionError when they cannot be right. */
export function readAssertionHead(jwt: string): AssertionHead {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(jwt);
    payload = decodeJwt(jwt);
  } catch {
    throw new AssertionError('malformed');
  }
  // The allow-list is the defence against `none` and against HS* keyed with a public key (RFC 8725 §3.1).
  if (!(ASSERTION_ALGS as readonly string[]).includes(header.alg ?? '')) throw new AssertionError('alg');
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 200)
    throw new AssertionError('kid');
  if (typeof payload.iss !== 'string' || !CLIENT_ID_PATTERN.test(payload.iss)) throw new AssertionError('issuer');
  if (payload.sub !== payload.iss) throw new AssertionError('issuer');
  return { alg: header.alg as AssertionAlg, kid: header.kid, clientId: payload.iss };
}

/** The key type (and curve) each algorithm must be used with (RFC 7518 §3.3, §3.4). */
function fitsAlg(jwk: JWK, alg: AssertionAlg): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  return alg === 'RS384' ? jwk.kty === 'RSA' : jwk.kty === 'EC' && jwk.crv === 'P-384';
}

/** The key of `keys` named by `kid` that fits `alg`; undefined when none does (kty/alg mismatch included). */
export function selectAssertionKey(keys: readonly JWK[], head: Pick<AssertionHead, 'alg' | 'kid'>): JWK | undefined {
  return keys.find((k) => k.kid === head.kid && fitsAlg(k, head.alg));
}

export interface VerifiedAssertion {
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
}

/**
 * Verifies signature and claims: `iss` = `sub` = client id, `aud` = the token URL exactly, `exp`
 * present, not past and at most five minutes ahead, `jti` present, `nbf`/`iat` not in the future
 * (each with CLOCK_SKEW_SECONDS of tolerance). The `jti` is not checked against earlier ones here.
 */
export async function verifyClientAssertion(
  jwt: string,
  key: JWK,
  opts: { head: AssertionHead; tokenUrl: string; now: Date },
): Promise<VerifiedAssertion> {
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    const publicKey = await importJWK(key, opts.head.alg);
    ({ payload } = await jwtVerify(jwt, publicKey, {
      algorithms: [opts.head.alg],
      issuer: opts.head.clientId,
      subject: opts.head.clientId,
      audience: opts.tokenUrl,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: opts.now,
    }));
  } catch (e) {
    throw new AssertionError(failureOf(e));
  }
  // One audience, the token URL itself: an assertion minted for several servers is refused.
  const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud;
  if (aud !== opts.tokenUrl) throw new AssertionError('audience');
  const now = Math.floor(opts.now.getTime() / 1000);
  if (typeof payload.exp !== 'number' || payload.exp > now + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS)
    throw new AssertionError('lifetime');
  if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) throw new AssertionError('claims');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 200)
    throw new AssertionError('claims');
  return { jti: payload.jti, exp: payload.exp };
}

function failureOf(e: unknown): AssertionFailure {
  if (e instanceof errors.JWTExpired) return 'expired';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'signature';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'alg';
  if (e instanceof errors.JWTClaimValidationFailed)
    return e.claim === 'aud' ? 'audience' : e.claim === 'iss' || e.claim === 'sub' ? 'issuer' : 'claims';
  if (e instanceof errors.JWKInvalid || e instanceof errors.JOSENotSupported) return 'kid';
  return 'malformed';
}

// --- registration -------------------------------------------------------------------------------

/** Members that only a private (or symmetric) JWK has (RFC 7517 §9.3, RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * Checks one JWK a client registers (or publishes at its JWKS URL) and returns its public members
 * only; throws with a PHI-free reason. RSA keys of at least 2048 bits, EC keys on P-384, a `kid`,
 * no private or symmetric key material.
 */
export async function publicVerificationKey(raw: unknown): Promise<JWK> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('a key is not a JSON object');
  const k = raw as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in k))
    throw new Error('a key holds private or symmetric key material; register public keys only');
  if (typeof k.kid !== 'string' || k.kid.length === 0 || k.kid.length > 200)
    throw new Error('every key needs a kid (1-200 characters)');
  if (k.use !== undefined && k.use !== 'sig') throw new Error('key use must be "sig"');
  if (k.alg !== undefined && !(ASSERTION_ALGS as readonly unknown[]).includes(k.alg))
    throw new Error(`key alg must be one of ${ASSERTION_ALGS.join(', ')}`);
  let jwk: JWK;
  if (k.kty === 'RSA' && typeof k.n === 'string' && typeof k.e === 'string') {
    if (Buffer.from(k.n, 'base64url').length * 8 < 2048) throw new Error('RSA keys need at least 2048 bits');
    jwk = { kty: 'RSA', n: k.n, e: k.e };
  } else if (k.kty === 'EC' && k.crv === 'P-384' && typeof k.x === 'string' && typeof k.y === 'string') {
    jwk = { kty: 'EC', crv: 'P-384', x: k.x, y: k.y };
  } else throw new Error('keys must be RSA (n, e) or EC on P-384 (x, y)');
  jwk.kid = k.kid;
  if (k.alg !== undefined) jwk.alg = k.alg as string;
  if (k.use !== undefined) jwk.use = 'sig';
  if (k.alg !== undefined && !fitsAlg(jwk, k.alg as AssertionAlg)) throw new Error('key alg does not match its kty');
  try {
    await importJWK(jwk, jwk.kty === 'RSA' ? 'RS384' : 'ES384');
  } catch {
    throw new Error('a key does not parse');
  }
  return jwk;
}

/** Checks a whole registered JWKS: 1-10 valid public keys with distinct `kid`s. */
export async function publicJwks(raw: unknown): Promise<JWK[]> {
  const keys = (raw as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10)
    throw new Error('jwks.keys must hold 1 to 10 keys');
  const out: JWK[] = [];
  for (const k of keys) out.push(await publicVerificationKey(k));
  if (new Set(out.map((k) => k.kid)).size !== out.length) throw new Error('every kid must be distinct');
  return out;
}
