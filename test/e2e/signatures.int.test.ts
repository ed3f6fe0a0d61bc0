import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { cli } from '../helpers/sealpost-cli.js';
import { hermeticEnv } from '../helpers/server-process.js';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { query, rowCounts } from '../helpers/db-snapshot.js';
import { verifyProof, type JwkSet, type NotificationProof } from '../../src/crypto/proof-verifier.js';

const root = join(import.meta.dirname, '..', '..');
/** Each CLI run starts a TypeScript process (tsx); on a busy machine that takes a while. Not a timing assertion. */
const CLI_TIMEOUT = 240_000;
const result = {
  type: 'test_result_ready',
  patientId: 'p1',
  data: { testName: 'Lipid panel', orderingClinician: 'Dr. Rivera' },
};

/** Runs the real CLI: `node bin/sealpost.js verify <file> [--keys <file>]`. */
function cliVerify(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sealpost.js', 'verify', ...args], {
      cwd: root,
      env: hermeticEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** A device signs the RFC 8785 canonical request body (without `signature`). */
/** What a signed request writes (audit entries are left out: the worker appends them concurrently for earlier sends). */
function written(dataDir: string) {
  const { notifications, deliveries, idempotency_keys } = rowCounts(dataDir);
  return {
    notifications,
    deliveries,
    idempotency_keys,
    signatures: query(dataDir, 'select count(*) as n from notification_signatures')[0].n,
  };
}

function signBody(body: object, alg: 'EdDSA' | 'ES256', privateKey: KeyObject): string {
  const bytes = Buffer.from(canonicalize(body)!, 'utf8');
  return (
    alg === 'EdDSA'
      ? sign(null, bytes, privateKey)
      : sign('sha256', bytes, { key: privateKey, dsaEncoding: 'ieee-p1363' })
  ).toString('base64url');
}

describe("non-repudiation: notification proofs, published keys and persons' signatures", () => {
  let h: Harness;
  let keys: JwkSet;
  let dir: string;
  const write = (name: string, value: unknown) => {
    const f = join(dir, name);
    writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
    return f;
  };

  beforeAll(async () => {
    h = await startSealpost();
    dir = h.dataDir;
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h?.close());

  it('publishes the notary key as a JWK Set without authentication', async () => {
    const r = await h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' });
    expect(r.status).toBe(200);
    keys = r.body;
    expect(keys.keys.length).toBeGreaterThanOrEqual(1);
    const current = keys.keys.find((k) => k.status === 'current')!;
    expect(current).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(typeof current.kid).toBe('string');
    expect(Number.isNaN(Date.parse(current.createdAt as string))).toBe(false);
    expect(current).not.toHaveProperty('d');
  });

  it(
    'signs a notification at creation; its proof verifies offline, in code and with the CLI, and holds no PHI',
    async () => {
      const sent = await h.request('POST', '/v1/notifications', result);
      expect(sent.status).toBe(202);
      const r = await h.request('GET', `/v1/notifications/${sent.body.id}/proof`);
      expect(r.status).toBe(200);
      const proof: NotificationProof = r.body;
      expect(proof.fields).toMatchObject({
        v: 1,
        type: 'sealpost.notification',
        id: sent.body.id,
        notificationType: 'test_result_ready',
        priority: 'routine',
        keyId: proof.keyId,
        sender: null,
      });
      expect(proof.publicKey).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: proof.keyId });
      // The patient id as a JSON value (a bare "p1" turns up by chance in base64 keys and signatures).
      for (const phi of ['"p1"', 'Lipid', 'Rivera', 'Ana', 'Lopez', '1980-04-02']) expect(r.text).not.toContain(phi);
      expect(verifyProof(proof, keys)).toMatchObject({ ok: true, problems: [] });
      const cli = await cliVerify([write('proof.json', proof), '--keys', write('keys.json', keys)]);
      expect(cli).toMatchObject({ code: 0 });
      expect(cli.out).toContain('proof OK');
    },
    CLI_TIMEOUT,
  );

  it(
    'rejects a tampered field, a swapped key, a non-canonical encoding and a truncated signature (exit 1)',
    async () => {
      const sent = await h.request('POST', '/v1/notifications', result);
      const proof: NotificationProof = (await h.request('GET', `/v1/notifications/${sent.body.id}/proof`)).body;
      const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
      const otherSig = sign(null, Buffer.from(proof.signed), generateKeyPairSync('ed25519').privateKey).toString(
        'base64url',
      );
      const tamperedFields = { ...proof.fields, priority: 'urgent' };
      const cases: [string, NotificationProof, JwkSet | undefined, RegExp][] = [
        [
          'a tampered field',
          { ...proof, fields: tamperedFields, signed: canonicalize(tamperedFields)! },
          keys,
          /notary signature does not verify/,
        ],
        ['fields that differ from the signed text', { ...proof, fields: tamperedFields }, keys, /fields differ/],
        [
          'a swapped key (same kid)',
          {
            ...proof,
            publicKey: { ...other, kid: proof.keyId, alg: 'EdDSA', use: 'sig' } as Record<string, string>,
            signature: otherSig,
          },
          keys,
          /not the published key/,
        ],
        ['a key id outside the key set', proof, { keys: [] }, /not in the given key set/],
        [
          'a non-canonical encoding',
          { ...proof, signed: JSON.stringify(proof.fields, null, 1) },
          keys,
          /not in RFC 8785 canonical form/,
        ],
        [
          'a truncated signature',
          { ...proof, signature: Buffer.from(proof.signature, 'base64url').subarray(0, 63).toString('base64url') },
          keys,
          /wrong length/,
        ],
      ];
      for (const [what, bad, ks, why] of cases) {
        const report = verifyProof(bad, ks);
        expect(report.ok, what).toBe(false);
        expect(report.problems.join('; '), what).toMatch(why);
      }
      const cli = await cliVerify([write('tampered.json', cases[0][1]), '--keys', write('keys.json', keys)]);
      expect(cli.code).toBe(1);
      expect(cli.out).toContain('proof INVALID');
      expect((await cliVerify([write('not-json.json', '{')])).out).toMatch(/not a readable JSON file/);
    },
    CLI_TIMEOUT,
  );

  it('discloses the content only when asked, audits that read, and the salted content hash then checks', async () => {
    const sent = await h.request('POST', '/v1/notifications', result);
    const contentReads = () =>
      query(
        h.dataDir,
        `select count(*) as n from audit_entries where action = 'notification.proof_read' and entry like '%"content":true%'`,
      )[0].n;
    const before = contentReads();
    const r = await h.request('GET', `/v1/notifications/${sent.body.id}/proof?include=content`);
    expect(r.body.content).toEqual({ patientId: 'p1', data: result.data });
    expect(verifyProof(r.body, keys)).toMatchObject({ ok: true });
    expect(verifyProof(r.body, keys).checks).toContain('content matches contentHash');
    const changed = { ...r.body, content: { patientId: 'p1', data: { ...result.data, testName: 'HbA1c' } } };
    expect(verifyProof(changed, keys).problems).toContain('content does not match contentHash');
    expect(contentReads()).toBe(before + 1);
  });

  it('answers 404 for the proof of an unknown notification', async () => {
    const r = await h.request('GET', '/v1/notifications/no-such-id/proof');
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('SP_NOTIFICATION_NOT_FOUND');
  });

  describe("persons' device keys", () => {
    const ed = generateKeyPairSync('ed25519');
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    let edSigner: string;
    let p256Signer: string;

    it('registers an Ed25519 JWK and a P-256 SPKI key, and refuses the same key twice', async () => {
      const a = await h.request('POST', '/v1/signers', {
        personId: 'staff-0042',
        alg: 'EdDSA',
        publicKeyJwk: ed.publicKey.export({ format: 'jwk' }),
      });
      expect(a.status).toBe(201);
      expect(a.body).toMatchObject({ personId: 'staff-0042', alg: 'EdDSA', revokedAt: null });
      edSigner = a.body.id;
      const b = await h.request('POST', '/v1/signers', {
        personId: 'staff-0043',
        alg: 'ES256',
        publicKey: p256.publicKey.export({ format: 'der', type: 'spki' }).toString('base64url'),
      });
      expect(b.status).toBe(201);
      p256Signer = b.body.id;
      const again = await h.request('POST', '/v1/signers', {
        personId: 'staff-0042',
        alg: 'EdDSA',
        publicKeyJwk: ed.publicKey.export({ format: 'jwk' }),
      });
      expect([again.status, again.body.code]).toEqual([409, 'SP_SIGNER_KEY_EXISTS']);
    });

    it('refuses small-order and non-canonical Ed25519 keys, private JWKs and a key of the other algorithm, storing nothing', async () => {
      const identity = Buffer.alloc(32);
      identity[0] = 1;
      const yTooBig = Buffer.alloc(32, 0xff);
      yTooBig[31] = 0x7f;
      const before = query(h.dataDir, 'select count(*) as n from signers')[0].n;
      for (const body of [
        { personId: 'staff-1', alg: 'EdDSA', publicKey: identity.toString('base64url') },
        { personId: 'staff-1', alg: 'EdDSA', publicKey: yTooBig.toString('base64url') },
        { personId: 'staff-1', alg: 'EdDSA', publicKeyJwk: ed.privateKey.export({ format: 'jwk' }) },
        { personId: 'staff-1', alg: 'ES256', publicKeyJwk: ed.publicKey.export({ format: 'jwk' }) },
        { personId: 'staff-1', alg: 'EdDSA' },
      ]) {
        const r = await h.request('POST', '/v1/signers', body);
        expect([r.status, r.body.code]).toEqual([400, 'SP_SIGNER_INVALID_KEY']);
        expect(r.text).not.toContain(String(body.publicKey ?? 'x'.repeat(50)));
      }
      const bad = await h.request('POST', '/v1/signers', {
        personId: 'ana@example.com',
        alg: 'EdDSA',
        publicKeyJwk: generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }),
      });
      expect([bad.status, bad.body.code]).toEqual([400, 'SP_REQ_VALIDATION']);
      expect(query(h.dataDir, 'select count(*) as n from signers')[0].n).toBe(before);
    });

    it('stores a signed request with its notification; the proof binds and verifies the sender signature', async () => {
      for (const [signerId, alg, key] of [
        [edSigner, 'EdDSA', ed.privateKey],
        [p256Signer, 'ES256', p256.privateKey],
      ] as const) {
        const body = { ...result, data: { ...result.data, testName: `Panel ${alg}` } };
        const sent = await h.request('POST', '/v1/notifications', {
          ...body,
          signature: { signerId, alg, signature: signBody(body, alg, key) },
        });
        expect(sent.status).toBe(202);
        const proof = (await h.request('GET', `/v1/notifications/${sent.body.id}/proof?include=content`))
          .body as NotificationProof;
        expect(proof.sender).toMatchObject({ signerId, alg });
        expect(proof.request).toBe(canonicalize(body));
        const report = verifyProof(proof, keys);
        expect(report).toMatchObject({ ok: true });
        expect(report.checks).toEqual(
          expect.arrayContaining([
            'sender signature is bound by the header',
            'sender signature verifies over the request',
          ]),
        );
        // Another signature (valid for other bytes) in place of the stored one is caught by the header's digest.
        const swapped = { ...proof, sender: { ...proof.sender!, signature: signBody({ other: 1 }, alg, key) } };
        expect(verifyProof(swapped, keys).problems).toContain('sender signature is not the one the header binds');
      }
    });

    it('refuses a bad, replayed or unknown-signer signature with a clear code and writes nothing', async () => {
      const body = { ...result, data: { ...result.data, testName: 'Replay panel' } };
      const good = signBody(body, 'EdDSA', ed.privateKey);
      const sig = Buffer.from(good, 'base64url');
      const L = 2n ** 252n + 27742317777372353535851937790883648493n;
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + L;
      const sPlusL = Buffer.concat([
        sig.subarray(0, 32),
        Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse(),
      ]).toString('base64url');
      const before = written(h.dataDir);
      const cases: [unknown, number, string][] = [
        [
          {
            ...body,
            data: { ...body.data, testName: 'Changed' },
            signature: { signerId: edSigner, alg: 'EdDSA', signature: good },
          },
          422,
          'SP_SIGNATURE_INVALID',
        ],
        [
          {
            ...body,
            signature: { signerId: edSigner, alg: 'EdDSA', signature: sig.subarray(0, 63).toString('base64url') },
          },
          422,
          'SP_SIGNATURE_INVALID',
        ],
        [{ ...body, signature: { signerId: edSigner, alg: 'EdDSA', signature: sPlusL } }, 422, 'SP_SIGNATURE_INVALID'],
        [{ ...body, signature: { signerId: edSigner, alg: 'ES256', signature: good } }, 422, 'SP_SIGNATURE_INVALID'],
        [
          { ...body, signature: { signerId: 'unknown', alg: 'EdDSA', signature: good } },
          422,
          'SP_SIGNATURE_UNKNOWN_SIGNER',
        ],
        [
          { ...body, signature: { signerId: edSigner, alg: 'EdDSA', signature: good, extra: 1 } },
          400,
          'SP_REQ_VALIDATION',
        ],
      ];
      for (const [b, status, code] of cases) {
        const r = await h.request('POST', '/v1/notifications', b);
        expect([r.status, r.body.code]).toEqual([status, code]);
      }
      expect(written(h.dataDir)).toEqual(before);
      expect(
        (
          await h.request('POST', '/v1/notifications', {
            ...body,
            signature: { signerId: edSigner, alg: 'EdDSA', signature: good },
          })
        ).status,
      ).toBe(202);
      const mid = written(h.dataDir);
      const replay = await h.request('POST', '/v1/notifications', {
        ...body,
        signature: { signerId: edSigner, alg: 'EdDSA', signature: good },
      });
      expect([replay.status, replay.body.code]).toEqual([409, 'SP_SIGNATURE_REPLAYED']);
      expect(written(h.dataDir)).toEqual(mid);
    });

    it('refuses requests signed with a revoked key; earlier proofs stay verifiable', async () => {
      const body = { ...result, data: { ...result.data, testName: 'Before revocation' } };
      const sent = await h.request('POST', '/v1/notifications', {
        ...body,
        signature: { signerId: p256Signer, alg: 'ES256', signature: signBody(body, 'ES256', p256.privateKey) },
      });
      expect(sent.status).toBe(202);
      expect((await h.request('POST', `/v1/signers/${p256Signer}/revoke`)).body.revokedAt).not.toBeNull();
      const later = { ...body, data: { ...body.data, testName: 'After revocation' } };
      const r = await h.request('POST', '/v1/notifications', {
        ...later,
        signature: { signerId: p256Signer, alg: 'ES256', signature: signBody(later, 'ES256', p256.privateKey) },
      });
      expect([r.status, r.body.code]).toEqual([422, 'SP_SIGNATURE_UNKNOWN_SIGNER']);
      expect(
        verifyProof((await h.request('GET', `/v1/notifications/${sent.body.id}/proof?include=content`)).body, keys).ok,
      ).toBe(true);
    });
  });
});

