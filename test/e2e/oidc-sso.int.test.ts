import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startOidcProvider, type IdpUser, type TestIdp } from '../helpers/oidc-provider.js';
import { staffWithSession } from '../helpers/identity.js';

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
    const headers: Record<string, string> = { ...(cookies ? { cookie: cookies } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded', origin: u.origin } : {}) };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(u, { method, headers, ca: this.ca }, (res) => {
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

let idp: TestIdp;
let h: Harness;
const callbackPath = '/v1/auth/oidc/callback';

/** Signs `user` in through the identity provider's form up to (not including) Sealpost's callback. */
async function toCallback(user: IdpUser, browser = new Browser(h.cert), tenant?: string): Promise<{ browser: Browser; authorizeUrl: URL; callbackUrl: string }> {
  const start = await browser.request('GET', `${h.url}/v1/auth/oidc/start${tenant ? `?tenant=${tenant}` : ''}`);
  expect(start.status).toBe(302);
  const authorizeUrl = new URL(start.location!);
  let next = await browser.request('GET', authorizeUrl.href);
  for (let hops = 0; hops < 10; hops++) {
    if (next.location?.startsWith(`${h.url}${callbackPath}`)) return { browser, authorizeUrl, callbackUrl: next.location };
    if (next.status === 200 && next.body.includes('<form')) {
      const action = /action="([^"]+)"/.exec(next.body)![1]!;
      next = await browser.request('POST', new URL(action, idp.issuer).href, { login: user.sub, password: user.password });
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

const withCookie = (session: string | undefined) => ({ authorization: '', cookie: `__Host-sealpost_session=${session}` });

function person(over: Partial<IdpUser> & { sub: string }): IdpUser {
  const u: IdpUser = { password: `pw-${over.sub}`, email: `${over.sub}@clinic.test`, name: `Dr ${over.sub}`, groups: [], amr: ['pwd'], ...over };
  idp.users.set(u.sub, u);
  return u;
}

async function userRow(email: string) {
  return h.app.store.read.users.byEmail('default', email);
}

async function auditActions(since: number): Promise<{ action: string; outcome: string; details: Record<string, unknown> | null; target: { id: string } | null }[]> {
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
      SEALPOST_INSECURE_SKIP_TLS_VERIFY: 'true',
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
});
