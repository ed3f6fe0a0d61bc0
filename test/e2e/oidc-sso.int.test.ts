import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { idpPki, startOidcProvider, type IdpUser, type TestIdp } from '../helpers/oidc-provider.js';
import { staffWithSession } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';

interface Res {
  status: number;
  location: string | null;
  body: string;
  json: any;
}

/**
 * A minimal browser: one cookie jar per origin (as a browser keeps `__Host-` cookies), manual
 * redirects so each hop can be inspected, TLS trusting the test certificate both servers use.
 */
class Browser {
  private readonly jar = new Map<string, Map<string, string>>();
  constructor(private readonly ca: string) {}

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(origin)?.get(name);
  }

  setCookie(origin: string, name: string, value: string): void {
    if (!this.jar.has(origin)) this.jar.set(origin, new Map());
    this.jar.get(origin)!.set(name, value);
  }

  request(method: string, url: string, form?: Record<string, string>): Promise<Res> {
    const u = new URL(url);
    const cookies = [...(this.jar.get(u.origin) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const headers: Record<string, string> = {
      ...(cookies ? { cookie: cookies } : {}),
      ...(body ? { 'content-type': 'application/x-www-form-urlencoded', origin: u.origin } : {}),
    };
    return new Promise((resolve, reject) => {
      // The browser trusts Sealpost's certificate and the identity provider's test CA.
      const req = httpsRequest(u, { method, headers, ca: [this.ca, IDP_CA] }, (res) => {
        for (const c of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
          const [pair, ...attrs] = c.split(';');
          const i = pair!.indexOf('=');
          const name = pair!.slice(0, i).trim();
          const value = pair!.slice(i + 1).trim();
          const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0\s*$/i.test(a));
          if (!this.jar.has(u.origin)) this.jar.set(u.origin, new Map());
          if (expired || value === '') this.jar.get(u.origin)!.delete(name);
          else this.jar.get(u.origin)!.set(name, value);
        }
        const chunks: Buffer[] = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const loc = res.headers.location;
          resolve({ status: res.statusCode ?? 0, location: loc ? new URL(loc, url).href : null, body: text, json });
        });
      });
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  }
}

/** What one sign-in went through, hop by hop. */
interface Flow {
  browser: Browser;
  authorizeUrl: URL;
  callbackUrl: string;
  callback: Res;
  session: string | undefined;
}

const IDP_CA = (await idpPki()).ca.cert;
let idp: TestIdp;
let h: Harness;
const callbackPath = '/v1/auth/oidc/callback';

/** Signs `user` in through the identity provider's form up to (not including) Sealpost's callback. */
async function toCallback(
  user: IdpUser,
  browser = new Browser(h.cert),
  tenant?: string,
): Promise<{ browser: Browser; authorizeUrl: URL; callbackUrl: string }> {
  const start = await browser.request('GET', `${h.url}/v1/auth/oidc/start${tenant ? `?tenant=${tenant}` : ''}`);
  expect(start.status).toBe(302);
  const authorizeUrl = new URL(start.location!);
  let next = await browser.request('GET', authorizeUrl.href);
  for (let hops = 0; hops < 10; hops++) {
    if (next.location?.startsWith(`${h.url}${callbackPath}`))
      return { browser, authorizeUrl, callbackUrl: next.location };
    if (next.status === 200 && next.body.includes('<form')) {
      const action = /action="([^"]+)"/.exec(next.body)![1]!;
      next = await browser.request('POST', new URL(action, idp.issuer).href, {
        login: user.sub,
        password: user.password,
      });
      continue;
    }
    expect(next.status, next.body).toBeGreaterThanOrEqual(300);
    next = await browser.request('GET', next.location!);
  }
  throw new Error('the identity provider never redirected back');
}

async function signIn(user: IdpUser, tenant?: string): Promise<Flow> {
  const f = await toCallback(user, undefined, tenant);
  const callback = await f.browser.request('GET', f.callbackUrl);
  return { ...f, callback, session: f.browser.cookie(h.url, '__Host-sealpost_session') };
}

