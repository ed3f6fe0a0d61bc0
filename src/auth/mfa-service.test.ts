import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_MFA_FAILURES, userKeyName } from './mfa-service.js';
import { RECOVERY_CODE_COUNT, totpCode, totpStep } from './totp.js';
import { DAYTIME, refusal } from '../../test/helpers/in-memory-core.js';
import { authFixture, secretVisible, type AuthFixture } from '../../test/helpers/in-memory-auth.js';
import type { UserRow } from '../store/repositories/user-repository.js';

const STEP = 30_000;
/** 10 s into a 30-second step: codes of the neighbouring steps are exactly one step away. */
const MID_STEP = DAYTIME + 10_000;

let f: AuthFixture;
beforeEach(() => {
  f = authFixture({ SEALPOST_LOCKOUT_THRESHOLD: '10' });
  f.setNow(MID_STEP);
});
afterEach(() => f.cleanup());

const later = (ms: number) => f.setNow(f.now() + ms);
const auditSince = (n: number) => f.store.audit.slice(n).map((a) => a.event);
const codeAt = (secret: string, ms: number) => totpCode(secret, ms);
/** A well-formed code that is none of the codes the window around now accepts. */
async function wrongCode(secret: string): Promise<string> {
  const near = await Promise.all([-1, 0, 1].map((d) => codeAt(secret, f.now() + d * STEP)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!near.includes(code)) return code;
  }
}
/** The identity tables a refused factor change must leave as they were. */
const factorTables = () => {
  const d = f.store.dump().tables;
  return { mfaTotp: d.mfaTotp, recoveryCodes: d.recoveryCodes, sessions: d.sessions, dataKeys: d.dataKeys };
};

/** A user who enrolled an authenticator app from a first sign-in; the session is now active. */
async function enrolled(over: Partial<UserRow> = {}) {
  const user = await f.addUser({ password_hash: null, ...over });
  const first = await f.issueSession(user.id, 'mfa_enrol');
  const c = f.caller(user.id, first.id);
  const { secret } = await f.mfa.startTotp(c);
  const { session, recoveryCodes } = await f.mfa.confirmTotp(c, await codeAt(secret, f.now()));
  return { user, secret, recoveryCodes: recoveryCodes!, active: f.sessionByToken(session.token!)! };
}

/** A new sign-in of `userId` that passed the password and waits for the second factor. */
async function pending(userId: string) {
  const s = await f.issueSession(userId, 'mfa');
  return f.caller(userId, s.id);
}

