import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { SESSION_COOKIE, type SessionService } from '../auth/session-service.js';
import type { SessionStage } from '../auth/principal.js';

/** What sign-in steps answer: the session's stage and, for apps (bearer transport), its token. */
export const SessionAnswer = Type.Object({
  stage: Type.Union([Type.Literal('active'), Type.Literal('mfa'), Type.Literal('mfa_enrol')]),
  /** Bearer transport only; cookie sessions get the token in an HttpOnly cookie and never in a body. */
  token: Type.Optional(Type.String()),
  expiresAt: Type.String({ format: 'date-time' }),
  /** Second factors the user can use now (stage `mfa`) or enrol (stage `mfa_enrol`). */
  methods: Type.Optional(Type.Array(Type.String())),
});

/**
 * Hands a new (or rotated) session to the client: a `__Host-` cookie (HttpOnly, Secure,
 * SameSite=Strict) for the web, the token in the body for apps. Never both: a token readable by
 * page script would undo HttpOnly.
 */
export function sendSession(
  reply: FastifyReply,
  sessions: SessionService,
  s: { token: string; expiresAt: Date; transport: 'cookie' | 'bearer'; stage: SessionStage; methods?: string[] },
) {
  const body = { stage: s.stage, expiresAt: s.expiresAt.toISOString(), ...(s.methods ? { methods: s.methods } : {}) };
  if (s.transport === 'cookie') {
    reply.setCookie(SESSION_COOKIE, s.token, sessions.cookieOptions(s.expiresAt));
    return body;
  }
  return { ...body, token: s.token };
}

/** Clears the web session cookie (sign-out, revoked session). */
export function clearSessionCookie(reply: FastifyReply, sessions: SessionService): void {
  reply.clearCookie(SESSION_COOKIE, { ...sessions.cookieOptions(new Date(0)) });
}
