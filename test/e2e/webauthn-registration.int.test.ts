import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithPassword } from '../helpers/identity.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';

const b64url = (b: Buffer) => b.toString('base64url');

/**
 * A software authenticator with `none` attestation (W3C WebAuthn §8.7): one P-256 key and one
 * credential id, able to answer any registration challenge. Enough CBOR is written by hand for the
 * two fixed shapes it needs (the COSE key, RFC 9053 §7.1.1, and the attestation object).
 */
function softAuthenticator() {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const [x, y] = [Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')];
  const credentialId = randomBytes(32);
  const coseKey = Buffer.concat([
    Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]),
    x,
    Buffer.from([0x22, 0x58, 0x20]),
    y,
  ]);
  return {
    credentialId,
    register(options: { challenge: string; rp: { id: string } }, origin: string) {
      const clientDataJSON = Buffer.from(
        JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, crossOrigin: false }),
      );
      const len = Buffer.alloc(2);
      len.writeUInt16BE(credentialId.length);
      // rpIdHash | flags UP+UV+AT | signCount 0 | AAGUID 0 | credential id length | credential id | key
      const authData = Buffer.concat([
        createHash('sha256').update(options.rp.id).digest(),
        Buffer.from([0x45]),
        Buffer.alloc(4),
        Buffer.alloc(16),
        len,
        credentialId,
        coseKey,
      ]);
      const authLen = Buffer.alloc(2);
      authLen.writeUInt16BE(authData.length);
      const attestationObject = Buffer.concat([
        Buffer.from([0xa3, 0x63]),
        Buffer.from('fmt'),
        Buffer.from([0x64]),
        Buffer.from('none'),
        Buffer.from([0x67]),
        Buffer.from('attStmt'),
        Buffer.from([0xa0]),
        Buffer.from([0x68]),
        Buffer.from('authData'),
        Buffer.from([0x59]),
        authLen,
        authData,
      ]);
      const id = b64url(credentialId);
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: {
          clientDataJSON: b64url(clientDataJSON),
          attestationObject: b64url(attestationObject),
          transports: ['usb'],
        },
        clientExtensionResults: {},
      };
    },
  };
}

describeEachBackend('security key registration', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  let origin: string;
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: token ? `Bearer ${token}` : '' });

  async function enrolSession(): Promise<{ userId: string; token: string }> {
    const p = await staffWithPassword(h, ['nurse']);
    const r = await call('POST', '/v1/auth/login', undefined, {
      email: p.email,
      password: p.password,
      transport: 'bearer',
    });
    expect([r.status, r.body.stage]).toEqual([200, 'mfa_enrol']);
    return { userId: p.userId, token: r.body.token };
  }

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost({ ...db.env, SEALPOST_PUBLIC_URL: 'https://localhost:{port}' });
    origin = new URL(h.app.config.publicUrl).origin;
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  }, 120_000);

  it('registers a security key from an mfa_enrol session and makes it active with recovery codes', async () => {
    const s = await enrolSession();
    const key = softAuthenticator();
    const options = await call('POST', '/v1/auth/webauthn/register/options', s.token, {});
    expect(options.status).toBe(200);
    const r = await call('POST', '/v1/auth/webauthn/register/verify', s.token, {
      credential: key.register(options.body, origin),
      name: 'Desk key',
    });
    expect([r.status, r.body.stage, r.body.recoveryCodes?.length]).toEqual([200, 'active', 10]);
  });

  it('answers SP_AUTH_WEBAUTHN_FAILED, never a server error, when one credential is registered twice at once, and stores it once', async () => {
    const key = softAuthenticator();
    const sessions = await Promise.all(Array.from({ length: 4 }, () => enrolSession()));
    const creds = await Promise.all(
      sessions.map(async (s) =>
        key.register((await call('POST', '/v1/auth/webauthn/register/options', s.token, {})).body, origin),
      ),
    );
    const answers = await Promise.all(
      sessions.map((s, i) => call('POST', '/v1/auth/webauthn/register/verify', s.token, { credential: creds[i] })),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([200, 401, 401, 401]);
    for (const r of answers.filter((x) => x.status === 401)) expect(r.body.code).toBe('SP_AUTH_WEBAUTHN_FAILED');
    const rows = await db.query<{ user_id: string }>(
      `select user_id from webauthn_credentials where id = '${b64url(key.credentialId)}'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.user_id).toBe(sessions[answers.findIndex((r) => r.status === 200)]!.userId);
  });
});