describe('a retired notary key', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_KEY_REFRESH_SECONDS: '1' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h?.close());

  it(
    'publishes notBefore and retiredAt; a proof re-signed with the rotated-out key and a later createdAt is refused by `sealpost verify --keys`',
    async () => {
      const sent = await h.request('POST', '/v1/notifications', result);
      const genuine: NotificationProof = (await h.request('GET', `/v1/notifications/${sent.body.id}/proof`)).body;
      // Whoever kept a copy of the keyring holds the old key after the rotation.
      const old = LocalKeyring.openOrCreate(join(h.dataDir, 'keyring.json')).keyring.signer();
      expect(old.keyId).toBe(genuine.keyId);
      const rotated = await cli({ SEALPOST_DATA_DIR: h.dataDir }, ['keys', 'rotate', '--what', 'signing']);
      expect([rotated.code, rotated.stderr]).toEqual([0, '']);
      const newKeyId = /new current key (\S+)/.exec(rotated.stdout)![1]!;
      const keys: JwkSet = await eventually(async () => {
        const r = await h.request('GET', '/.well-known/sealpost-keys.json');
        return (
          r.body.keys.some((k: { kid: string; status: string }) => k.kid === newKeyId && k.status === 'current') &&
          r.body
        );
      }, 'the server publishes the new signing key');
      const oldJwk = keys.keys.find((k) => k.kid === old.keyId)!;
      const newJwk = keys.keys.find((k) => k.kid === newKeyId)!;
      expect(oldJwk.status).toBe('retired');
      expect(Date.parse(oldJwk.notBefore as string)).toBeLessThanOrEqual(
        Date.parse(genuine.fields.createdAt as string),
      );
      expect(Date.parse(oldJwk.retiredAt as string)).toBeGreaterThanOrEqual(Date.parse(newJwk.notBefore as string));
      expect(newJwk).not.toHaveProperty('retiredAt');

      // A genuine proof made before the rotation, and one made after it (new key), still verify.
      const later = await h.request('POST', '/v1/notifications', result);
      const fresh: NotificationProof = (await h.request('GET', `/v1/notifications/${later.body.id}/proof`)).body;
      expect(fresh.keyId).toBe(newKeyId);
      const keysFile = write('keys.json', keys);
      for (const p of [genuine, fresh]) {
        const ok = await cliVerify([write('genuine.json', p), '--keys', keysFile]);
        expect([ok.code, ok.out]).toEqual([0, expect.stringContaining('proof OK')]);
      }

      // The old key re-signs the proof dated an hour after its retirement: the signature itself verifies…
      const fields = {
        ...genuine.fields,
        createdAt: new Date(Date.parse(oldJwk.retiredAt as string) + 3_600_000).toISOString(),
      };
      const signed = canonicalize(fields)!;
      const forged = {
        ...genuine,
        fields,
        signed,
        signature: (await old.sign(Buffer.from(signed))).toString('base64url'),
      };
      expect(verifyProof(forged).ok).toBe(true);
      // …but not at that time, by the published key set.
      const cliOut = await cliVerify([write('forged.json', forged), '--keys', keysFile]);
      expect(cliOut.code).toBe(1);
      expect(cliOut.out).toContain('proof INVALID');
      expect(cliOut.out).toContain('signed after the key was retired');
    },
    CLI_TIMEOUT,
  );

  function write(name: string, value: unknown) {
    const f = join(h.dataDir, name);
    writeFileSync(f, JSON.stringify(value));
    return f;
  }
});
