import type { Store, StoreTx } from '../store/store.js';
import type { SessionRow } from '../store/repositories/session-repository.js';
import type { EnvelopeCipher, FieldRef } from '../crypto/envelope-cipher.js';
import type { RequestContext } from '../core/context.js';
import { audit } from '../core/context.js';
import { AppError, type ErrorCode } from '../core/errors.js';
import type { SessionService } from './session-service.js';
import type { SessionStage } from './principal.js';
import {
  RECOVERY_CODE_COUNT,
  newRecoveryCode,
  newTotpSecret,
  normaliseRecoveryCode,
  recoveryCodeHash,
  totpUri,
  verifyTotp,
} from './totp.js';

/** Wrong second-factor answers one session may give before it is revoked (ASVS 6.3.x anti-automation). */
export const MAX_MFA_FAILURES = 5;
/** How long a TOTP seed shown at setup waits for its first code. */
const TOTP_SETUP_TTL_MS = 10 * 60_000;

export interface MfaDeps {
  store: Store;
  cipher: EnvelopeCipher;
  sessions: SessionService;
  clock: () => Date;
  newId: () => string;
  /**
   * Counts a failed second factor toward the account's lockout (auth/throttle.ts when present);
   * called inside the failure's transaction.
   */
  onAccountFailure?: (tx: StoreTx, ctx: RequestContext, userId: string) => Promise<void>;
  /** Called when both factors passed (the lockout count starts again). */
  onSignInComplete?: (tx: StoreTx, ctx: RequestContext, userId: string) => Promise<void>;
}

/** Who is taking a sign-in step: the person, their session (as authenticated) and the audit context. */
export interface MfaCaller {
  ctx: RequestContext;
  userId: string;
  sessionId: string;
}

/** A session handed on to the client (sendSession): rotated, or the current one when nothing changed. */
export interface SessionOutcome {
  token?: string;
  expiresAt: Date;
  transport: 'cookie' | 'bearer';
  stage: SessionStage;
}

/** Data key of a person's secrets: a `data_keys` row named `user:<id>`, wrapped by the tenant KEK. */
export const userKeyName = (userId: string) => `user:${userId}`;

/**
 * Second factors of staff: TOTP (RFC 6238) with recovery codes, and the shared steps WebAuthn uses
 * (completing sign-in by session rotation, counting failures). Secrets at rest: TOTP seeds as
 * AES-256-GCM under the user's data key (AAD binds tenant/table/row/field), recovery codes as SHA-256.
 */
export class MfaService {
  constructor(private readonly deps: MfaDeps) {}

  /** The server clock (routes judge how recent a session's second factor is by it). */
  get clock(): () => Date {
    return this.deps.clock;
  }

  /** Which factors the user has enrolled (a TOTP seed counts once confirmed). */
  async hasFactor(repos: StoreTx, tenantId: string, userId: string): Promise<{ totp: boolean; webauthn: boolean }> {
    const totp = await repos.mfa.totp(tenantId, userId);
    const creds = await repos.mfa.credentials(tenantId, userId);
    return { totp: !!totp && totp.confirmed_at != null, webauthn: creds.length > 0 };
  }

  /**
   * Re-authentication before a sensitive step (break-glass): a TOTP code (single-use: its step must
   * be later than the last accepted one) or a recovery code (burned). True when the proof holds.
   * Writes only inside `tx` and does not audit: the caller records the outcome with its own event.
   */
  async verifyStepUp(
    tx: StoreTx,
    ctx: RequestContext,
    userId: string,
    proof: { totp?: string; recoveryCode?: string },
  ): Promise<boolean> {
    const now = this.deps.clock().getTime();
    let ok = false;
    if (proof.totp !== undefined) ok = await this.acceptTotp(tx, ctx.tenantId, userId, proof.totp, now);
    else if (proof.recoveryCode !== undefined) {
      const code = normaliseRecoveryCode(proof.recoveryCode);
      ok = code !== null && (await tx.mfa.burnRecoveryCode(ctx.tenantId, userId, recoveryCodeHash(userId, code), now));
    }
    // A wrong code is counted by `attempt`, which callers run this in (toward the session's limit and the lockout).
    return ok;
  }

