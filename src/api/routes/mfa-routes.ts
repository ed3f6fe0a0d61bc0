import type { FastifyContextConfig, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import QRCode from 'qrcode';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import { sendSession } from '../session-reply.js';
import { AppError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { SessionService } from '../../auth/session-service.js';
import type { MfaCaller, MfaService, SessionOutcome } from '../../auth/mfa-service.js';
import type { WebAuthnService } from '../../auth/webauthn-service.js';

export interface MfaRouteOptions {
  store: Store;
  sessions: SessionService;
  mfa: MfaService;
  webauthn: WebAuthnService;
}

/** Any short string: a malformed code is a wrong code (401, counted), never a validation error that skips the count. */
const Code = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const b64url = Type.String({ maxLength: 16_384, pattern: '^[A-Za-z0-9_-]*={0,2}$' });
/** A PublicKeyCredential as JSON (toJSON() / the login page's encoding); the library checks the rest. */
const Credential = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 1_366, pattern: '^[A-Za-z0-9_-]+$' }),
  rawId: Type.String({ minLength: 1, maxLength: 1_366, pattern: '^[A-Za-z0-9_-]+$' }),
  type: Type.Literal('public-key'),
  response: Type.Object(
    { clientDataJSON: b64url },
    {
      additionalProperties: Type.Union([
        b64url,
        Type.Array(Type.String({ maxLength: 20 }), { maxItems: 10 }),
        Type.Integer(),
        Type.Null(),
      ]),
    },
  ),
  clientExtensionResults: Type.Optional(Type.Object({})),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 40 })),
});
const Answer = Type.Object({
  stage: Type.Union([Type.Literal('active'), Type.Literal('mfa'), Type.Literal('mfa_enrol')]),
  token: Type.Optional(Type.String({ description: 'Bearer transport only, when the session was rotated' })),
  expiresAt: Type.String({ format: 'date-time' }),
  recoveryCodes: Type.Optional(Type.Array(Type.String(), { description: 'Shown once; each works once' })),
  recoveryCodesRemaining: Type.Optional(Type.Integer()),
});
const Options = Type.Object(
  {},
  {
    additionalProperties: true,
    description: 'PublicKeyCredentialCreationOptionsJSON / PublicKeyCredentialRequestOptionsJSON',
  },
);
const FRESH_MFA_MS = 10 * 60_000;
const ENROL = (): FastifyContextConfig => ({ permission: 'authenticated', stages: ['mfa_enrol'] });
const SIGN_IN = (): FastifyContextConfig => ({ permission: 'authenticated', stages: ['mfa'] });

