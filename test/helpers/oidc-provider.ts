import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './sealpost-harness.js';
import { serverCert, testCa, type Pem } from './transport-pki.js';

/** A person known to the test identity provider. */
export interface IdpUser {
  sub: string;
  password: string;
  email?: string;
  /** Default true; null leaves the `email_verified` claim out. */
  emailVerified?: boolean | null;
  name?: string;
  /** The `groups` claim; change it between sign-ins to test role updates. */
  groups: string[];
  /** The RFC 8176 `amr` the provider asserts in the ID token for this person's sign-ins. */
  amr: string[];
}

export interface TestIdp {
  /**
   * https://127.0.0.1:<port>, with a certificate issued by the test CA (`idpCa()`, in no trust store):
   * Sealpost trusts it through SEALPOST_OUTBOUND_CA_FILE=`caFile`, and refuses it without.
   */
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  /** Redirect URIs the client may use; add Sealpost's callback before the first request. */
  redirectUris: string[];
  /** People by `sub` (read at each sign-in, so tests may change them). */
  users: Map<string, IdpUser>;
  /** The certificate (PEM) the provider serves. */
  cert: string;
  /** The issuing test CA's certificate (PEM), and a file holding it (for SEALPOST_OUTBOUND_CA_FILE). */
  ca: string;
  caFile: string;
  close(): Promise<void>;
}

let cachedPki: Promise<{ ca: Pem; leaf: Pem; caFile: string }> | undefined;

/** The test CA every provider's certificate is issued by (one per process), and its leaf for 127.0.0.1. */
export function idpPki(): Promise<{ ca: Pem; leaf: Pem; caFile: string }> {
  cachedPki ??= (async () => {
    const ca = await testCa('Sealpost test IdP CA');
    const leaf = await serverCert('127.0.0.1', { ca });
    const caFile = join(mkdtempSync(join(tmpdir(), 'sealpost-idp-ca-')), 'ca.pem');
    writeFileSync(caFile, ca.cert);
    return { ca, leaf, caFile };
  })();
  return cachedPki;
}

interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ uid: string; prompt: { name: string }; params: Record<string, unknown> }>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: object,
    opts?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: new (o: { clientId: string; accountId: string }) => { addOIDCScope(s: string): void; save(): Promise<string> };
}

/**
 * A real OpenID provider (`oidc-provider`) on 127.0.0.1 over HTTPS, with one confidential client
 * (client_secret_basic, or `none` when `clientSecret: null`), PKCE required, and its own minimal
 * interaction pages: a login form (POST `login`, `password`) that signs the person in with their
 * configured `amr`. Consent is implied for the one first-party client. With `claimsInIdToken`
 * false (the default, oidc-provider's conform mode) groups and e-mail come from userinfo only.
 */
export async function startOidcProvider(
  opts: { clientSecret?: string | null; claimsInIdToken?: boolean } = {},
): Promise<TestIdp> {
  const port = await freePort();
  const pki = await idpPki();
  const issuer = `https://127.0.0.1:${port}`;
  const clientSecret = opts.clientSecret === undefined ? randomBytes(24).toString('base64url') : opts.clientSecret;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };
  const users = new Map<string, IdpUser>();
  const idp: TestIdp = {
    issuer,
    clientId: 'sealpost-test',
    clientSecret,
    redirectUris: [],
    users,
    cert: pki.leaf.cert,
    ca: pki.ca.cert,
    caFile: pki.caFile,
    close: async () => undefined,
  };
  // An untyped module: imported by a computed name so the compiler does not ask for its types.
  const { default: Provider } = (await import('oidc-provider' as string)) as {
    default: new (issuer: string, config: object) => ProviderInstance;
  };

  let provider: { p: ProviderInstance; handle: (req: IncomingMessage, res: ServerResponse) => void } | null = null;
  const build = (): ProviderInstance =>
    new Provider(issuer, {
      clients: [
        {
          client_id: idp.clientId,
          ...(clientSecret
            ? { client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' }
            : { token_endpoint_auth_method: 'none' }),
          redirect_uris: [...idp.redirectUris],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [randomBytes(32).toString('hex')] },
      scopes: ['openid', 'email', 'profile', 'groups'],
      // oidc-provider puts `amr` in an ID token only when a granted scope lists it (or the request asks for it).
      claims: {
        acr: null,
        auth_time: null,
        sid: null,
        openid: ['sub', 'amr'],
        email: ['email', 'email_verified'],
        profile: ['name'],
        groups: ['groups'],
      },
      conformIdTokenClaims: !opts.claimsInIdToken,
      pkce: { required: () => true },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60, AccessToken: 300, IdToken: 300 },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      findAccount: (_ctx: unknown, sub: string) => {
        const u = users.get(sub);
        if (!u) return undefined;
        const claims = {
          sub,
          email: u.email,
          ...(u.emailVerified === null ? {} : { email_verified: u.emailVerified ?? true }),
          name: u.name,
          groups: [...u.groups],
        };
        return { accountId: sub, claims: async () => claims };
      },
      // One first-party client: the grant is implied, as a hospital's own IdP would configure it.
      loadExistingGrant: async (ctx: {
        oidc: {
          client: { clientId: string };
          session: { accountId: string; grantIdFor(c: string): string | undefined };
          result?: { consent?: { grantId?: string } };
          provider: { Grant: { find(id: string): Promise<unknown> } & ProviderInstance['Grant'] };
        };
      }) => {
        const o = ctx.oidc;
        const existing = o.result?.consent?.grantId ?? o.session.grantIdFor(o.client.clientId);
        if (existing) return o.provider.Grant.find(existing);
        const grant = new o.provider.Grant({ clientId: o.client.clientId, accountId: o.session.accountId });
        grant.addOIDCScope('openid email profile groups');
        await grant.save();
        return grant;
      },
    }) as ProviderInstance;

  const interaction = async (req: IncomingMessage, res: ServerResponse, p: ProviderInstance) => {
    const url = new URL(req.url ?? '/', issuer);
    const m = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname)!;
    const details = await p.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><title>Test IdP</title><form method="post" action="/interaction/${details.uid}/login"><input name="login"><input name="password" type="password"><button>Sign in</button></form>`,
      );
      return;
    }
    if (req.method === 'POST' && m[2]) {
      const form = new URLSearchParams(await readBody(req));
      const u = users.get(form.get('login') ?? '');
      if (!u || u.password !== form.get('password')) {
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end('wrong login or password');
        return;
      }
      await p.interactionFinished(
        req,
        res,
        { login: { accountId: u.sub, amr: [...u.amr] } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    res.writeHead(405).end();
  };

  const server = createServer({ key: pki.leaf.key, cert: pki.leaf.cert }, (req, res) => {
    if (!provider) {
      const p = build();
      provider = { p, handle: p.callback() };
    }
    const { p, handle } = provider;
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res, p).catch((e: unknown) => {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`interaction failed: ${(e as Error).name}`);
      });
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  idp.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return idp;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
