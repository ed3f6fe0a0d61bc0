import { v7 as uuidv7 } from 'uuid';
import type { Store, StoreTx } from '../store/store.js';
import type { SessionRow } from '../store/repositories/session-repository.js';
import { hashToken, randomToken } from '../crypto/tokens.js';
import type { SessionStage } from './principal.js';
import { AppError } from '../core/errors.js';
import type { Config } from '../config/config.js';
import type { DeviceRevocations } from '../core/device-revocation.js';

/** Session tokens are `sps_` + 256 random bits (base64url); only their SHA-256 is stored. */
export const SESSION_TOKEN = /^sps_[A-Za-z0-9_-]{43}$/;
/** The web cookie: `__Host-` pins it to this origin, path `/`, Secure, no Domain. */
export const SESSION_COOKIE = '__Host-sealpost_session';

/**
 * How long a session may stay at a sign-in step (`mfa`, `mfa_enrol`): a password alone is not a
 * sign-in, and a half-finished one kept for days is a standing credential (ASVS 7.x; NIST SP 800-63B
 * §4 reauthentication). The person signs in again with the password after this.
 */
export const SIGN_IN_STEP_MS = 15 * 60_000;

export interface SessionPolicy {
  idleMs: number;
  absoluteMs: number;
}

/** The configured idle and absolute timeouts (SEALPOST_SESSION_IDLE_MINUTES, _ABSOLUTE_HOURS). */
export function sessionPolicy(identity: Config['identity']): SessionPolicy {
  return { idleMs: identity.sessionIdleMinutes * 60_000, absoluteMs: identity.sessionAbsoluteHours * 3_600_000 };
}

export interface NewSession {
  tenantId: string;
  subjectType: 'user' | 'patient';
  subjectId: string;
  transport: 'cookie' | 'bearer';
  stage: SessionStage;
  /** RFC 8176 authentication methods so far (`pwd`, `otp`, `hwk`, `swk`, `sms`, `sso`, `mfa`). */
  amr: string[];
}

/**
 * Opaque server-side sessions (ASVS 7): a fresh token at sign-in and at every change of privilege
 * (the old row is revoked in the same transaction, so a fixed or stolen pre-login token is worth
 * nothing), idle and absolute timeouts (HIPAA 164.312(a)(2)(iii) automatic logoff), revocation that
 * takes effect on the next request on every node (the row is read on each request; no cache).
 */
export class SessionService {
  /** Last-seen writes are kept to one a minute per session: idle timeouts are counted in minutes. */
  private static readonly TOUCH_EVERY_MS = 60_000;

  constructor(
    private readonly store: Store,
    readonly policy: SessionPolicy,
    private readonly clock: () => Date,
    /** Told inside the transaction of a remote wipe that revoked devices (messaging bindings); absent: nobody. */
    private readonly revocations?: DeviceRevocations,
  ) {}

  /** Creates a session in `tx`; the token is returned once and never stored. */
  async issue(tx: StoreTx, s: NewSession): Promise<{ id: string; token: string; expiresAt: Date }> {
    const now = this.clock().getTime();
    const id = uuidv7();
    const token = `sps_${randomToken(32)}`;
    const expiresAt = now + this.policy.absoluteMs;
    await tx.sessions.insert({
      id,
      tenant_id: s.tenantId,
      subject_type: s.subjectType,
      subject_id: s.subjectId,
      token_hash: hashToken(token),
      transport: s.transport,
      stage: s.stage,
      amr: [...new Set(s.amr)].join(' '),
      created_at: now,
      last_seen_at: now,
      expires_at: expiresAt,
      mfa_at: s.stage === 'active' && s.amr.includes('mfa') ? now : null,
      revoked_at: null,
      revoked_reason: null,
    });
    return { id, token, expiresAt: new Date(expiresAt) };
  }

  /**
   * Replaces a session by a new one (new token) after a change of privilege: a second factor
   * passed, a role changed, break-glass granted. The absolute deadline is kept: stepping up never
   * extends a session. Throws SP_AUTH_UNAUTHENTICATED (rolling `tx` back) when the old session was
   * no longer live: of two racing requests on one session, only the one that revokes it may go on,
   * or one sign-in step would yield two sessions (and burn a recovery code for nothing).
   */
  async rotate(
    tx: StoreTx,
    old: SessionRow,
    change: { stage: SessionStage; addAmr?: string[] },
  ): Promise<{ id: string; token: string; expiresAt: Date }> {
    const now = this.clock().getTime();
    if (!(await tx.sessions.revoke(old.tenant_id, old.id, now, 'rotated')))
      throw new AppError('SP_AUTH_UNAUTHENTICATED');
    const amr = [...new Set([...old.amr.split(' ').filter(Boolean), ...(change.addAmr ?? [])])];
    const id = uuidv7();
    const token = `sps_${randomToken(32)}`;
    const mfa = amr.includes('mfa');
    await tx.sessions.insert({
      id,
      tenant_id: old.tenant_id,
      subject_type: old.subject_type,
      subject_id: old.subject_id,
      token_hash: hashToken(token),
      transport: old.transport,
      stage: change.stage,
      amr: amr.join(' '),
      created_at: now,
      last_seen_at: now,
      expires_at: Number(old.expires_at),
      mfa_at: mfa ? (change.addAmr?.includes('mfa') ? now : (old.mfa_at ?? now)) : null,
      revoked_at: null,
      revoked_reason: null,
    });
    return { id, token, expiresAt: new Date(Number(old.expires_at)) };
  }