  /**
   * Starts (re-)enrolment of an authenticator app: a new seed, held encrypted as a pending challenge
   * of this session until a first code confirms it. An already confirmed seed keeps working until then.
   */
  async startTotp(c: MfaCaller): Promise<{ secret: string; otpauthUri: string }> {
    const secret = newTotpSecret();
    const now = this.deps.clock();
    const label = await this.deps.store.transaction(async (tx) => {
      await this.assertMayEnrol(tx, c, await this.liveSession(tx, c), false);
      const user = await tx.mfa.userLabel(c.ctx.tenantId, c.userId);
      if (!user) throw new AppError('SP_AUTH_UNAUTHENTICATED');
      const key = await this.userKey(tx, c.ctx.tenantId, c.userId, true);
      const id = this.deps.newId();
      await tx.challenges.retire(c.ctx.tenantId, 'totp_enrol', c.sessionId, now.getTime());
      const ct = this.deps.cipher.encrypt(key!, pendingRef(c.ctx.tenantId, id), secret);
      await tx.challenges.insert({
        id,
        tenant_id: c.ctx.tenantId,
        purpose: 'totp_enrol',
        subject: c.sessionId,
        challenge: ct.toString('base64'),
        created_at: now.getTime(),
        expires_at: now.getTime() + TOTP_SETUP_TTL_MS,
        used_at: null,
      });
      await audit(tx, c.ctx, now, { action: 'mfa.totp_setup_started', targetType: 'user', targetId: c.userId });
      return user.email;
    });
    await this.deps.store.durable();
    return { secret, otpauthUri: totpUri(secret, label) };
  }

  /**
   * Confirms the pending seed with a first code. The seed replaces any earlier one; a `mfa_enrol`
   * session becomes `active` (rotated). Recovery codes are issued (and returned once) when the
   * session was enrolling its first factor or the user has none left.
   */
  async confirmTotp(c: MfaCaller, code: string): Promise<{ session: SessionOutcome; recoveryCodes?: string[] }> {
    const now = this.deps.clock();
    const t = now.getTime();
    return this.attempt(c, 'totp', 'SP_AUTH_MFA_FAILED', async (tx) => {
      const row = await this.liveSession(tx, c);
      await this.assertMayEnrol(tx, c, row, true);
      const pending = await tx.challenges.live(c.ctx.tenantId, 'totp_enrol', c.sessionId, t);
      const key = pending && (await this.userKey(tx, c.ctx.tenantId, c.userId, false));
      if (!pending || !key) return null;
      const secret = this.deps.cipher.decrypt(
        key,
        pendingRef(c.ctx.tenantId, pending.id),
        Buffer.from(pending.challenge, 'base64'),
      );
      const step = await verifyTotp(secret, code, t, null);
      if (step === null || !(await tx.challenges.use(pending.id, t))) return null;
      await tx.mfa.putTotp({
        user_id: c.userId,
        tenant_id: c.ctx.tenantId,
        secret_ct: this.deps.cipher.encrypt(key, seedRef(c.ctx.tenantId, c.userId), secret),
        confirmed_at: t,
        last_step: step,
        created_at: t,
      });
      await audit(tx, c.ctx, now, { action: 'mfa.totp_enrolled', targetType: 'user', targetId: c.userId });
      return this.afterEnrolment(tx, c, row, ['otp', 'mfa'], 'totp');
    });
  }

  /** The second step of sign-in with a TOTP code: `mfa` → `active` (rotated). */
  async verifyTotpSignIn(c: MfaCaller, code: string): Promise<SessionOutcome> {
    const now = this.deps.clock();
    return this.attempt(c, 'totp', 'SP_AUTH_MFA_FAILED', async (tx) => {
      const row = await this.liveSession(tx, c, 'mfa');
      if (!(await this.acceptTotp(tx, c.ctx.tenantId, c.userId, code, now.getTime()))) return null;
      return this.completeSignIn(tx, c, row, ['otp', 'mfa'], 'totp');
    });
  }