describe('MfaService TOTP enrolment', () => {
  it('holds a new seed encrypted until a first code confirms it; then the sign-in completes with recovery codes', async () => {
    const user = await f.addUser({ password_hash: null });
    const s = await f.issueSession(user.id, 'mfa_enrol');
    const c = f.caller(user.id, s.id);
    const n = f.store.audit.length;

    const { secret, otpauthUri } = await f.mfa.startTotp(c);

    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(otpauthUri).toContain(`secret=${secret}`);
    expect(decodeURIComponent(otpauthUri)).toContain(user.email);
    expect([...f.store.tables.challenges.values()]).toMatchObject([
      { purpose: 'totp_enrol', subject: s.id, used_at: null, expires_at: f.now() + 10 * 60_000 },
    ]);
    expect(f.store.tables.dataKeys.has(`default\u0000${userKeyName(user.id)}`)).toBe(true);
    expect(f.store.tables.mfaTotp.size).toBe(0);
    expect(secretVisible(f, secret)).toBe(false);

    later(STEP);
    const { session, recoveryCodes } = await f.mfa.confirmTotp(c, await codeAt(secret, f.now()));

    expect(session).toMatchObject({ stage: 'active', transport: 'bearer' });
    const active = f.sessionByToken(session.token!)!;
    expect(active).toMatchObject({ stage: 'active', amr: 'pwd otp mfa', mfa_at: f.now(), revoked_at: null });
    // Rotation: the password-only session ends, the absolute deadline stays.
    expect(f.store.tables.sessions.get(s.id)).toMatchObject({ revoked_reason: 'rotated' });
    expect(active.expires_at).toBe(f.store.tables.sessions.get(s.id)!.expires_at);
    expect(f.store.tables.mfaTotp.get(user.id)).toMatchObject({
      confirmed_at: f.now(),
      last_step: totpStep(f.now()),
    });
    expect(recoveryCodes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(recoveryCodes).size).toBe(RECOVERY_CODE_COUNT);
    expect(f.store.tables.recoveryCodes.size).toBe(RECOVERY_CODE_COUNT);
    expect(auditSince(n).map((e) => e.action)).toEqual([
      'mfa.totp_setup_started',
      'mfa.totp_enrolled',
      'mfa.recovery_codes_issued',
      'auth.mfa_verified',
    ]);
    expect(auditSince(n).at(-1)).toMatchObject({
      targetId: active.id,
      details: { method: 'totp', previousSession: s.id },
    });
    // Neither the seed nor a recovery code is anywhere in clear: tables, audit entries, logs.
    for (const secretValue of [secret, ...recoveryCodes!, ...recoveryCodes!.map((r) => r.replace(/-/g, ''))])
      expect(secretVisible(f, secretValue)).toBe(false);
  });

  it('refuses a wrong first code, a seed left for more than ten minutes, and a second confirmation of the same seed', async () => {
    const user = await f.addUser({ password_hash: null });
    const s = await f.issueSession(user.id, 'mfa_enrol');
    const c = f.caller(user.id, s.id);
    const { secret } = await f.mfa.startTotp(c);

    // Four wrong answers: the fifth would end the session (see below).
    for (const wrong of [await wrongCode(secret), '12345', 'abcdef', await codeAt(secret, f.now() + 5 * STEP)])
      expect((await refusal(f.mfa.confirmTotp(c, wrong))).code).toBe('SP_AUTH_MFA_FAILED');
    expect(f.store.tables.mfaTotp.size).toBe(0);
    expect(f.store.tables.sessions.get(s.id)).toMatchObject({ stage: 'mfa_enrol', revoked_at: null });

    // A fresh seed (the wrong guesses above used up this session's attempts) that waits too long.
    const again = await f.issueSession(user.id, 'mfa_enrol');
    const c2 = f.caller(user.id, again.id);
    const { secret: late } = await f.mfa.startTotp(c2);
    later(10 * 60_000);
    expect((await refusal(f.mfa.confirmTotp(c2, await codeAt(late, f.now())))).code).toBe('SP_AUTH_MFA_FAILED');
    expect(f.store.tables.mfaTotp.size).toBe(0);
  });

  it('lets a session at the enrolment step enrol the first factor only; a factor enrolled meanwhile ends it', async () => {
    const user = await f.addUser({ password_hash: null });
    const early = f.caller(user.id, (await f.issueSession(user.id, 'mfa_enrol')).id);
    await f.mfa.startTotp(early);
    const winner = f.caller(user.id, (await f.issueSession(user.id, 'mfa_enrol')).id);
    const { secret } = await f.mfa.startTotp(winner);
    const { session } = await f.mfa.confirmTotp(winner, await codeAt(secret, f.now()));
    expect(session.stage).toBe('active');
    // The other password-only session is revoked by the first factor: it never proved it.
    expect(f.store.tables.sessions.get(early.sessionId)).toMatchObject({ revoked_reason: 'factor_enrolled' });

    // A password-only session kept from before the factor existed may not replace it.
    const kept = await f.issueSession(user.id, 'mfa_enrol');
    const c = f.caller(user.id, kept.id);
    const before = factorTables();
    const n = f.store.audit.length;
    expect((await refusal(f.mfa.startTotp(c))).code).toBe('SP_AUTH_MFA_NOT_PENDING');
    expect((await refusal(f.mfa.confirmTotp(c, await codeAt(secret, f.now() + STEP)))).code).toBe(
      'SP_AUTH_MFA_NOT_PENDING',
    );
    expect(factorTables()).toEqual(before);
    expect(auditSince(n)).toEqual([]);
    // …and the refused attempt did not count against the session.
    expect(f.store.tables.challenges.get(`mfa-failures:${kept.id}`)).toMatchObject({ attempts: 0 });
  });

  it('lets a sign-in waiting for its second factor enrol nothing, changing nothing', async () => {
    const { user, secret } = await enrolled();
    const c = await pending(user.id);
    const before = factorTables();
    const n = f.store.audit.length;
    expect((await refusal(f.mfa.startTotp(c))).code).toBe('SP_AUTH_MFA_REQUIRED');
    expect((await refusal(f.mfa.confirmTotp(c, await codeAt(secret, f.now())))).code).toBe('SP_AUTH_MFA_REQUIRED');
    expect(factorTables()).toEqual(before);
    expect(auditSince(n)).toEqual([]);
    // The session still completes its sign-in with the enrolled factor.
    later(STEP);
    await f.mfa.verifyTotpSignIn(c, await codeAt(secret, f.now()));
  });

  it('re-enrols from an active session: the new seed replaces the old, the session and recovery codes stay', async () => {
    const { user, secret: old, recoveryCodes, active } = await enrolled();
    const c = f.caller(user.id, active.id);
    later(STEP);
    const { secret } = await f.mfa.startTotp(c);
    // The confirmed seed keeps working until the new one is confirmed.
    await f.mfa.verifyTotpSignIn(await pending(user.id), await codeAt(old, f.now()));

    const out = await f.mfa.confirmTotp(c, await codeAt(secret, f.now()));

    expect(out).toEqual({
      session: { stage: 'active', expiresAt: new Date(Number(active.expires_at)), transport: 'bearer' },
    });
    expect(f.store.tables.sessions.get(active.id)!.revoked_at).toBeNull();
    expect(f.store.tables.recoveryCodes.size).toBe(recoveryCodes.length);
    later(STEP);
    expect((await refusal(f.mfa.verifyTotpSignIn(await pending(user.id), await codeAt(old, f.now())))).code).toBe(
      'SP_AUTH_MFA_FAILED',
    );
    await f.mfa.verifyTotpSignIn(await pending(user.id), await codeAt(secret, f.now()));
  });
});