const withCookie = (session: string | undefined) => ({
  authorization: '',
  cookie: `__Host-sealpost_session=${session}`,
});

function person(over: Partial<IdpUser> & { sub: string }): IdpUser {
  const u: IdpUser = {
    password: `pw-${over.sub}`,
    email: `${over.sub}@clinic.test`,
    name: `Dr ${over.sub}`,
    groups: [],
    amr: ['pwd'],
    ...over,
  };
  idp.users.set(u.sub, u);
  return u;
}

async function userRow(email: string) {
  return h.app.store.read.users.byEmail('default', email);
}

async function auditActions(
  since: number,
): Promise<
  { action: string; outcome: string; details: Record<string, unknown> | null; target: { id: string } | null }[]
> {
  const rows = await h.app.store.read.auditLog.entries(since, 10_000);
  return rows.map((r: { entry: string }) => JSON.parse(r.entry));
}

describe('OIDC single sign-on for staff against a real OpenID provider', () => {
  beforeAll(async () => {
    idp = await startOidcProvider();
    h = await startSealpost({
      SEALPOST_OIDC_ISSUER: idp.issuer,
      SEALPOST_OIDC_CLIENT_ID: idp.clientId,
      SEALPOST_OIDC_CLIENT_SECRET: idp.clientSecret!,
      SEALPOST_OIDC_GROUP_ROLES: 'cardiology-md=physician;ward-rn=nurse;it-admins=admin',
      // Certificates verified: the provider's test CA is trusted through the extra-CA setting.
      SEALPOST_OUTBOUND_CA_FILE: idp.caFile,
    });
    idp.redirectUris.push(`${h.url}${callbackPath}`);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await idp?.close();
  }, 120_000);

  it('sends PKCE (S256), state and nonce in the authorization request, with the registered redirect URI', async () => {
    const f = await toCallback(person({ sub: 'pkce-check', groups: ['ward-rn'] }));
    const q = f.authorizeUrl.searchParams;
    expect(f.authorizeUrl.origin).toBe(idp.issuer);
    expect(q.get('response_type')).toBe('code');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(q.get('redirect_uri')).toBe(`${h.url}${callbackPath}`);
    expect(q.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['openid', 'email', 'profile', 'groups']));
    // The state is bound to this browser by a cookie; the verifier never leaves the server.
    expect(f.browser.cookie(h.url, '__Host-sealpost_oidc')).toBe(q.get('state'));
    expect(f.authorizeUrl.href).not.toContain('code_verifier');
  });

  it('signs in a person of a mapped group whose provider asserts MFA (amr pwd+mfa): user created just in time, session active, their routes work', async () => {
    const since = await h.app.store.read.auditLog.size();
    const u = person({ sub: 'admin-ana', groups: ['it-admins', 'unmapped-group'], amr: ['pwd', 'mfa'] });
    const f = await signIn(u);
    expect(f.callback.status).toBe(303);
    expect(f.callback.location).toBe(`${h.url}/login`);
    expect(f.session).toMatch(/^sps_/);
    // The pending request is over: its cookie is cleared.
    expect(f.browser.cookie(h.url, '__Host-sealpost_oidc')).toBeUndefined();

    const row = (await userRow(u.email!))!;
    expect(row).toMatchObject({
      status: 'active',
      password_hash: null,
      roles: 'admin',
      sso_issuer: idp.issuer,
      sso_subject: 'admin-ana',
      display_name: 'Dr admin-ana',
    });
    const keys = await h.request('GET', '/v1/api-keys', undefined, withCookie(f.session));
    expect(keys.status).toBe(200);
    const [session] = query<{ stage: string; amr: string; transport: string; mfa_at: number | null }>(
      h.dataDir,
      'select stage, amr, transport, mfa_at from sessions where subject_id = ?',
      row.id,
    );
    expect(session).toMatchObject({ stage: 'active', transport: 'cookie' });
    expect(session!.amr.split(' ').sort()).toEqual(['mfa', 'pwd', 'sso']);
    expect(session!.mfa_at).not.toBeNull();

    const audit = await auditActions(since);
    expect(audit.find((e) => e.action === 'user.sso_provisioned')).toMatchObject({
      outcome: 'success',
      target: { id: row.id },
    });
    expect(audit.find((e) => e.action === 'user.sso_login')).toMatchObject({
      outcome: 'success',
      details: { userId: row.id, stage: 'active', idpAmr: ['pwd', 'mfa'], roles: ['admin'] },
    });
  });

  it("records the provider's name only when it is a clean display name; a name with a bidi override gives way to the e-mail", async () => {
    const u = person({ sub: 'rtl-eve', name: 'Dr \u202Eeve', groups: ['it-admins'], amr: ['pwd', 'mfa'] });
    expect((await signIn(u)).callback.status).toBe(303);
    expect((await userRow(u.email!))!.display_name).toBe(u.email);
  });

  it('keeps MFA required when the provider asserts a password only: stage mfa_enrol without a factor, mfa with one, and routes answer SP_AUTH_MFA_REQUIRED', async () => {
    const u = person({ sub: 'nurse-noor', groups: ['ward-rn'], amr: ['pwd'] });
    const f = await signIn(u);
    expect(f.callback.status).toBe(303);
    expect(f.callback.location).toBe(`${h.url}/login`);
    const row = (await userRow(u.email!))!;
    const sessions = () =>
      query<{ stage: string; amr: string; revoked_at: number | null }>(
        h.dataDir,
        'select stage, amr, revoked_at from sessions where subject_id = ? order by created_at',
        row.id,
      );
    expect(sessions()[0]).toMatchObject({ stage: 'mfa_enrol', amr: 'sso pwd' });
    const refused = await h.request('GET', '/v1/notifications/n-unknown', undefined, withCookie(f.session));
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('SP_AUTH_MFA_REQUIRED');

    // With a confirmed Sealpost factor, the next sign-in asks for it (stage mfa).
    const now = Date.now();
    await h.app.store.transaction((tx) =>
      tx.mfa.putTotp({
        user_id: row.id,
        tenant_id: 'default',
        secret_ct: new Uint8Array(32),
        confirmed_at: now,
        last_step: null,
        created_at: now,
      }),
    );
    const again = await signIn(u);
    expect(again.callback.location).toBe(`${h.url}/login`);
    expect(sessions()[1]).toMatchObject({ stage: 'mfa', amr: 'sso pwd' });
    expect(
      (await h.request('GET', '/v1/notifications/n-unknown', undefined, withCookie(again.session))).body.code,
    ).toBe('SP_AUTH_MFA_REQUIRED');
  });

  it('refuses a person whose groups map to no role: 403 SP_AUTH_SSO_NO_ROLE, audited, no user and no session created', async () => {
    const since = await h.app.store.read.auditLog.size();
    const before = counts();
    const u = person({ sub: 'visitor-vic', groups: ['cafeteria', 'constructor', '__proto__'], amr: ['pwd', 'mfa'] });
    const f = await signIn(u);
    expect(f.callback.status).toBe(403);
    expect(f.callback.json.code).toBe('SP_AUTH_SSO_NO_ROLE');
    expect(f.session).toBeUndefined();
    expect(await userRow(u.email!)).toBeUndefined();
    expect(counts()).toEqual(before);
    expect((await auditActions(since)).filter((e) => e.action === 'user.sso_login')).toMatchObject([
      { outcome: 'failure', details: { reason: 'no_role' } },
    ]);
  });

  it('refuses a replayed callback, a tampered state and a callback without the browser that started it; none creates anything', async () => {
    const u = person({ sub: 'replay-rae', groups: ['cardiology-md'], amr: ['pwd', 'mfa'] });
    const first = await toCallback(u);
    const replayUrl = first.callbackUrl;
    const stateCookie = first.browser.cookie(h.url, '__Host-sealpost_oidc')!;
    expect((await first.browser.request('GET', replayUrl)).status).toBe(303);
    const before = counts();

    // Replay: same code and state, even with the state cookie put back.
    const replay = new Browser(h.cert);
    replay.setCookie(h.url, '__Host-sealpost_oidc', stateCookie);
    const r1 = await replay.request('GET', replayUrl);
    expect([r1.status, r1.json.code]).toEqual([401, 'SP_AUTH_SSO_FAILED']);

    // Tampered state: the browser's cookie and the query disagree.
    const second = await toCallback(u);
    const tampered = new URL(second.callbackUrl);
    tampered.searchParams.set('state', `${tampered.searchParams.get('state')}x`);
    const r2 = await second.browser.request('GET', tampered.href);
    expect([r2.status, r2.json.code]).toEqual([401, 'SP_AUTH_SSO_FAILED']);

    // Login CSRF: a callback URL from someone else's flow, opened in a browser that did not start it.
    const third = await toCallback(u);
    const r3 = await new Browser(h.cert).request('GET', third.callbackUrl);
    expect([r3.status, r3.json.code]).toEqual([401, 'SP_AUTH_SSO_FAILED']);
    // The honest browser can still finish its own flow afterwards.
    expect((await third.browser.request('GET', third.callbackUrl)).status).toBe(303);
    const after = counts();
    expect(after.sessions).toBe(before.sessions + 1);
    expect(after.users).toBe(before.users);
  });

  it('refuses a callback with a forged code (the provider rejects the exchange): 401, audited, nothing created', async () => {
    const since = await h.app.store.read.auditLog.size();
    const before = counts();
    const f = await toCallback(person({ sub: 'forger-fay', groups: ['it-admins'], amr: ['pwd', 'mfa'] }));
    const forged = new URL(f.callbackUrl);
    forged.searchParams.set('code', 'forged-authorization-code-0123456789');
    const r = await f.browser.request('GET', forged.href);
    expect([r.status, r.json.code]).toEqual([401, 'SP_AUTH_SSO_FAILED']);
    expect(r.body).not.toContain('invalid_grant');
    expect(counts()).toEqual(before);
    expect((await auditActions(since)).filter((e) => e.action === 'user.sso_login')).toMatchObject([
      { outcome: 'failure', details: { reason: 'code_rejected' } },
    ]);
  });

  it('updates roles from the provider groups at the next sign-in, audits the change and ends the sessions of the old roles', async () => {
    const u = person({ sub: 'mover-max', groups: ['ward-rn'], amr: ['pwd', 'mfa'] });
    const asNurse = await signIn(u);
    expect((await h.request('GET', '/v1/api-keys', undefined, withCookie(asNurse.session))).body.code).toBe(
      'SP_AUTH_FORBIDDEN',
    );
    const since = await h.app.store.read.auditLog.size();
    u.groups = ['it-admins', 'ward-rn'];
    const asAdmin = await signIn(u);
    const row = (await userRow(u.email!))!;
    expect(row.roles).toBe('admin nurse');
    expect((await h.request('GET', '/v1/api-keys', undefined, withCookie(asAdmin.session))).status).toBe(200);
    expect((await h.request('GET', '/v1/api-keys', undefined, withCookie(asNurse.session))).body.code).toBe(
      'SP_AUTH_UNAUTHENTICATED',
    );
    expect((await auditActions(since)).find((e) => e.action === 'user.roles_changed')).toMatchObject({
      target: { id: row.id },
      details: { from: ['nurse'], to: ['admin', 'nurse'], source: 'sso', sessionsRevoked: 1 },
    });
    // Same groups next time: no change recorded.
    const since2 = await h.app.store.read.auditLog.size();
    await signIn(u);
    expect((await auditActions(since2)).some((e) => e.action === 'user.roles_changed')).toBe(false);
  });

  it('links an existing user with the same e-mail instead of creating a second one, and refuses a disabled user with SP_AUTH_LOGIN_FAILED', async () => {
    const existing = await staffWithSession(h, ['billing'], 'default', 'linked-lee@clinic.test');
    const since = await h.app.store.read.auditLog.size();
    const u = person({
      sub: 'linked-lee',
      email: 'Linked-Lee@Clinic.test',
      groups: ['cardiology-md'],
      amr: ['pwd', 'mfa'],
    });
    const f = await signIn(u);
    expect(f.callback.status).toBe(303);
    const row = (await userRow('linked-lee@clinic.test'))!;
    expect(row).toMatchObject({ id: existing.userId, sso_subject: 'linked-lee', roles: 'physician' });
    expect((await auditActions(since)).map((e) => e.action)).toEqual(
      expect.arrayContaining(['user.sso_linked', 'user.roles_changed', 'user.sso_login']),
    );

    await h.app.store.transaction((tx) => tx.users.update('default', existing.userId, { status: 'disabled' }));
    const before = counts();
    const refused = await signIn(u);
    expect([refused.callback.status, refused.callback.json.code]).toEqual([401, 'SP_AUTH_LOGIN_FAILED']);
    expect(refused.session).toBeUndefined();
    expect(counts()).toEqual(before);
    expect((await userRow('linked-lee@clinic.test'))!).toMatchObject({ status: 'disabled', roles: 'physician' });
  });

  it('links an invited user (activating them) but never links on an address the provider calls unverified or does not call verified', async () => {
    const invited = await staffWithSession(h, ['nurse'], 'default', 'invited-ivy@clinic.test');
    await h.app.store.transaction((tx) => tx.users.update('default', invited.userId, { status: 'invited' }));
    const ivy = await signIn(person({ sub: 'invited-ivy', groups: ['ward-rn'], amr: ['pwd', 'mfa'] }));
    expect(ivy.callback.status).toBe(303);
    expect(await userRow('invited-ivy@clinic.test')).toMatchObject({
      id: invited.userId,
      status: 'active',
      sso_subject: 'invited-ivy',
    });

    const existing = await staffWithSession(h, ['nurse'], 'default', 'unverified-uma@clinic.test');
    const before = counts();
    const uma = await signIn(
      person({ sub: 'unverified-uma', emailVerified: false, groups: ['ward-rn'], amr: ['pwd', 'mfa'] }),
    );
    expect([uma.callback.status, uma.callback.json.code]).toEqual([401, 'SP_AUTH_LOGIN_FAILED']);
    expect(await userRow('unverified-uma@clinic.test')).toMatchObject({ id: existing.userId, sso_subject: null });
    expect(counts()).toEqual(before);

    const silent = await staffWithSession(h, ['nurse'], 'default', 'silent-sam@clinic.test');
    const sam = await signIn(
      person({ sub: 'silent-sam', emailVerified: null, groups: ['ward-rn'], amr: ['pwd', 'mfa'] }),
    );
    expect([sam.callback.status, sam.callback.json.code]).toEqual([401, 'SP_AUTH_LOGIN_FAILED']);
    expect(await userRow('silent-sam@clinic.test')).toMatchObject({ id: silent.userId, sso_subject: null });
  });

  it('answers 400 for a bearer transport, and 401 for an unknown tenant or another tenant than the provider serves, writing nothing', async () => {
    const b = new Browser(h.cert);
    const bearer = await b.request('GET', `${h.url}/v1/auth/oidc/start?transport=bearer`);
    expect([bearer.status, bearer.json.code]).toEqual([400, 'SP_REQ_VALIDATION']);
    const unknown = await b.request('GET', `${h.url}/v1/auth/oidc/start?tenant=no-such-tenant`);
    expect([unknown.status, unknown.json.code]).toEqual([401, 'SP_AUTH_SSO_FAILED']);
    // A tenant that exists but is not the provider's: its people must not be provisioned there.
    await h.app.store.read.tenants.ensure('other-org', 'Other organisation', Date.now());
    const other = await b.request('GET', `${h.url}/v1/auth/oidc/start?tenant=other-org`);
    expect([other.status, other.json.code]).toEqual([401, 'SP_AUTH_SSO_FAILED']);
    expect(b.cookie(h.url, '__Host-sealpost_oidc')).toBeUndefined();
  });

  it('never writes codes, states or session tokens to the log', async () => {
    const f = await signIn(person({ sub: 'quiet-quinn', groups: ['it-admins'], amr: ['pwd', 'mfa'] }));
    const cb = new URL(f.callbackUrl);
    const log = readFileSync(h.logFile, 'utf8');
    for (const secret of [
      cb.searchParams.get('code')!,
      cb.searchParams.get('state')!,
      f.authorizeUrl.searchParams.get('nonce')!,
      f.session!,
    ]) {
      expect(secret.length).toBeGreaterThan(15);
      expect(log).not.toContain(secret);
    }
  });
});

