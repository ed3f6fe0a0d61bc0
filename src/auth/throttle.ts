import { v7 as uuidv7 } from 'uuid';
import type { Store, StoreTx } from '../store/store.js';
import type { UserRow } from '../store/repositories/user-repository.js';
import { audit, type RequestContext } from '../core/context.js';
import type { Config } from '../config/config.js';
import type { MfaDeps } from './mfa-service.js';

/**
 * Brute-force defence of password sign-in (ASVS 5.0 V6.3.1; NIST SP 800-63B §5.2.2):
 * - per account and per source address, an exponential delay the server enforces: after the free
 *   failures, each failure blocks the key for `baseDelayMs · 2^(n − free − 1)` (capped), and an
 *   attempt before `blocked_until` is refused without looking at the password;
 * - per account, a lockout after `lockoutThreshold` consecutive failures: the user becomes `locked`
 *   until `locked_until` (then unlocks at the next attempt) or until an administrator unlocks them;
 *   the lockout revokes the user's sessions and raises an `account_locked` administrator alert.
 * The account key is a keyed hash of the e-mail address as typed, so unknown addresses are delayed
 * exactly like real accounts (no enumeration by who gets delayed). Counters live in `auth_throttle`
 * and are shared by every node.
 */
export interface ThrottlePolicy {
  lockoutThreshold: number;
  lockoutMinutes: number;
  /** Failures of one account key before delays start. */
  accountFree: number;
  /** Failures from one address (any account) before delays start: an office behind one NAT shares it. */
  ipFree: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key without failures for this long starts again from zero. */
  windowMs: number;
}

export const DEFAULT_THROTTLE: Omit<ThrottlePolicy, 'lockoutThreshold' | 'lockoutMinutes'> = {
  accountFree: 2,
  ipFree: 20,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  windowMs: 60 * 60_000,
};

/** The default policy with the configured lockout (SEALPOST_LOCKOUT_THRESHOLD, _MINUTES). */
export function throttlePolicy(identity: Config['identity']): ThrottlePolicy {
  return { ...DEFAULT_THROTTLE, lockoutThreshold: identity.lockoutThreshold, lockoutMinutes: identity.lockoutMinutes };
}

/** How long a key is blocked after its `failures`-th failure; 0 while still within the free failures. */
export function delayAfter(failures: number, free: number, baseMs: number, maxMs: number): number {
  if (failures <= free) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - free - 1, 30));
}

export interface ThrottleKeys {
  /** `acct:<tenant>:<keyed hash of the e-mail>`. */
  account: string;
  /** `ip:<address>`. */
  ip: string;
}

/** An attempt's place, taken before its password is checked (`LoginThrottle.reserve`). */
export interface Reservation {
  /** Which key refused the attempt (then nothing stays counted), or null: the attempt may go on. */
  refused: 'account' | 'ip' | null;
  /** The user's lockout count including this attempt (a user whose password is checked), else null. */
  userFailures: number | null;
  /** The delay this attempt set on the address key and the one before it (given back on success). */
  ipBlock: { ours: number; previous: number | null } | null;
}

export class LoginThrottle {
  constructor(
    private readonly store: Store,
    private readonly policy: ThrottlePolicy,
  ) {}

  keys(tenantId: string, emailIndex: string, ip: string): ThrottleKeys {
    return { account: `acct:${tenantId}:${emailIndex}`, ip: `ip:${ip}` };
  }

  /**
   * Which key (if any) refuses an attempt now, read outside any transaction. A read only: attempts
   * that may race use `reserve`, which decides and counts in one step.
   */
  async blocked(keys: ThrottleKeys, now: number): Promise<'account' | 'ip' | null> {
    const rows = await this.store.read.users.throttleRows([keys.account, keys.ip]);
    const isBlocked = (k: string) =>
      rows.some((r) => r.key === k && r.blocked_until != null && Number(r.blocked_until) > now);
    return isBlocked(keys.account) ? 'account' : isBlocked(keys.ip) ? 'ip' : null;
  }