describe('MfaService TOTP sign-in', () => {
  it('completes a pending sign-in with a code: a new active session, the lockout count cleared', async () => {
    const { user, secret } = await enrolled({ failed_logins: 2 });
    const c = await pending(user.id);
    later(STEP);
    const n = f.store.audit.length;

    const out = await f.mfa.verifyTotpSignIn(c, await codeAt(secret, f.now()));

    expect(out.stage).toBe('active');
    expect(f.sessionByToken(out.token!)).toMatchObject({ stage: 'active', amr: 'pwd otp mfa', mfa_at: f.now() });
    expect(f.store.tables.sessions.get(c.sessionId)).toMatchObject({ revoked_reason: 'rotated' });
    expect(f.user(user.id).failed_logins).toBe(0);
    expect(auditSince(n)).toMatchObject([{ action: 'auth.mfa_verified', details: { method: 'totp' } }]);
  });

  it('accepts a code once: not again, not in another session, and not the one that confirmed the seed', async () => {
    const { user, secret } = await enrolled();
    const enrolmentCode = await codeAt(secret, f.now());
    expect((await refusal(f.mfa.verifyTotpSignIn(await pending(user.id), enrolmentCode))).code).toBe(
      'SP_AUTH_MFA_FAILED',
    );

    later(STEP);
    const code = await codeAt(secret, f.now());
    await f.mfa.verifyTotpSignIn(await pending(user.id), code);
    const lastStep = f.store.tables.mfaTotp.get(user.id)!.last_step;

    const replay = await pending(user.id);
    expect((await refusal(f.mfa.verifyTotpSignIn(replay, code))).code).toBe('SP_AUTH_MFA_FAILED');
    expect(f.store.tables.sessions.get(replay.sessionId)).toMatchObject({ stage: 'mfa', revoked_at: null });
    expect(f.store.tables.mfaTotp.get(user.id)!.last_step).toBe(lastStep);
  });

  it('accepts the codes of one step either side of the server clock, and none further', async () => {
    const { user, secret } = await enrolled();
    later(20 * STEP);
    const now = f.now();
    const attempt = async (steps: number) =>
      f.mfa
        .verifyTotpSignIn(await pending(user.id), await codeAt(secret, now + steps * STEP))
        .then(() => 'accepted')
        .catch((e: { code: string }) => e.code);

    // Oldest first: an accepted step also refuses every earlier one afterwards.
    expect(await attempt(-2)).toBe('SP_AUTH_MFA_FAILED');
    expect(await attempt(+2)).toBe('SP_AUTH_MFA_FAILED');
    expect(await attempt(-1)).toBe('accepted');
    expect(await attempt(0)).toBe('accepted');
    expect(await attempt(+1)).toBe('accepted');
    expect(f.store.tables.mfaTotp.get(user.id)!.last_step).toBe(totpStep(now) + 1);
  });

  it('refuses malformed codes and a session that is not waiting for a second factor, changing nothing', async () => {
    const { user, secret, active } = await enrolled();
    for (const bad of ['', '12345', '1234567', 'abcdef', ' 123456', '12 345'])
      expect((await refusal(f.mfa.verifyTotpSignIn(await pending(user.id), bad))).code).toBe('SP_AUTH_MFA_FAILED');
    const c = await pending(user.id);

    later(STEP);
    const before = factorTables();
    const n = f.store.audit.length;
    const code = await codeAt(secret, f.now());
    const enrolling = f.caller(user.id, (await f.issueSession(user.id, 'mfa_enrol')).id);
    const after = factorTables();
    for (const caller of [f.caller(user.id, active.id), enrolling])
      expect((await refusal(f.mfa.verifyTotpSignIn(caller, code))).code).toBe('SP_AUTH_MFA_NOT_PENDING');
    const revoked = await pending(user.id);
    await f.store.transaction((tx) => f.sessions.revoke(tx, f.tenantId, revoked.sessionId, 'logout'));
    expect((await refusal(f.mfa.verifyTotpSignIn(revoked, code))).code).toBe('SP_AUTH_UNAUTHENTICATED');
    const other = await f.addUser({ password_hash: null });
    expect((await refusal(f.mfa.verifyTotpSignIn(f.caller(other.id, c.sessionId), code))).code).toBe(
      'SP_AUTH_UNAUTHENTICATED',
    );

    expect(factorTables().mfaTotp).toEqual(before.mfaTotp);
    expect(factorTables().sessions.length).toBe(after.sessions.length + 1);
    expect(auditSince(n).map((e) => e.action)).toEqual([]);
    // The code was never spent: it still signs the pending session in.
    await f.mfa.verifyTotpSignIn(c, code);
  });
});