  /**
   * The live session a token names, or null when it is malformed, unknown, revoked, past its
   * absolute deadline, idle too long, or at a sign-in step for longer than SIGN_IN_STEP_MS. Such a
   * session is revoked on the spot.
   */
  async verify(token: string): Promise<SessionRow | null> {
    if (!SESSION_TOKEN.test(token)) return null;
    const row = await this.store.read.sessions.byTokenHash(hashToken(token));
    if (!row || !(await this.standing(row))) return null;
    const now = this.clock().getTime();
    if (Number(row.last_seen_at) + SessionService.TOUCH_EVERY_MS <= now)
      await this.store.read.sessions.touch(row.id, now);
    return row;
  }

  /**
   * Whether a session, by id, still passes `verify` (same rules, same clock), without counting as
   * activity: its last-seen time is left alone, so a long-lived connection (the inbox stream)
   * re-checking its session never keeps an idle session alive. An ended session is revoked and
   * audited here as in `verify`.
   */
  async live(tenantId: string, id: string): Promise<boolean> {
    const row = await this.store.read.sessions.byId(tenantId, id);
    return !!row && (await this.standing(row));
  }

  /** Not revoked, not past its deadlines; a session found ended is revoked on the spot (once, audited). */
  private async standing(row: SessionRow): Promise<boolean> {
    if (row.revoked_at != null) return false;
    const now = this.clock().getTime();
    const ended =
      Number(row.expires_at) <= now
        ? 'expired'
        : Number(row.last_seen_at) + this.policy.idleMs <= now
          ? 'idle'
          : row.stage !== 'active' && Number(row.created_at) + SIGN_IN_STEP_MS <= now
            ? 'sign_in_step_expired'
            : null;
    if (ended) {
      // Automatic logoff is on the record (HIPAA 164.312(a)(2)(iii)), with the revocation, once.
      await this.store.transaction(async (tx) => {
        if (!(await tx.sessions.revoke(row.tenant_id, row.id, now, ended))) return;
        await tx.audit.append({
          tenantId: row.tenant_id,
          at: new Date(now),
          actor: 'system:session',
          action: 'session.ended',
          outcome: 'success',
          targetType: 'session',
          targetId: row.id,
          details: { reason: ended, subject: `${row.subject_type}:${row.subject_id}` },
        });
      });
      return false;
    }
    return true;
  }

  /** Ends one session (sign-out). */
  revoke(tx: StoreTx, tenantId: string, id: string, reason: string): Promise<boolean> {
    return tx.sessions.revoke(tenantId, id, this.clock().getTime(), reason);
  }

  /**
   * Ends every session of a person and revokes their devices and push tokens ("remote wipe"; also
   * used when a user is disabled or locked). Returns the counts for the audit entry.
   */
  async revokeAll(
    tx: StoreTx,
    tenantId: string,
    subjectType: 'user' | 'patient',
    subjectId: string,
    reason: string,
  ): Promise<{ sessions: number; devices: number }> {
    const now = this.clock().getTime();
    const sessions = await tx.sessions.revokeAllOf(tenantId, subjectType, subjectId, now, reason);
    const devices = await tx.sessions.revokeDevicesOf(tenantId, subjectType, subjectId, now);
    if (devices > 0)
      await this.revocations?.revoked(tx, {
        tenantId,
        owner: { kind: subjectType, id: subjectId },
        at: now,
        // The callers audit who asked; this names why, on the entries of the revoked bindings.
        actor: `system:${reason}`,
      });
    return { sessions, devices };
  }

  /** Cookie attributes of the web session (ASVS 7.x / 3.3): HttpOnly, Secure, SameSite=Strict, host-only. */
  cookieOptions(expiresAt: Date) {
    return { path: '/', httpOnly: true, secure: true, sameSite: 'strict' as const, expires: expiresAt };
  }
}