  /** Sign-in with a recovery code instead of the second factor: the code is burned, `mfa` → `active`. */
  async useRecoveryCode(c: MfaCaller, typed: string): Promise<{ session: SessionOutcome; remaining: number }> {
    const now = this.deps.clock();
    return this.attempt(c, 'recovery_code', 'SP_AUTH_MFA_FAILED', async (tx) => {
      const row = await this.liveSession(tx, c, 'mfa');
      const code = normaliseRecoveryCode(typed);
      if (
        code === null ||
        !(await tx.mfa.burnRecoveryCode(c.ctx.tenantId, c.userId, recoveryCodeHash(c.userId, code), now.getTime()))
      )
        return null;
      const remaining = await tx.mfa.unusedRecoveryCodes(c.ctx.tenantId, c.userId);
      await audit(tx, c.ctx, now, {
        action: 'mfa.recovery_code_used',
        targetType: 'user',
        targetId: c.userId,
        details: { remaining },
      });
      return { session: await this.completeSignIn(tx, c, row, ['otp', 'mfa'], 'recovery_code'), remaining };
    });
  }

  /** New recovery codes for a signed-in user (every earlier one stops working); returned once. */
  async regenerateRecoveryCodes(c: MfaCaller): Promise<string[]> {
    const codes = await this.deps.store.transaction(async (tx) => {
      const f = await this.hasFactor(tx, c.ctx.tenantId, c.userId);
      if (!f.totp && !f.webauthn) throw new AppError('SP_AUTH_MFA_NOT_ENROLLED');
      return this.issueRecoveryCodes(tx, c);
    });
    await this.deps.store.durable();
    return codes;
  }

  // --- steps shared with WebAuthn --------------------------------------------------------------

  /**
   * The caller's session, re-read inside the transaction: it must still be live and at `stage`
   * (when given). A session revoked or rotated by a racing request ends the attempt here.
   */
  async liveSession(tx: StoreTx, c: MfaCaller, stage?: SessionStage): Promise<SessionRow> {
    const row = await tx.sessions.byId(c.ctx.tenantId, c.sessionId);
    if (!row || row.revoked_at != null || row.subject_id !== c.userId) throw new AppError('SP_AUTH_UNAUTHENTICATED');
    if (stage && row.stage !== stage) throw new AppError('SP_AUTH_MFA_NOT_PENDING');
    return row;
  }

  /**
   * A session at `mfa_enrol` may enrol the user's FIRST factor only: once any factor exists (enrolled
   * from another session meanwhile), it refuses with SP_AUTH_MFA_NOT_PENDING and changes nothing.
   * Otherwise a password-only session kept from before could replace the user's seed and recovery
   * codes and become `active` without ever proving a factor. A session at `mfa` (the password passed,
   * the second factor not yet) may enrol nothing: SP_AUTH_MFA_REQUIRED, as the routes answer it. With
   * `lock`, the user's row is locked first, so racing enrolments of one user are decided one after the other.
   */
  async assertMayEnrol(tx: StoreTx, c: MfaCaller, row: SessionRow, lock: boolean): Promise<void> {
    if (lock) await tx.mfa.lockUser(c.ctx.tenantId, c.userId);
    if (row.stage === 'mfa') throw new AppError('SP_AUTH_MFA_REQUIRED');
    if (row.stage !== 'mfa_enrol') return;
    const f = await this.hasFactor(tx, c.ctx.tenantId, c.userId);
    if (f.totp || f.webauthn) throw new AppError('SP_AUTH_MFA_NOT_PENDING');
  }

  /** Second factor passed: a new `active` session replaces the old one (ASVS 7.2.4), audited. */
  async completeSignIn(
    tx: StoreTx,
    c: MfaCaller,
    row: SessionRow,
    amr: string[],
    method: string,
  ): Promise<SessionOutcome> {
    const s = await this.deps.sessions.rotate(tx, row, { stage: 'active', addAmr: amr });
    // Only a completed sign-in clears the lockout count: a correct password alone must not buy
    // another round of second-factor guesses.
    await this.deps.onSignInComplete?.(tx, c.ctx, c.userId);
    await audit(tx, c.ctx, this.deps.clock(), {
      action: 'auth.mfa_verified',
      targetType: 'session',
      targetId: s.id,
      details: { method, previousSession: row.id },
    });
    return { token: s.token, expiresAt: s.expiresAt, transport: row.transport as 'cookie' | 'bearer', stage: 'active' };
  }

