import { afterAll, beforeAll, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithPassword, staffWithSession } from '../helpers/identity.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { totpCode } from '../../src/auth/totp.js';

/** The server's clock, frozen mid-step and moved by the tests: TOTP windows are then exact, not timing-dependent. */
let now = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;
const STEP = 30_000;

function base32Decode(s: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of s) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describeEachBackend('staff second factor: TOTP and recovery codes', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: token ? `Bearer ${token}` : '' });
  const auditEvents = async (action: string) =>
    (await h.request('GET', `/v1/audit/events?action=${action}&limit=500`)).body.items as {
      target: { id: string } | null;
      outcome: string;
      details: Record<string, unknown> | null;
    }[];

  async function login(p: { email: string; password: string }): Promise<{ stage: string; token: string }> {
    const r = await call('POST', '/v1/auth/login', undefined, {
      email: p.email,
      password: p.password,
      transport: 'bearer',
    });
    expect(r.status).toBe(200);
    return r.body;
  }

  /** A user who has enrolled an authenticator app; returns the seed, the active token and the recovery codes. */
  async function enrolled() {
    const p = await staffWithPassword(h, ['physician']);
    const s = await login(p);
    const setup = await call('POST', '/v1/auth/mfa/totp/setup', s.token, {});
    expect(setup.status).toBe(200);
    const confirm = await call('POST', '/v1/auth/mfa/totp/confirm', s.token, {
      code: await totpCode(setup.body.secret, now),
    });
    expect(confirm.status).toBe(200);
    now += STEP; // the confirming code's step is used up
    return {
      ...p,
      secret: setup.body.secret as string,
      token: confirm.body.token as string,
      recoveryCodes: confirm.body.recoveryCodes as string[],
    };
  }

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env, { clock: () => new Date(now) });
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  }, 120_000);

  it('enrols an authenticator app from an mfa_enrol session and rotates it to an active session with otp and mfa', async () => {
    const p = await staffWithPassword(h, ['nurse']);
    const s = await login(p);
    expect(s.stage).toBe('mfa_enrol');

    const setup = await call('POST', '/v1/auth/mfa/totp/setup', s.token, {});
    expect(setup.status).toBe(200);
    expect(setup.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(setup.body.secret)).toHaveLength(20);
    const uri = new URL(setup.body.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('issuer')).toBe('Sealpost');
    expect(uri.searchParams.get('secret')).toBe(setup.body.secret);
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Sealpost:${p.email}`);

    const confirm = await call('POST', '/v1/auth/mfa/totp/confirm', s.token, {
      code: await totpCode(setup.body.secret, now),
    });
    expect(confirm.status).toBe(200);
    expect(confirm.body.stage).toBe('active');
    expect(confirm.body.token).toMatch(/^sps_/);
    expect(confirm.body.token).not.toBe(s.token);
    expect(confirm.body.recoveryCodes).toHaveLength(10);
    expect(new Set(confirm.body.recoveryCodes).size).toBe(10);
    for (const c of confirm.body.recoveryCodes) expect(c).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);

    expect((await call('GET', '/v1/me', s.token)).status).toBe(401);
    const me = await call('GET', '/v1/me', confirm.body.token);
    expect(me.status).toBe(200);
    expect(me.body.session).toMatchObject({ stage: 'active' });
    expect(me.body.session.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    const factors = await call('GET', '/v1/auth/mfa', confirm.body.token);
    expect(factors.body).toEqual({
      displayName: p.displayName,
      totp: true,
      webauthn: false,
      recoveryCodesRemaining: 10,
    });
    expect((await auditEvents('mfa.totp_enrolled')).some((e) => e.target?.id === p.userId)).toBe(true);

    now += STEP;
    const next = await login(p);
    expect(next.stage).toBe('mfa');
  });

  it('keeps a session at the mfa stage out of every other route with 401 SP_AUTH_MFA_REQUIRED, enrolment included', async () => {
    const u = await enrolled();
    const s = await login(u);
    expect(s.stage).toBe('mfa');
    for (const [method, path] of [
      ['GET', '/v1/me/sessions'],
      ['GET', '/v1/patients/p1'],
      ['POST', '/v1/auth/mfa/totp/setup'],
      ['POST', '/v1/auth/webauthn/register/options'],
      ['POST', '/v1/auth/mfa/recovery-codes'],
    ] as const) {
      const r = await call(method, path, s.token, method === 'POST' ? {} : undefined);
      expect(r.status, path).toBe(401);
      expect(r.body.code, path).toBe('SP_AUTH_MFA_REQUIRED');
    }
    const verify = await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(u.secret, now) });
    expect(verify.status).toBe(200);
    expect(verify.body.stage).toBe('active');
    expect((await call('GET', '/v1/me/sessions', verify.body.token)).status).toBe(200);
    expect((await call('GET', '/v1/me/sessions', s.token)).status).toBe(401);
  });

  it('accepts a code from one step before or after the server time and refuses one two steps away', async () => {
    const u = await enrolled();
    for (const [offset, ok] of [
      [-2, false],
      [2, false],
      [-1, true],
      [1, true],
    ] as const) {
      now += 3 * STEP; // past every step an earlier iteration used
      const s = await login(u);
      const r = await call('POST', '/v1/auth/mfa/totp/verify', s.token, {
        code: await totpCode(u.secret, now + offset * STEP),
      });
      expect(r.status, `offset ${offset}`).toBe(ok ? 200 : 401);
      if (!ok) expect(r.body.code).toBe('SP_AUTH_MFA_FAILED');
    }
  });

  it('refuses a code replayed within its window, and an earlier step once a later one was used', async () => {
    const u = await enrolled();
    const code = await totpCode(u.secret, now);
    const first = await call('POST', '/v1/auth/mfa/totp/verify', (await login(u)).token, { code });
    expect(first.status).toBe(200);

    const again = await login(u);
    const replay = await call('POST', '/v1/auth/mfa/totp/verify', again.token, { code });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('SP_AUTH_MFA_FAILED');
    expect((await call('GET', '/v1/me', again.token)).body.session.stage).toBe('mfa');
    // Still inside the window of the previous step, but that step is older than the one accepted.
    const older = await call('POST', '/v1/auth/mfa/totp/verify', again.token, {
      code: await totpCode(u.secret, now - STEP),
    });
    expect(older.status).toBe(401);

    now += STEP;
    const fresh = await call('POST', '/v1/auth/mfa/totp/verify', again.token, { code: await totpCode(u.secret, now) });
    expect(fresh.status).toBe(200);
  });

  it('signs in with a recovery code once, says how many remain, and refuses the same code again', async () => {
    const u = await enrolled();
    const s = await login(u);
    const r = await call('POST', '/v1/auth/mfa/recovery', s.token, {
      code: u.recoveryCodes[3].toLowerCase().replace(/-/g, ' '),
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ stage: 'active', recoveryCodesRemaining: 9 });
    expect((await call('GET', '/v1/me', r.body.token)).body.session.stage).toBe('active');
    const used = (await auditEvents('mfa.recovery_code_used')).find((e) => e.target?.id === u.userId);
    expect(used?.details).toEqual({ remaining: 9 });

    const s2 = await login(u);
    const again = await call('POST', '/v1/auth/mfa/recovery', s2.token, { code: u.recoveryCodes[3] });
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('SP_AUTH_MFA_FAILED');
    expect((await call('GET', '/v1/auth/mfa', r.body.token)).body.recoveryCodesRemaining).toBe(9);
  });

  it('regenerates recovery codes for an active session and the earlier codes stop working', async () => {
    const u = await enrolled();
    const regen = await call('POST', '/v1/auth/mfa/recovery-codes', u.token, {});
    expect(regen.status).toBe(200);
    expect(regen.body.recoveryCodes).toHaveLength(10);
    const s = await login(u);
    expect((await call('POST', '/v1/auth/mfa/recovery', s.token, { code: u.recoveryCodes[0] })).status).toBe(401);
    expect((await call('POST', '/v1/auth/mfa/recovery', s.token, { code: regen.body.recoveryCodes[0] })).status).toBe(
      200,
    );
  });

  it('stores the seed only as ciphertext: neither its base32 form nor its bytes are in any table or any file of the data directory', async () => {
    const u = await enrolled();
    // A seed shown at setup and never confirmed is at rest too (pending, in auth_challenges).
    const pending = (await call('POST', '/v1/auth/mfa/totp/setup', u.token, {})).body.secret as string;
    for (const secret of [u.secret, pending]) {
      const raw = base32Decode(secret);
      const forms = [
        Buffer.from(secret),
        Buffer.from(secret.toLowerCase()),
        raw,
        Buffer.from(raw.toString('hex')),
        Buffer.from(raw.toString('base64')),
      ];
      for (const table of await db.tables()) {
        for (const row of await db.query(`select * from ${table}`)) {
          for (const v of Object.values(row)) {
            const bytes = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
            for (const f of forms) expect(bytes.includes(f), table).toBe(false);
          }
        }
      }
      for (const file of [...filesUnder(h.app.config.dataDir), h.logFile]) {
        const bytes = readFileSync(file);
        for (const f of forms) expect(bytes.includes(f), file).toBe(false);
      }
    }
    const stored = await db.query<{ secret_ct: Buffer }>(
      `select secret_ct from mfa_totp where user_id = '${u.userId}'`,
    );
    expect(stored).toHaveLength(1);
    expect(stored[0].secret_ct.length).toBeGreaterThan(32);
  });

  it('audits every wrong code and changes nothing: the session stays at mfa and the right code still works', async () => {
    const u = await enrolled();
    const s = await login(u);
    const sessionId = (await call('GET', '/v1/me', s.token)).body.session.id;
    for (const code of ['000000', 'abc', '1234567']) {
      const r = await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('SP_AUTH_MFA_FAILED');
      expect(r.text).not.toContain(u.secret);
    }
    const failures = (await auditEvents('auth.mfa_failed')).filter((e) => e.target?.id === sessionId);
    expect(failures.map((e) => [e.outcome, e.details?.failures]).sort()).toEqual([
      ['failure', 1],
      ['failure', 2],
      ['failure', 3],
    ]);
    expect((await call('GET', '/v1/me', s.token)).body.session.stage).toBe('mfa');
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(u.secret, now) })).status,
    ).toBe(200);
  });

  it('revokes the session after five wrong second factors, alerts administrators and counts toward the account lockout', async () => {
    const u = await enrolled();
    const s = await login(u);
    const sessionId = (await call('GET', '/v1/me', s.token)).body.session.id;
    for (let i = 0; i < 5; i++) {
      const r = await call('POST', '/v1/auth/mfa/recovery', s.token, { code: 'AAAA-AAAA-AAAA-AAAA' });
      expect(r.body.code).toBe('SP_AUTH_MFA_FAILED');
    }
    const after = await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(u.secret, now) });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('SP_AUTH_UNAUTHENTICATED');
    expect(
      (await auditEvents('session.revoked')).some(
        (e) => e.target?.id === sessionId && e.details?.reason === 'mfa_failures',
      ),
    ).toBe(true);
    const alerts = (await h.request('GET', '/v1/security-alerts')).body.items as { kind: string; targetId: string }[];
    expect(alerts.some((a) => a.kind === 'mfa_failures' && a.targetId === u.userId)).toBe(true);
    // The lockout threshold (5 by default) counts second-factor failures too.
    expect(alerts.some((a) => a.kind === 'account_locked' && a.targetId === u.userId)).toBe(true);
    expect((await call('POST', '/v1/auth/login', undefined, { email: u.email, password: u.password })).status).toBe(
      401,
    );
  });

  it('refuses sign-in steps to sessions that are not waiting for them and to callers without a staff session', async () => {
    const u = await enrolled();
    const active = await call('POST', '/v1/auth/mfa/totp/verify', u.token, { code: await totpCode(u.secret, now) });
    expect(active.status).toBe(409);
    expect(active.body.code).toBe('SP_AUTH_MFA_NOT_PENDING');
    const key = await h.request('POST', '/v1/auth/mfa/totp/setup', {});
    expect(key.status).toBe(403);
    expect(key.body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await call('POST', '/v1/auth/mfa/totp/verify', undefined, { code: '123456' })).status).toBe(401);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', `sps_${'A'.repeat(43)}`, { code: '123456' })).body.code,
    ).toBe('SP_AUTH_UNAUTHENTICATED');
    const bad = await call('POST', '/v1/auth/mfa/totp/confirm', u.token, { code: 123456 });
    expect(bad.status).toBe(400);
  });

  it('does not confirm a seed without a setup in the same session, and a wrong first code leaves no factor behind', async () => {
    const p = await staffWithPassword(h, ['billing']);
    const s = await login(p);
    const none = await call('POST', '/v1/auth/mfa/totp/confirm', s.token, { code: '123456' });
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('SP_AUTH_MFA_FAILED');
    const setup = await call('POST', '/v1/auth/mfa/totp/setup', s.token, {});
    const wrong = await call('POST', '/v1/auth/mfa/totp/confirm', s.token, {
      code: await totpCode(setup.body.secret, now + 5 * STEP),
    });
    expect(wrong.status).toBe(401);
    const f = await call('GET', '/v1/auth/mfa', s.token);
    expect(f.body).toMatchObject({ totp: false, webauthn: false, recoveryCodesRemaining: 0 });
    expect((await call('GET', '/v1/me', s.token)).body.session.stage).toBe('mfa_enrol');
  });

  it('lets an active session re-enrol an authenticator app; the old seed works until the new one is confirmed', async () => {
    const u = await enrolled();
    const person = await staffWithSession(h, ['admin']);
    expect((await call('POST', '/v1/auth/mfa/totp/setup', person.token, {})).status).toBe(200);
    const setup = await call('POST', '/v1/auth/mfa/totp/setup', u.token, {});
    const s = await login(u);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(u.secret, now) })).status,
    ).toBe(200);
    now += STEP;
    const confirm = await call('POST', '/v1/auth/mfa/totp/confirm', u.token, {
      code: await totpCode(setup.body.secret, now),
    });
    expect(confirm.status).toBe(200);
    expect(confirm.body.stage).toBe('active');
    expect(confirm.body.token).toBeUndefined();
    expect(confirm.body.recoveryCodes).toBeUndefined();
    now += STEP;
    const s2 = await login(u);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', s2.token, { code: await totpCode(u.secret, now) })).status,
    ).toBe(401);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', s2.token, { code: await totpCode(setup.body.secret, now) }))
        .status,
    ).toBe(200);
  });

  it('asks an active session for a recent second factor before it changes factors, so a stolen session cannot swap them', async () => {
    const u = await enrolled();
    now += 11 * 60_000;
    for (const path of [
      '/v1/auth/mfa/totp/setup',
      '/v1/auth/mfa/recovery-codes',
      '/v1/auth/webauthn/register/options',
    ]) {
      const r = await call('POST', path, u.token, {});
      expect([path, r.status, r.body.code]).toEqual([path, 401, 'SP_AUTH_MFA_STALE']);
    }
    // Signing in again with the second factor makes it recent.
    const s = await login(u);
    const fresh = await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(u.secret, now) });
    expect(fresh.status).toBe(200);
    now += STEP;
    expect((await call('POST', '/v1/auth/mfa/totp/setup', fresh.body.token, {})).status).toBe(200);
  });

  it('counts wrong codes toward the lockout until the second factor passes: a correct password alone does not clear the count', async () => {
    const u = await enrolled();
    const failures = async () => Number((await h.app.store.read.users.byId('default', u.userId))!.failed_logins);
    const first = await login(u);
    for (let i = 0; i < 2; i++)
      expect((await call('POST', '/v1/auth/mfa/totp/verify', first.token, { code: '000000' })).status).toBe(401);
    expect(await failures()).toBe(2);
    const second = await login(u);
    expect(await failures()).toBe(2);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', second.token, { code: await totpCode(u.secret, now) })).status,
    ).toBe(200);
    expect(await failures()).toBe(0);
  });
  it('completes one sign-in only when a TOTP code and a recovery code race on one session: one active session, no recovery code burned for nothing', async () => {
    const u = await enrolled();
    const s = await login(u);
    const [a, b] = await Promise.all([
      call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(u.secret, now) }),
      call('POST', '/v1/auth/mfa/recovery', s.token, { code: u.recoveryCodes[0] }),
    ]);
    expect([a.status, b.status].filter((x) => x === 200)).toHaveLength(1);
    const live = await db.query<{ n: number | string }>(
      `select count(*) as n from sessions where subject_id = '${u.userId}' and stage = 'active' and revoked_at is null`,
    );
    // The enrolment session was rotated at confirmation; one more active session from this race.
    expect(Number(live[0]!.n)).toBe(2);
    const remaining = (await call('GET', '/v1/auth/mfa', u.token)).body.recoveryCodesRemaining;
    expect(remaining).toBe(b.status === 200 ? 9 : 10);
  });
  it("ends a password-only session kept from before the first enrolment: it can neither replace the seed nor become active, and the user's factor and recovery codes keep working", async () => {
    const p = await staffWithPassword(h, ['nurse']);
    const kept = await login(p);
    const keptId = (await call('GET', '/v1/me', kept.token)).body.session.id;
    const keptSetup = await call('POST', '/v1/auth/mfa/totp/setup', kept.token, {});
    expect(keptSetup.status).toBe(200);

    const own = await login(p);
    const setup = await call('POST', '/v1/auth/mfa/totp/setup', own.token, {});
    const confirm = await call('POST', '/v1/auth/mfa/totp/confirm', own.token, {
      code: await totpCode(setup.body.secret, now),
    });
    expect(confirm.status).toBe(200);
    now += STEP;

    const takeover = await call('POST', '/v1/auth/mfa/totp/confirm', kept.token, {
      code: await totpCode(keptSetup.body.secret, now),
    });
    expect([takeover.status, takeover.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
    expect((await call('POST', '/v1/auth/mfa/totp/setup', kept.token, {})).status).toBe(401);
    expect((await call('POST', '/v1/auth/webauthn/register/options', kept.token, {})).status).toBe(401);
    expect(
      (await auditEvents('session.revoked')).some(
        (e) => e.target?.id === keptId && e.details?.reason === 'factor_enrolled',
      ),
    ).toBe(true);

    expect((await call('GET', '/v1/auth/mfa', confirm.body.token)).body).toMatchObject({
      totp: true,
      recoveryCodesRemaining: 10,
    });
    const again = await login(p);
    expect(again.stage).toBe('mfa');
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', again.token, { code: await totpCode(setup.body.secret, now) }))
        .status,
    ).toBe(200);
    now += STEP;
  });

  it('lets one of two password-only sessions racing to enrol a first factor win; the other is refused and changes nothing', async () => {
    const p = await staffWithPassword(h, ['nurse']);
    const [a, b] = [await login(p), await login(p)];
    const [sa, sb] = [
      await call('POST', '/v1/auth/mfa/totp/setup', a.token, {}),
      await call('POST', '/v1/auth/mfa/totp/setup', b.token, {}),
    ];
    const [ra, rb] = await Promise.all([
      call('POST', '/v1/auth/mfa/totp/confirm', a.token, { code: await totpCode(sa.body.secret, now) }),
      call('POST', '/v1/auth/mfa/totp/confirm', b.token, { code: await totpCode(sb.body.secret, now) }),
    ]);
    const outcomes = [ra, rb].map((r) => (r.status === 200 ? 'won' : `${r.status} ${r.body.code}`));
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(['401 SP_AUTH_UNAUTHENTICATED', '409 SP_AUTH_MFA_NOT_PENDING']).toContain(outcomes.find((o) => o !== 'won'));
    const [winner, loser] = ra.status === 200 ? [sa, sb] : [sb, sa];
    const won = ra.status === 200 ? ra : rb;
    now += STEP;
    expect((await call('GET', '/v1/auth/mfa', won.body.token)).body).toMatchObject({
      totp: true,
      recoveryCodesRemaining: 10,
    });
    const s = await login(p);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(loser.body.secret, now) }))
        .status,
    ).toBe(401);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', s.token, { code: await totpCode(winner.body.secret, now) }))
        .status,
    ).toBe(200);
    now += STEP;
  });

  it('refuses and revokes a session left at a sign-in step for fifteen minutes, however recently it was used', async () => {
    const u = await enrolled();
    const pending = await login(u);
    const fresh = await login(await staffWithPassword(h, ['nurse']));
    const ids = await Promise.all(
      [pending, fresh].map(async (s) => (await call('GET', '/v1/me', s.token)).body.session.id as string),
    );
    now += 14 * 60_000;
    expect((await call('GET', '/v1/me', pending.token)).status).toBe(200);
    expect((await call('GET', '/v1/me', fresh.token)).status).toBe(200);
    now += 60_000;
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', pending.token, { code: await totpCode(u.secret, now) })).status,
    ).toBe(401);
    expect((await call('POST', '/v1/auth/mfa/totp/setup', fresh.token, {})).status).toBe(401);
    const rows = await db.query<{ revoked_reason: string | null }>(
      `select revoked_reason from sessions where id in ('${ids[0]}', '${ids[1]}')`,
    );
    expect(rows.map((r) => r.revoked_reason)).toEqual(['sign_in_step_expired', 'sign_in_step_expired']);
    // Signing in again starts a new step.
    const again = await login(u);
    expect(
      (await call('POST', '/v1/auth/mfa/totp/verify', again.token, { code: await totpCode(u.secret, now) })).status,
    ).toBe(200);
    now += STEP;
  });
  it('evaluates at most five of twenty wrong codes sent at once to one session, and refuses the rest without looking at them', async () => {
    const u = await enrolled();
    const s = await login(u);
    const sessionId = (await call('GET', '/v1/me', s.token)).body.session.id;
    const wrong = Array.from({ length: 20 }, (_, i) =>
      String((Number(u.secret.length) * 7919 + i * 104729) % 1_000_000).padStart(6, '0'),
    );
    const answers = await Promise.all(wrong.map((code) => call('POST', '/v1/auth/mfa/totp/verify', s.token, { code })));
    for (const r of answers) expect(r.status).toBe(401);
    const evaluated = (await auditEvents('auth.mfa_failed')).filter((e) => e.target?.id === sessionId);
    expect(evaluated.length).toBeLessThanOrEqual(5);
    expect(evaluated.length).toBeGreaterThan(0);
    expect((await call('GET', '/v1/me', s.token)).status).toBe(401);
  });
});
