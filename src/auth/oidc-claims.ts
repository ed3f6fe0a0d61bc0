import { STAFF_ROLES } from '../core/domain.js';

/** What Sealpost takes from an identity provider's claims (ID token, then userinfo). */
export interface SsoIdentity {
  sub: string;
  email: string | null;
  /** `false` only when the provider says so; many enterprise providers send nothing. */
  emailVerified: boolean | null;
  name: string | null;
  groups: string[];
  /** RFC 8176 values from the ID token, unknown values dropped. */
  amr: string[];
}

/** The RFC 8176 §2 registry of authentication method reference values. */
const AMR_VALUES = new Set([
  'face',
  'fpt',
  'geo',
  'hwk',
  'iris',
  'kba',
  'mca',
  'mfa',
  'otp',
  'pin',
  'pop',
  'pwd',
  'rba',
  'retina',
  'sc',
  'sms',
  'swk',
  'tel',
  'user',
  'vbm',
  'wia',
]);
/** Something you have, with a key or a generator (SMS and telephone are not counted: NIST SP 800-63B §5.1.3.3 restricts them). */
const POSSESSION = new Set(['hwk', 'swk', 'otp', 'sc']);
/** Something you know or are. */
const KNOWLEDGE_OR_INHERENCE = new Set(['pwd', 'pin', 'kba', 'fpt', 'face', 'iris', 'retina', 'vbm']);

/**
 * Whether the provider's `amr` (RFC 8176) asserts multi-factor authentication: it says `mfa`, or
 * it names a possession factor (`hwk`, `swk`, `otp`, `sc`) together with a knowledge or inherence
 * factor (`pwd`, `pin`, `kba`, `fpt`, `face`, `iris`, `retina`, `vbm`). Anything else (a password
 * alone, a password and an SMS code) leaves Sealpost's own second factor due.
 */
export function idpAssertsMfa(amr: readonly string[]): boolean {
  if (amr.includes('mfa')) return true;
  return amr.some((a) => POSSESSION.has(a)) && amr.some((a) => KNOWLEDGE_OR_INHERENCE.has(a));
}

/**
 * Sealpost roles granted by the provider's groups (`SEALPOST_OIDC_GROUP_ROLES`), in the order of
 * the role list; own keys only (a group called `constructor` maps to nothing). Empty: no access.
 */
export function rolesForGroups(
  groups: readonly string[],
  mapping: Readonly<Record<string, readonly string[]>>,
): string[] {
  const out = new Set<string>();
  for (const g of groups) if (Object.hasOwn(mapping, g)) for (const r of mapping[g]!) out.add(r);
  return STAFF_ROLES.filter((r) => out.has(r));
}

const str = (v: unknown, max: number): string | null =>
  typeof v === 'string' && v.length > 0 && v.length <= max ? v : null;

/**
 * The identity from validated ID-token claims, completed by the userinfo answer (already checked to
 * be about the same `sub`) for what the ID token lacks. Groups may be an array or a single string;
 * oversized or non-string values are dropped, never trusted.
 */
export function idTokenIdentity(
  idToken: Record<string, unknown>,
  userinfo: Record<string, unknown>,
  groupsClaim: string,
): SsoIdentity {
  const pick = (k: string) => (idToken[k] !== undefined ? idToken[k] : userinfo[k]);
  const email = str(pick('email'), 254);
  const rawGroups = pick(groupsClaim);
  const groups = (Array.isArray(rawGroups) ? rawGroups : [rawGroups])
    .filter((g): g is string => typeof g === 'string' && g.length > 0 && g.length <= 512)
    .slice(0, 1000);
  const rawAmr = Array.isArray(idToken.amr) ? idToken.amr : [];
  const verified = pick('email_verified');
  return {
    sub: String(idToken.sub),
    email: email && /^[^\s@]+@[^\s@]+$/.test(email) ? email : null,
    emailVerified: typeof verified === 'boolean' ? verified : null,
    name: str(pick('name'), 200),
    groups,
    amr: [...new Set(rawAmr.filter((a): a is string => typeof a === 'string' && AMR_VALUES.has(a)))],
  };
}
