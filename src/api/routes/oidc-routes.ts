import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { sendSession } from '../session-reply.js';
import { SESSION_COOKIE, type SessionService } from '../../auth/session-service.js';
import { AFTER_SSO, type OidcService } from '../../auth/oidc-service.js';
import { DEFAULT_TENANT } from '../../core/domain.js';

/**
 * Binds a pending sign-in to the browser that started it. SameSite=Lax, not Strict: the callback is
 * a top-level navigation coming back from the identity provider's site, on which a Strict cookie
 * would not be sent. `__Host-`: Secure, path `/`, no Domain, so no sibling host can plant one.
 */
export const OIDC_STATE_COOKIE = '__Host-sealpost_oidc';
const STATE_COOKIE_OPTIONS = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' as const };

export interface OidcRouteOptions {
  oidc: OidcService;
  sessions: SessionService;
}

/** OIDC single sign-on for staff (a browser flow: cookie sessions only). */
export const oidcRoutes: RoutePlugin<OidcRouteOptions> = async (app, { oidc, sessions }) => {
  app.addHook('onClose', async () => oidc.close());
  app.get(
    '/start',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Start single sign-on at the identity provider (browser flow)',
        description:
          'Redirects (302) to the identity provider with an authorization-code request (PKCE S256, state, nonce) and sets a short-lived cookie binding the request to this browser. ' +
          'The pending request expires after 10 minutes and can be completed once.',
        querystring: Type.Object(
          {
            tenant: Type.String({ pattern: '^[a-z0-9-]{1,64}$', default: DEFAULT_TENANT }),
            transport: Type.Union([Type.Literal('cookie')], {
              default: 'cookie',
              description: 'Single sign-on is a browser flow: cookie sessions only',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 302: Type.Null(), ...problems(400, 401, 502) },
      },
    },
    async (req, reply) => {
      const { location, state } = await oidc.start(req.query.tenant ?? DEFAULT_TENANT);
      reply.setCookie(OIDC_STATE_COOKIE, state, { ...STATE_COOKIE_OPTIONS, maxAge: 600 });
      return reply.redirect(location, 302);
    },
  );

  app.get(
    '/callback',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Finish single sign-on (the identity provider redirects here)',
        description:
          'Checks the state against this browser, exchanges the code (with the PKCE verifier), validates the ID token, maps the groups to roles, ' +
          'finds, links or creates the user and starts a cookie session (stage `active` when the identity provider asserted MFA, else `mfa` or `mfa_enrol`). ' +
          "Answers 303 to `/login`, which continues at the session's stage (Sealpost's own second factor when still due).",
        // The provider adds its own parameters (iss, session_state…); the raw query is what is checked.
        querystring: Type.Object({}, { additionalProperties: Type.String({ maxLength: 4096 }) }),
        response: { 303: Type.Null(), ...problems(401, 403, 502) },
      },
    },
    async (req, reply) => {
      const raw = req.raw.url ?? '';
      const query = raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '';
      const bound = req.cookies[OIDC_STATE_COOKIE];
      // Whatever happens, this pending request is over for this browser.
      reply.clearCookie(OIDC_STATE_COOKIE, STATE_COOKIE_OPTIONS);
      const s = await oidc.finish(query, bound, req.cookies[SESSION_COOKIE], { requestId: req.id, sourceIp: req.ip });
      sendSession(reply, sessions, { token: s.token, expiresAt: s.expiresAt, transport: 'cookie', stage: s.stage });
      return reply.redirect(s.stage === 'active' ? AFTER_SSO.active : AFTER_SSO.pending, 303);
    },
  );
};