  /**
   * Takes an attempt's place BEFORE its password is checked, in `tx`, which the caller commits on
   * its own before hashing (ASVS 6.3.1: parallel requests must not multiply the guesses). The attempt
   * is counted as a failure of both keys, and the delay that failure would set is set now, so every
   * attempt arriving meanwhile finds the key blocked and is refused unseen; of 15 parallel guesses
   * at one account, the free ones and the one that starts the delay are checked. An attempt finding a
   * key blocked is refused and its counts are taken back (a throttled attempt is not a failure).
   * For `user` (an active user whose password will be checked) the lockout count is taken too: an
   * attempt beyond the threshold is refused, so parallel guesses cannot overshoot the lockout.
   */
  async reserve(tx: StoreTx, keys: ThrottleKeys, user: UserRow | null, now: number): Promise<Reservation> {
    const p = this.policy;
    const windowStart = now - p.windowMs;
    // Rows are locked in one order everywhere (user, account key, address key): no deadlocks.
    const userFailures = user ? await tx.users.addFailedLogin(user.tenant_id, user.id, now) : null;
    const acct = await tx.users.reserveThrottle(keys.account, now, windowStart);
    const ip = await tx.users.reserveThrottle(keys.ip, now, windowStart);
    const refused: Reservation['refused'] =
      (acct.blockedUntil ?? 0) > now || (userFailures ?? 0) > p.lockoutThreshold
        ? 'account'
        : (ip.blockedUntil ?? 0) > now
          ? 'ip'
          : null;
    if (refused) {
      if (user) await tx.users.releaseFailedLogin(user.tenant_id, user.id);
      await tx.users.releaseThrottle([keys.account, keys.ip]);
      return { refused, userFailures: null, ipBlock: null };
    }
    const da = delayAfter(acct.failures, p.accountFree, p.baseDelayMs, p.maxDelayMs);
    const di = delayAfter(ip.failures, p.ipFree, p.baseDelayMs, p.maxDelayMs);
    if (da) await tx.users.setThrottleBlock(keys.account, now + da);
    if (di) await tx.users.setThrottleBlock(keys.ip, now + di);
    return { refused: null, userFailures, ipBlock: di ? { ours: now + di, previous: ip.blockedUntil } : null };
  }

  /**
   * The reserved attempt's password was right (in the success transaction): the account's delay
   * starts again, the address gets its place (and the delay it set) back, and the user's lockout
   * count its reserved failure. False, with nothing changed, when the user is no longer `active`
   * (locked or disabled by a racing request): no session may be issued then.
   */
  async reservedSucceeded(tx: StoreTx, keys: ThrottleKeys, r: Reservation, user: UserRow): Promise<boolean> {
    if (!(await tx.users.releaseFailedLoginIfActive(user.tenant_id, user.id))) return false;
    await tx.users.clearThrottle([keys.account]);
    await tx.users.releaseThrottle([keys.ip]);
    if (r.ipBlock) await tx.users.restoreThrottleBlock(keys.ip, r.ipBlock.ours, r.ipBlock.previous);
    return true;
  }

  /** Counts a failed attempt on both keys and sets their delays (in the caller's transaction). */
  async recordFailure(tx: StoreTx, keys: ThrottleKeys, now: number): Promise<void> {
    const p = this.policy;
    const windowStart = now - p.windowMs;
    const acct = await tx.users.addThrottleFailure(keys.account, now, windowStart);
    const ip = await tx.users.addThrottleFailure(keys.ip, now, windowStart);
    const da = delayAfter(acct, p.accountFree, p.baseDelayMs, p.maxDelayMs);
    const di = delayAfter(ip, p.ipFree, p.baseDelayMs, p.maxDelayMs);
    if (da) await tx.users.setThrottleBlock(keys.account, now + da);
    if (di) await tx.users.setThrottleBlock(keys.ip, now + di);
  }

  /** Counts a failure of the address alone (a wrong enrolment or reset token: there is no account to name). */
  async recordIpFailure(tx: StoreTx, ipKey: string, now: number): Promise<void> {
    const p = this.policy;
    const n = await tx.users.addThrottleFailure(ipKey, now, now - p.windowMs);
    const d = delayAfter(n, p.ipFree, p.baseDelayMs, p.maxDelayMs);
    if (d) await tx.users.setThrottleBlock(ipKey, now + d);
  }

