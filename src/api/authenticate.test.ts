import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { authorize, requireRoutePermission, type Authenticator } from './authenticate.js';
import { installErrorHandler } from './error-handler.js';
import { rolePermissions } from '../auth/permissions.js';
import type { Role } from '../core/domain.js';
import type { Principal, SessionStage } from '../auth/principal.js';
import './types.js';

function person(roles: Role[], stage: SessionStage = 'active'): Principal {
  return {
    kind: 'user',
    id: 'u1',
    tenantId: 't',
    actor: 'user:u1',
    roles,
    scopes: [],
    permissions: rolePermissions(roles),
    session: { id: 's', stage, amr: ['pwd'], transport: 'bearer', mfaAt: null },
  };
}

/** An authenticator that claims requests with `x-test-who` and answers the principal named there. */
function fixed(who: Record<string, Principal>): Authenticator {
  return {
    claims: (req: FastifyRequest) => typeof req.headers['x-test-who'] === 'string',
    authenticate: async (req) => who[req.headers['x-test-who'] as string] ?? 'SP_AUTH_UNAUTHENTICATED',
  };
}

async function server() {
  const app = Fastify();
  installErrorHandler(app);
  app.addHook('onRoute', requireRoutePermission);
  app.addHook(
    'onRequest',
    authorize([
      fixed({
        nurse: person(['nurse']),
        billing: person(['billing']),
        pending: person(['nurse'], 'mfa'),
        enrolling: person(['nurse'], 'mfa_enrol'),
      }),
    ]),
  );
  app.get('/open', { config: { permission: 'public' } }, async () => ({ ok: true }));
  app.get('/patient', { config: { permission: 'patient.read' } }, async () => ({ ok: true }));
  app.get(
    '/any-notice',
    { config: { permission: ['notification.create.clinical', 'notification.create.billing'] } },
    async () => ({ ok: true }),
  );
  app.get('/me', { config: { permission: 'authenticated', stages: ['mfa'] } }, async () => ({ ok: true }));
  await app.ready();
  return app;
}

describe('route authorization', () => {
  it('refuses to register a route that declares no permission', async () => {
    const app = Fastify();
    app.addHook('onRoute', requireRoutePermission);
    expect(() => app.get('/forgotten', async () => ({}))).toThrow(/declares no permission/);
    expect(() => app.get('/empty', { config: { permission: [] } }, async () => ({}))).toThrow(/declares no permission/);
  });

  it('answers 401 without credentials and lets public routes through', async () => {
    const app = await server();
    expect((await app.inject({ url: '/patient' })).json().code).toBe('SP_AUTH_UNAUTHENTICATED');
    expect((await app.inject({ url: '/patient', headers: { 'x-test-who': 'stranger' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/open' })).statusCode).toBe(200);
  });

  it('answers 403 when the role lacks the permission, and accepts any one of several', async () => {
    const app = await server();
    expect((await app.inject({ url: '/patient', headers: { 'x-test-who': 'nurse' } })).statusCode).toBe(200);
    const denied = await app.inject({ url: '/patient', headers: { 'x-test-who': 'billing' } });
    expect([denied.statusCode, denied.json().code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    expect((await app.inject({ url: '/any-notice', headers: { 'x-test-who': 'billing' } })).statusCode).toBe(200);
  });

  it('keeps a person whose sign-in lacks its second factor out of every route but those accepting that step', async () => {
    const app = await server();
    const r = await app.inject({ url: '/patient', headers: { 'x-test-who': 'pending' } });
    expect([r.statusCode, r.json().code]).toEqual([401, 'SP_AUTH_MFA_REQUIRED']);
    expect((await app.inject({ url: '/me', headers: { 'x-test-who': 'pending' } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/me', headers: { 'x-test-who': 'enrolling' } })).statusCode).toBe(401);
  });
});