describe('MfaService recovery codes', () => {
  it('signs in once with each code, however it is typed; a used or unknown code is refused', async () => {
    const { user, recoveryCodes } = await enrolled();
    const [code, next] = recoveryCodes;
    const n = f.store.audit.length;

    const out = await f.mfa.useRecoveryCode(await pending(user.id), ` ${code.toLowerCase().replace(/-/g, ' ')} `);

    expect(out.remaining).toBe(RECOVERY_CODE_COUNT - 1);
    expect(f.sessionByToken(out.session.token!)).toMatchObject({ stage: 'active', amr: 'pwd otp mfa' });
    expect(auditSince(n)).toMatchObject([
      { action: 'mfa.recovery_code_used', details: { remaining: RECOVERY_CODE_COUNT - 1 } },
      { action: 'auth.mfa_verified', details: { method: 'recovery_code' } },
    ]);

    const c = await pending(user.id);
    for (const bad of [code, 'AAAA-BBBB-CCCC-DDDD', 'not a code', ''])
      expect((await refusal(f.mfa.useRecoveryCode(c, bad))).code).toBe('SP_AUTH_MFA_FAILED');
    expect(await f.store.read.mfa.unusedRecoveryCodes(f.tenantId, user.id)).toBe(RECOVERY_CODE_COUNT - 1);
    expect((await f.mfa.useRecoveryCode(c, next)).remaining).toBe(RECOVERY_CODE_COUNT - 2);
  });

  it('issues new codes on request, and every earlier code stops working; none without a factor', async () => {
    const { user, recoveryCodes, active } = await enrolled();
    const fresh = await f.mfa.regenerateRecoveryCodes(f.caller(user.id, active.id));
    expect(fresh).toHaveLength(RECOVERY_CODE_COUNT);
    expect(fresh.some((c) => recoveryCodes.includes(c))).toBe(false);
    expect((await refusal(f.mfa.useRecoveryCode(await pending(user.id), recoveryCodes[0]))).code).toBe(
      'SP_AUTH_MFA_FAILED',
    );
    await f.mfa.useRecoveryCode(await pending(user.id), fresh[0]);

    const none = await f.addUser({ password_hash: null });
    const s = await f.issueSession(none.id, 'mfa_enrol');
    expect((await refusal(f.mfa.regenerateRecoveryCodes(f.caller(none.id, s.id)))).code).toBe(
      'SP_AUTH_MFA_NOT_ENROLLED',
    );
    expect(await f.store.read.mfa.unusedRecoveryCodes(f.tenantId, none.id)).toBe(0);
  });

  it('proves a step-up with a fresh TOTP code or a recovery code, each once, without auditing', async () => {
    const { user, secret, recoveryCodes, active } = await enrolled();
    const ctx = f.caller(user.id, active.id).ctx;
    later(STEP);
    const code = await codeAt(secret, f.now());
    const stepUp = (proof: { totp?: string; recoveryCode?: string }) =>
      f.store.transaction((tx) => f.mfa.verifyStepUp(tx, ctx, user.id, proof));
    const n = f.store.audit.length;

    expect(await stepUp({ totp: code })).toBe(true);
    expect(await stepUp({ totp: code })).toBe(false);
    expect(await stepUp({ recoveryCode: recoveryCodes[0] })).toBe(true);
    expect(await stepUp({ recoveryCode: recoveryCodes[0] })).toBe(false);
    expect(await stepUp({})).toBe(false);
    expect(auditSince(n)).toEqual([]);
  });
});