/** Second factors of staff: TOTP and recovery codes (/v1/auth/mfa), WebAuthn (/v1/auth/webauthn). */
export const mfaRoutes: RoutePlugin<MfaRouteOptions> = async (app, d) => {
  const caller = (req: FastifyRequest): MfaCaller => {
    const p = req.principal!;
    if (p.kind !== 'user' || !p.session)
      throw new AppError('SP_AUTH_FORBIDDEN', "only a staff member's session has second factors");
    return { ctx: requestContext(req), userId: p.id, sessionId: p.session.id };
  };
  const reply = (r: FastifyReply, s: SessionOutcome, extra: Record<string, unknown> = {}) =>
    s.token
      ? {
          ...sendSession(r, d.sessions, {
            token: s.token,
            expiresAt: s.expiresAt,
            transport: s.transport,
            stage: s.stage,
          }),
          ...extra,
        }
      : { stage: s.stage, expiresAt: s.expiresAt.toISOString(), ...extra };
  const tags = ['auth'];
  /**
   * Changing factors from an already signed-in session needs a second factor passed in the last
   * minutes: a stolen session must not swap the seed or add its own key (ASVS 6.3.x re-authentication).
   * A session still enrolling its first factor has none to show and passes.
   */
  const freshMfa = async (req: FastifyRequest) => {
    const s = req.principal?.session;
    if (s?.stage === 'active' && (s.mfaAt == null || d.mfa.clock().getTime() - s.mfaAt > FRESH_MFA_MS))
      throw new AppError('SP_AUTH_MFA_STALE');
  };

  app.get(
    '/mfa',
    {
      config: { permission: 'authenticated', stages: ['mfa', 'mfa_enrol'] },
      schema: {
        tags,
        summary: "The caller's enrolled second factors and unused recovery codes (no secrets)",
        response: {
          200: Type.Object({
            displayName: Type.String(),
            totp: Type.Boolean(),
            webauthn: Type.Boolean(),
            recoveryCodesRemaining: Type.Integer(),
          }),
          ...problems(401, 403),
        },
      },
    },
    async (req) => {
      const c = caller(req);
      const f = await d.mfa.hasFactor(d.store.read, c.ctx.tenantId, c.userId);
      const label = await d.store.read.mfa.userLabel(c.ctx.tenantId, c.userId);
      return {
        displayName: label?.display_name ?? '',
        ...f,
        recoveryCodesRemaining: await d.store.read.mfa.unusedRecoveryCodes(c.ctx.tenantId, c.userId),
      };
    },
  );

  app.post(
    '/mfa/totp/setup',
    {
      config: ENROL(),
      preHandler: freshMfa,
      schema: {
        tags,
        summary:
          'Start enrolling an authenticator app: a new TOTP seed (base32), its otpauth:// URI and that URI as a QR code (SVG)',
        description:
          'Stage `mfa_enrol`, or an `active` session re-enrolling. The seed waits (encrypted, 10 minutes) for a first code at `/totp/confirm`; an earlier confirmed seed keeps working until then.',
        response: {
          200: Type.Object({ secret: Type.String(), otpauthUri: Type.String(), qrSvg: Type.String() }),
          ...problems(401, 403),
        },
      },
    },
    async (req) => {
      const s = await d.mfa.startTotp(caller(req));
      // Rendered here, so the sign-in page shows it without a script library of its own; four modules of quiet zone.
      return {
        ...s,
        qrSvg: await QRCode.toString(s.otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 }),
      };
    },
  );

  app.post(
    '/mfa/totp/confirm',
    {
      config: ENROL(),
      preHandler: freshMfa,
      schema: {
        tags,
        summary: 'Confirm the authenticator app with its first code; a `mfa_enrol` session becomes `active`',
        description:
          'Answers the (rotated) session and, for a first factor, 10 recovery codes shown once. A wrong code is 401 SP_AUTH_MFA_FAILED (counted; 5 in a session revoke it).',
        body: Code,
        response: { 200: Answer, ...problems(400, 401, 403) },
      },
    },
    async (req, r) => {
      const out = await d.mfa.confirmTotp(caller(req), req.body.code);
      return reply(r, out.session, out.recoveryCodes ? { recoveryCodes: out.recoveryCodes } : {});
    },
  );

  app.post(
    '/mfa/totp/verify',
    {
      config: SIGN_IN(),
      schema: {
        tags,
        summary: 'Second step of sign-in with a TOTP code: `mfa` → `active` (new session token)',
        body: Code,
        response: { 200: Answer, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, r) => reply(r, await d.mfa.verifyTotpSignIn(caller(req), req.body.code)),
  );

  app.post(
    '/mfa/recovery',
    {
      config: SIGN_IN(),
      schema: {
        tags,
        summary: 'Second step of sign-in with a recovery code (used up): `mfa` → `active`; says how many remain',
        body: Code,
        response: { 200: Answer, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, r) => {
      const out = await d.mfa.useRecoveryCode(caller(req), req.body.code);
      return reply(r, out.session, { recoveryCodesRemaining: out.remaining });
    },
  );

  app.post(
    '/mfa/recovery-codes',
    {
      config: { permission: 'authenticated' },
      preHandler: freshMfa,
      schema: {
        tags,
        summary: 'New recovery codes (every earlier one stops working); shown once',
        response: { 200: Type.Object({ recoveryCodes: Type.Array(Type.String()) }), ...problems(401, 403, 409) },
      },
    },
    async (req) => ({ recoveryCodes: await d.mfa.regenerateRecoveryCodes(caller(req)) }),
  );

  app.post(
    '/webauthn/register/options',
    {
      config: ENROL(),
      preHandler: freshMfa,
      schema: {
        tags,
        summary: 'Options for navigator.credentials.create() (challenge single-use, 5 minutes)',
        response: { 200: Options, ...problems(401, 403) },
      },
    },
    async (req) => d.webauthn.registrationOptions(caller(req)),
  );

  app.post(
    '/webauthn/register/verify',
    {
      config: ENROL(),
      preHandler: freshMfa,
      schema: {
        tags,
        summary: 'Register a security key or passkey; a `mfa_enrol` session becomes `active`',
        description:
          'Answers the (rotated) session and, for a first factor, 10 recovery codes shown once. A refused credential is 401 SP_AUTH_WEBAUTHN_FAILED.',
        body: Type.Object(
          {
            credential: Credential,
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 60, pattern: '^[\\x20-\\x7E]+$' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Answer, ...problems(400, 401, 403) },
      },
    },
    async (req, r) => {
      const out = await d.webauthn.register(
        caller(req),
        { clientExtensionResults: {}, ...req.body.credential } as unknown as RegistrationResponseJSON,
        req.body.name ?? 'Security key',
      );
      return reply(r, out.session, out.recoveryCodes ? { recoveryCodes: out.recoveryCodes } : {});
    },
  );

  app.post(
    '/webauthn/login/options',
    {
      config: SIGN_IN(),
      schema: {
        tags,
        summary: 'Options for navigator.credentials.get() during sign-in (challenge single-use, 5 minutes)',
        response: { 200: Options, ...problems(401, 403, 409) },
      },
    },
    async (req) => d.webauthn.authenticationOptions(caller(req)),
  );

  app.post(
    '/webauthn/login/verify',
    {
      config: SIGN_IN(),
      schema: {
        tags,
        summary: 'Second step of sign-in with a security key or passkey: `mfa` → `active` (new session token)',
        body: Type.Object({ credential: Credential }, { additionalProperties: false }),
        response: { 200: Answer, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, r) =>
      reply(
        r,
        await d.webauthn.authenticate(caller(req), {
          clientExtensionResults: {},
          ...req.body.credential,
        } as unknown as AuthenticationResponseJSON),
      ),
  );
};