describe("OIDC single sign-on with a public client, claims in the ID token, and the provider's MFA not trusted", () => {
  let idp2: TestIdp;
  let h2: Harness;
  beforeAll(async () => {
    idp2 = await startOidcProvider({ clientSecret: null, claimsInIdToken: true });
    h2 = await startSealpost({
      SEALPOST_OIDC_ISSUER: idp2.issuer,
      SEALPOST_OIDC_CLIENT_ID: idp2.clientId,
      SEALPOST_OIDC_GROUP_ROLES: 'it-admins=admin',
      SEALPOST_OIDC_TRUST_IDP_MFA: 'false',
      SEALPOST_OUTBOUND_CA_FILE: idp2.caFile,
    });
    idp2.redirectUris.push(`${h2.url}${callbackPath}`);
  }, 120_000);
  afterAll(async () => {
    await h2?.close();
    await idp2?.close();
  }, 120_000);

  it("asks for Sealpost's own second factor even when the provider says mfa, and never records the provider's mfa as verified", async () => {
    // The sign-in helpers drive the module's provider and server: point them at this pair (the first describe is done).
    [idp, h] = [idp2, h2];
    const f = await signIn(person({ sub: 'careful-cam', groups: ['it-admins'], amr: ['pwd', 'otp', 'mfa'] }));
    expect(f.callback.location).toBe(`${h2.url}/login`);
    const row = (await h2.app.store.read.users.byEmail('default', 'careful-cam@clinic.test'))!;
    const [s] = query<{ stage: string; amr: string; mfa_at: number | null }>(
      h2.dataDir,
      'select stage, amr, mfa_at from sessions where subject_id = ?',
      row.id,
    );
    expect(s).toMatchObject({ stage: 'mfa_enrol', amr: 'sso pwd otp', mfa_at: null });
  });
});

describe('OIDC single sign-on with an identity provider whose certificate is not trusted', () => {
  it('answers 502 SP_AUTH_SSO_UNAVAILABLE at the start (certificates are verified unless explicitly turned off)', async () => {
    const untrusted = await startOidcProvider();
    const strict = await startSealpost({
      SEALPOST_OIDC_ISSUER: untrusted.issuer,
      SEALPOST_OIDC_CLIENT_ID: untrusted.clientId,
      SEALPOST_OIDC_CLIENT_SECRET: untrusted.clientSecret!,
      SEALPOST_OIDC_GROUP_ROLES: 'g=nurse',
    });
    try {
      const r = await new Browser(strict.cert).request('GET', `${strict.url}/v1/auth/oidc/start`);
      expect([r.status, r.json.code]).toEqual([502, 'SP_AUTH_SSO_UNAVAILABLE']);
      expect(r.location).toBeNull();
    } finally {
      await strict.close();
      await untrusted.close();
    }
  }, 120_000);
});

function counts(): { users: number; sessions: number } {
  const n = (t: string) => query<{ n: number }>(h.dataDir, `select count(*) as n from ${t}`)[0]!.n;
  return { users: n('users'), sessions: n('sessions') };
}