describe('MfaService failures', () => {
  it('revokes the session at its fifth wrong answer with an admin alert, and refuses further attempts unseen', async () => {
    const { user, secret } = await enrolled();
    const c = await pending(user.id);
    const wrong = await wrongCode(secret);
    for (let i = 1; i < MAX_MFA_FAILURES; i++) await refusal(f.mfa.verifyTotpSignIn(c, wrong));
    expect(f.store.tables.sessions.get(c.sessionId)!.revoked_at).toBeNull();
    const n = f.store.audit.length;

    await refusal(f.mfa.verifyTotpSignIn(c, wrong));

    expect(f.store.tables.sessions.get(c.sessionId)).toMatchObject({ revoked_reason: 'mfa_failures' });
    expect(auditSince(n)).toMatchObject([
      { action: 'auth.mfa_failed', outcome: 'failure', details: { method: 'totp', failures: MAX_MFA_FAILURES } },
      { action: 'session.revoked', details: { reason: 'mfa_failures', failures: MAX_MFA_FAILURES } },
    ]);
    expect([...f.store.tables.adminAlerts.values()]).toMatchObject([
      { kind: 'mfa_failures', target_type: 'user', target_id: user.id, actor: `user:${user.id}` },
    ]);

    // Beyond the limit the answer is not even looked at: the right code is refused too.
    later(STEP);
    const m = f.store.audit.length;
    const e = await refusal(f.mfa.verifyTotpSignIn(c, await codeAt(secret, f.now())));
    expect(e.code).toBe('SP_AUTH_MFA_FAILED');
    expect(auditSince(m)).toMatchObject([{ action: 'auth.mfa_throttled', details: { method: 'totp' } }]);
    expect(f.store.tables.challenges.get(`mfa-failures:${c.sessionId}`)).toMatchObject({
      attempts: MAX_MFA_FAILURES,
    });
  });

  it('counts each wrong second factor toward the account lockout (the onAccountFailure hook)', async () => {
    f.cleanup();
    f = authFixture({ SEALPOST_LOCKOUT_THRESHOLD: '3' });
    f.setNow(MID_STEP);
    const { user, secret, active } = await enrolled();
    const c = await pending(user.id);
    const wrong = await wrongCode(secret);
    await refusal(f.mfa.verifyTotpSignIn(c, wrong));
    await refusal(f.mfa.useRecoveryCode(c, 'AAAA-BBBB-CCCC-DDDD'));
    expect(f.user(user.id)).toMatchObject({ status: 'active', failed_logins: 2 });
    const n = f.store.audit.length;

    await refusal(f.mfa.verifyTotpSignIn(c, wrong));

    expect(f.user(user.id)).toMatchObject({ status: 'locked', failed_logins: 3 });
    expect(auditSince(n)).toMatchObject([
      { action: 'auth.mfa_failed', details: { failures: 3 } },
      { action: 'user.locked', actor: 'system:lockout', details: { failures: 3, sessionsRevoked: 2 } },
    ]);
    for (const id of [c.sessionId, active.id])
      expect(f.store.tables.sessions.get(id)).toMatchObject({ revoked_reason: 'locked' });
    expect([...f.store.tables.adminAlerts.values()].map((a) => a.kind)).toEqual(['account_locked']);
  });

  it('writes no seed, code or recovery code into an audit entry', async () => {
    const { user, secret, recoveryCodes } = await enrolled();
    later(STEP);
    const code = await codeAt(secret, f.now());
    await refusal(f.mfa.useRecoveryCode(await pending(user.id), 'AAAA-BBBB-CCCC-DDDD'));
    await f.mfa.verifyTotpSignIn(await pending(user.id), code);
    const entries = f.store.audit.map((a) => a.entry).join('\n');
    for (const s of [secret, code, 'AAAABBBBCCCCDDDD', ...recoveryCodes]) expect(entries).not.toContain(s);
  });
});