  /**
   * Counts a wrong password of an active user; at the threshold, locks the account (compare-and-set
   * on status `active`), revokes its sessions, audits `user.locked` and raises an `account_locked`
   * alert, all in `tx`. True when this failure locked the account.
   */
  async countUserFailure(
    tx: StoreTx,
    user: UserRow,
    ctx: RequestContext,
    now: number,
    counted?: number,
  ): Promise<boolean> {
    // `counted`: the failure was already counted when the attempt was reserved (`reserve`).
    const n = counted ?? (await tx.users.addFailedLogin(user.tenant_id, user.id, now));
    if (n < this.policy.lockoutThreshold) return false;
    const until = now + this.policy.lockoutMinutes * 60_000;
    if (
      !(await tx.users.updateIfStatus(user.tenant_id, user.id, 'active', {
        status: 'locked',
        locked_until: until,
        updated_at: now,
      }))
    )
      return false;
    // Disabled and locked users' sessions end when it happens (the authenticator is the backstop).
    const sessions = await tx.sessions.revokeAllOf(user.tenant_id, 'user', user.id, now, 'locked');
    await audit(tx, { ...ctx, actor: 'system:lockout' }, new Date(now), {
      action: 'user.locked',
      targetType: 'user',
      targetId: user.id,
      details: { failures: n, lockedUntil: new Date(until).toISOString(), sessionsRevoked: sessions },
    });
    await tx.access.insertAlert({
      id: uuidv7(),
      tenant_id: user.tenant_id,
      kind: 'account_locked',
      actor: 'system:lockout',
      target_type: 'user',
      target_id: user.id,
      created_at: now,
      acknowledged_at: null,
      acknowledged_by: null,
    });
    return true;
  }

  /**
   * A correct password: the account's delay starts again (the address's does not: one good account
   * must not launder an address). The lockout count does not: it restarts only when the second
   * factor passed too (`signInCompleted`), so knowing the password buys no new round of code guesses.
   */
  async succeeded(tx: StoreTx, keys: ThrottleKeys): Promise<void> {
    await tx.users.clearThrottle([keys.account]);
  }

  /**
   * The MFA service's hooks: a wrong second factor of an active user counts toward the account's
   * lockout (the password step's counter), and a completed sign-in starts the count again.
   */
  secondFactorHooks(clock: () => Date): Pick<MfaDeps, 'onAccountFailure' | 'onSignInComplete'> {
    return {
      onAccountFailure: async (tx, ctx, userId) => {
        const u = await tx.users.byId(ctx.tenantId, userId);
        if (u?.status === 'active') await this.countUserFailure(tx, u, ctx, clock().getTime());
      },
      onSignInComplete: (tx, ctx, userId) => this.signInCompleted(tx, ctx.tenantId, userId),
    };
  }

  /** Both factors passed: the user's lockout count starts again. */
  async signInCompleted(tx: StoreTx, tenantId: string, userId: string): Promise<void> {
    await tx.users.resetFailedLogins(tenantId, userId);
  }

  /**
   * Unlocks a locked user (by an administrator, or by time once `locked_until` has passed) and
   * clears the account's counters; audited in `tx` as `user.unlocked`. False when not locked.
   */
  async unlock(
    tx: StoreTx,
    user: UserRow,
    accountKey: string,
    ctx: RequestContext,
    now: number,
    by: 'admin' | 'time',
  ): Promise<boolean> {
    const ok = await tx.users.updateIfStatus(user.tenant_id, user.id, 'locked', {
      status: 'active',
      locked_until: null,
      failed_logins: 0,
      updated_at: now,
    });
    if (!ok) return false;
    await tx.users.clearThrottle([accountKey]);
    await audit(tx, by === 'time' ? { ...ctx, actor: 'system:lockout' } : ctx, new Date(now), {
      action: 'user.unlocked',
      targetType: 'user',
      targetId: user.id,
      details: { by },
    });
    return true;
  }

  /** True when a locked user's lock has run out (they are unlocked at their next attempt). */
  lockExpired(user: UserRow, now: number): boolean {
    return user.status === 'locked' && user.locked_until != null && Number(user.locked_until) <= now;
  }
}