  /** After a factor was enrolled: completes a `mfa_enrol` sign-in and issues recovery codes when due. */
  async afterEnrolment(
    tx: StoreTx,
    c: MfaCaller,
    row: SessionRow,
    amr: string[],
    method: string,
  ): Promise<{ session: SessionOutcome; recoveryCodes?: string[] }> {
    const first = row.stage === 'mfa_enrol';
    const due = first || (await tx.mfa.unusedRecoveryCodes(c.ctx.tenantId, c.userId)) === 0;
    const recoveryCodes = due ? await this.issueRecoveryCodes(tx, c) : undefined;
    // The first factor ends every other sign-in in progress (password-only sessions at a sign-in
    // step): from now on they would have to prove this factor, and they have not.
    if (first) await this.revokePendingSignIns(tx, c, row.id);
    const session = first
      ? await this.completeSignIn(tx, c, row, amr, method)
      : {
          expiresAt: new Date(Number(row.expires_at)),
          transport: row.transport as 'cookie' | 'bearer',
          stage: row.stage as SessionStage,
        };
    return { session, ...(recoveryCodes ? { recoveryCodes } : {}) };
  }

  /**
   * One second-factor attempt of a session (ASVS 6.3.x anti-automation). The attempt is counted
   * BEFORE the factor is checked, in its own committed transaction: parallel guesses each take one
   * of the session's MAX_MFA_FAILURES places, and one beyond them is refused (audited
   * `auth.mfa_throttled`, `code`) without being looked at. Then `run` checks the factor in its own
   * transaction: a result means success (the place is given back in that transaction: a success
   * does not count); null means a wrong answer (`fail`, which keeps the place); a thrown error (the
   * session is not at that step, a racing request won) gives the place back and is rethrown.
   */
  async attempt<T>(c: MfaCaller, method: string, code: ErrorCode, run: (tx: StoreTx) => Promise<T | null>): Promise<T> {
    const failures = await this.reserveAttempt(c, method, code);
    let out: T | null;
    try {
      out = await this.deps.store.transaction(async (tx) => {
        const r = await run(tx);
        if (r !== null) await tx.mfa.releaseFailure(c.ctx.tenantId, c.sessionId);
        return r;
      });
    } catch (e) {
      await this.deps.store.transaction((tx) => tx.mfa.releaseFailure(c.ctx.tenantId, c.sessionId));
      throw e;
    }
    if (out === null) return this.fail(c, method, code, failures);
    await this.deps.store.durable();
    return out;
  }

  /** Takes one of the session's attempt places (committed); throws `code` when none is left. */
  private async reserveAttempt(c: MfaCaller, method: string, code: ErrorCode): Promise<number> {
    const now = this.deps.clock();
    const n = await this.deps.store.transaction(async (tx) => {
      const row = await tx.sessions.byId(c.ctx.tenantId, c.sessionId);
      const n = await tx.mfa.countFailure(
        c.ctx.tenantId,
        c.sessionId,
        now.getTime(),
        Number(row?.expires_at ?? now.getTime()),
      );
      if (n <= MAX_MFA_FAILURES) return n;
      await tx.mfa.releaseFailure(c.ctx.tenantId, c.sessionId);
      await audit(tx, c.ctx, now, {
        action: 'auth.mfa_throttled',
        outcome: 'failure',
        targetType: 'session',
        targetId: c.sessionId,
        details: { method },
      });
      return null;
    });
    await this.deps.store.durable();
    if (n === null) throw new AppError(code);
    return n;
  }

