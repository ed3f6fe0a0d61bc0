/**
 * What identity and access cost (`npm run bench:auth`): argon2id hashing and verification (the price
 * of every password sign-in), and requests per second of one cheap authenticated route
 * (`GET /v1/me`) with each credential kind — API key, a person's session, a SMART access token —
 * beside a public route (`/healthz`) on the same server, measured in the same run. Results go into
 * BENCHMARKS.md ("Identity and access").
 *
 *   npm run bench:auth -- [--duration 5] [--connections 20]
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Agent, fetch } from 'undici';
import { exportJWK, SignJWT } from 'jose';
import { selfSigned } from '../src/api/tls.js';
import { hashPassword, verifyPassword } from '../src/auth/passwords.js';
import { forEachFlag } from './args.js';
import { machineInfo } from './machine-info.js';
import { postJson, startSealpost } from './servers.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';

const o = { durationSec: 5, connections: 20 };
forEachFlag(process.argv.slice(2), (flag, _value, num) => {
  if (flag === '--duration') o.durationSec = num(1);
  else if (flag === '--connections') o.connections = num(1);
  else throw new Error(`unknown flag ${flag}`);
});

async function timeMs(n: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-auth-'));
const password = 'violet harbour lantern bench';
const phc = await hashPassword(password);
const hashMs = await timeMs(10, () => hashPassword(password));
const verifyMs = await timeMs(10, () => verifyPassword(phc, password));

const tls = await selfSigned();
const target = await startSealpost(join(dir, 'server'), 'group', tls);
const { app } = target;
const tokenUrl = `${app.config.publicUrl}/oauth2/token`;

// A signed-in person: a user row and an active session, as the sign-in routes would leave them.
const now = Date.now();
const session = await app.store.transaction(async (tx) => {
  await tx.users.insert({
    id: 'u-bench',
    tenant_id: DEFAULT_TENANT,
    email: 'bench@clinic.test',
    display_name: 'Bench',
    roles: 'nurse',
    status: 'active',
    password_hash: phc,
    locked_until: null,
    sso_issuer: null,
    sso_subject: null,
    created_at: now,
    updated_at: now,
  });
  return app.sessions.issue(tx, {
    tenantId: DEFAULT_TENANT,
    subjectType: 'user',
    subjectId: 'u-bench',
    transport: 'bearer',
    stage: 'active',
    amr: ['pwd', 'otp', 'mfa'],
  });
});

// A SMART backend-services client, and an access token it obtained with a signed assertion.
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES384', use: 'sig' };
const reg = await postJson(target, tls, '/v1/oauth-clients', {
  name: 'bench',
  scopes: ['system/Patient.rs'],
  jwks: { keys: [jwk] },
});
const clientId = JSON.parse(reg.text).clientId as string;
const assertion = await new SignJWT({})
  .setProtectedHeader({ alg: 'ES384', kid: 'bench' })
  .setIssuer(clientId)
  .setSubject(clientId)
  .setAudience(tokenUrl)
  .setJti(randomUUID())
  .setIssuedAt()
  .setExpirationTime('4m')
  .sign(privateKey);
const form = new URLSearchParams({
  grant_type: 'client_credentials',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: assertion,
  scope: 'system/Patient.rs',
});
const tokenRes = await fetch(`${target.url}/oauth2/token`, {
  method: 'POST',
  body: form,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  dispatcher: new Agent({ connect: { ca: tls.cert } }),
});
let accessToken: string | null = null;
if (tokenRes.ok) accessToken = ((await tokenRes.json()) as { access_token: string }).access_token;

async function load(
  label: string,
  path: string,
  authorization?: string,
): Promise<{ label: string; rps: number; p50: number; p99: number; non2xx: number }> {
  const r = await autocannon({
    url: `${target.url}${path}`,
    connections: o.connections,
    duration: o.durationSec,
    servername: 'localhost',
    headers: authorization ? { authorization } : {},
  });
  return { label, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx };
}

const rows = [await load('public route, no credential (`GET /healthz`)', '/healthz')];
rows.push(await load('API key (`GET /v1/me`)', '/v1/me', `Bearer ${target.apiKey}`));
rows.push(await load("person's session, bearer (`GET /v1/me`)", '/v1/me', `Bearer ${session.token}`));
if (accessToken) rows.push(await load('SMART access token (`GET /v1/me`)', '/v1/me', `Bearer ${accessToken}`));
await target.close();

console.log(JSON.stringify(machineInfo(dir)));
console.log(
  `\n| password hashing | ms per op |\n|---|---:|\n| argon2id hash (m=19456 KiB, t=2, p=1) | ${hashMs.toFixed(1)} |\n| argon2id verify | ${verifyMs.toFixed(1)} |`,
);
console.log(
  `\n${o.connections} connections, ${o.durationSec} s each, HTTPS keep-alive:\n\n| credential | requests/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|`,
);
for (const r of rows) console.log(`| ${r.label} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.non2xx} |`);
if (!accessToken) console.log('\n(the SMART token request failed; its row is missing)');