  /**
   * Records a wrong second factor (audited) and throws `code`. `failures` is the session's count
   * including this attempt (taken by `attempt` before the check). The fifth failure of a session
   * revokes it and raises an administrator alert; each failure also counts toward the account's lockout.
   */
  private async fail(c: MfaCaller, method: string, code: ErrorCode, failures: number): Promise<never> {
    const now = this.deps.clock();
    await this.deps.store.transaction(async (tx) => {
      await audit(tx, c.ctx, now, {
        action: 'auth.mfa_failed',
        outcome: 'failure',
        targetType: 'session',
        targetId: c.sessionId,
        details: { method, failures },
      });
      if (
        failures >= MAX_MFA_FAILURES &&
        (await this.deps.sessions.revoke(tx, c.ctx.tenantId, c.sessionId, 'mfa_failures'))
      ) {
        await audit(tx, c.ctx, now, {
          action: 'session.revoked',
          targetType: 'session',
          targetId: c.sessionId,
          details: { reason: 'mfa_failures', failures },
        });
        await tx.access.insertAlert({
          id: this.deps.newId(),
          tenant_id: c.ctx.tenantId,
          kind: 'mfa_failures',
          actor: c.ctx.actor,
          target_type: 'user',
          target_id: c.userId,
          created_at: now.getTime(),
          acknowledged_at: null,
          acknowledged_by: null,
        });
      }
      // After the session's own count: a lockout this failure triggers revokes every session anyway.
      await this.deps.onAccountFailure?.(tx, c.ctx, c.userId);
    });
    await this.deps.store.durable();
    throw new AppError(code);
  }

  // --- internals -------------------------------------------------------------------------------

  private async revokePendingSignIns(tx: StoreTx, c: MfaCaller, exceptId: string): Promise<void> {
    const now = this.deps.clock();
    for (const s of await tx.sessions.listLive(c.ctx.tenantId, 'user', c.userId, now.getTime())) {
      if (s.id === exceptId || s.stage === 'active') continue;
      if (await this.deps.sessions.revoke(tx, c.ctx.tenantId, s.id, 'factor_enrolled')) {
        await audit(tx, c.ctx, now, {
          action: 'session.revoked',
          targetType: 'session',
          targetId: s.id,
          details: { reason: 'factor_enrolled' },
        });
      }
    }
  }

  private async acceptTotp(tx: StoreTx, tenantId: string, userId: string, code: string, now: number): Promise<boolean> {
    const row = await tx.mfa.totp(tenantId, userId);
    if (!row || row.confirmed_at == null) return false;
    const key = await this.userKey(tx, tenantId, userId, false);
    if (!key) return false;
    const secret = this.deps.cipher.decrypt(key, seedRef(tenantId, userId), row.secret_ct);
    const step = await verifyTotp(secret, code, now, row.last_step == null ? null : Number(row.last_step));
    // The conditional update is the single-use guarantee: of two racing requests with one code, one wins.
    return step !== null && tx.mfa.advanceTotpStep(tenantId, userId, step);
  }

  private async issueRecoveryCodes(tx: StoreTx, c: MfaCaller): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const rows = codes.map((code) => ({
      id: this.deps.newId(),
      code_hash: recoveryCodeHash(c.userId, normaliseRecoveryCode(code)!),
    }));
    await tx.mfa.replaceRecoveryCodes(c.ctx.tenantId, c.userId, rows, this.deps.clock().getTime());
    await audit(tx, c.ctx, this.deps.clock(), {
      action: 'mfa.recovery_codes_issued',
      targetType: 'user',
      targetId: c.userId,
      details: { count: codes.length },
    });
    return codes;
  }

  /** The user's data key; created (wrapped by the tenant KEK) on first need when `create`. */
  private async userKey(tx: StoreTx, tenantId: string, userId: string, create: boolean): Promise<Buffer | null> {
    const name = userKeyName(userId);
    const row = await tx.dataKeys.get(tenantId, name);
    if (row) return this.deps.cipher.dataKey(tenantId, name, { keyId: row.key_id, wrapped: Buffer.from(row.wrapped) });
    if (!create) return null;
    const dk = await this.deps.cipher.newDataKey(tenantId, name);
    await tx.dataKeys.insert({
      tenant_id: tenantId,
      patient_id: name,
      key_id: dk.wrapped.keyId,
      wrapped: dk.wrapped.wrapped,
      created_at: this.deps.clock().getTime(),
    });
    return dk.key;
  }
}

const seedRef = (tenantId: string, userId: string): FieldRef => ({
  tenantId,
  table: 'mfa_totp',
  rowId: userId,
  field: 'secret',
});
const pendingRef = (tenantId: string, challengeId: string): FieldRef => ({
  tenantId,
  table: 'auth_challenges',
  rowId: challengeId,
  field: 'challenge',
});
