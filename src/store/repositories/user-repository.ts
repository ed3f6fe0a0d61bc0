import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { PortOf } from './port-of.js';

export type UserRow = Selectable<Database['users']>;
export type UserTokenRow = Selectable<Database['user_tokens']>;
export type ThrottleRow = Selectable<Database['auth_throttle']>;

/**
 * Staff users, their one-time tokens (enrolment, password reset), brute-force counters and the
 * administrator alerts a lockout raises. Rows only: auth/user-service.ts and auth/throttle.ts hold
 * the rules. Bigint columns come back as strings on PostgreSQL: callers wrap them in `Number`.
 */
export type UserRepository = PortOf<SqlUserRepository>;

export class SqlUserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<Database['users']>): Promise<void> {
    await this.db.insertInto('users').values(row).execute();
  }

  async byId(tenantId: string, id: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** By e-mail as stored (the service lower-cases addresses before storing and looking up). */
  async byEmail(tenantId: string, email: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('email', '=', email)
      .executeTakeFirst();
  }

  /** Users of a tenant after `afterId` in id order (ids are UUIDv7: creation order). */
  /** Active users of the tenant holding `role` (alert recipients). */
  async activeWithRole(tenantId: string, role: string): Promise<UserRow[]> {
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('status', '=', 'active')
      .orderBy('id')
      .execute();
    return rows.filter((u) => u.roles.split(' ').includes(role));
  }

  async list(tenantId: string, afterId: string, limit: number): Promise<UserRow[]> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Sets the lockout count back to zero (a write only when it is not zero already). */
  async resetFailedLogins(tenantId: string, id: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ failed_logins: 0 })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('failed_logins', '!=', 0)
      .execute();
  }

  async update(tenantId: string, id: string, set: Updateable<Database['users']>): Promise<void> {
    await this.db.updateTable('users').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  /**
   * Sets `set` only while the user is in `status` (a compare-and-set: two concurrent admin actions
   * or a lockout racing an unlock cannot both apply). True when the row changed.
   */
  async updateIfStatus(
    tenantId: string,
    id: string,
    status: string,
    set: Updateable<Database['users']>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('users')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', '=', status)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Adds one failed sign-in in one statement (no lost update between nodes); returns the new count. */
  async addFailedLogin(tenantId: string, id: string, now: number): Promise<number> {
    const r = await this.db
      .updateTable('users')
      .set((eb) => ({ failed_logins: eb('failed_logins', '+', 1), updated_at: now }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .returning('failed_logins')
      .executeTakeFirst();
    return Number(r?.failed_logins ?? 0);
  }

  /** Takes back one counted sign-in failure (an attempt refused before its password was checked). */
  async releaseFailedLogin(tenantId: string, id: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set((eb) => ({ failed_logins: eb('failed_logins', '-', 1) }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('failed_logins', '>', 0)
      .execute();
  }

  /**
   * Takes back one counted failure of an attempt whose password was right, only while the user is
   * still `active` (the row lock this takes orders it after a racing lockout). False when the user is
   * no longer active: the attempt must not get a session.
   */
  async releaseFailedLoginIfActive(tenantId: string, id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('users')
      .set((eb) => ({
        failed_logins: sql<number>`case when ${eb.ref('failed_logins')} > 0 then ${eb.ref('failed_logins')} - 1 else 0 end`,
      }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // --- one-time tokens ----------------------------------------------------------------------
  async insertToken(row: Insertable<Database['user_tokens']>): Promise<void> {
    await this.db.insertInto('user_tokens').values(row).execute();
  }

  async tokenByHash(tokenHash: string): Promise<UserTokenRow | undefined> {
    return this.db.selectFrom('user_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  /** Marks a token used, once: false when it was already used (a concurrent request won). */
  async burnToken(id: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('user_tokens')
      .set({ used_at: now })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Voids every unused token of a user for `purpose` (a re-issued link replaces the old one). */
  async voidTokens(tenantId: string, userId: string, purpose: string | null, now: number): Promise<number> {
    let q = this.db
      .updateTable('user_tokens')
      .set({ used_at: now })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null);
    if (purpose) q = q.where('purpose', '=', purpose);
    return Number((await q.executeTakeFirst()).numUpdatedRows);
  }

  /** The newest token of a user for `purpose` (rate limit of reset e-mails). */
  async latestToken(tenantId: string, userId: string, purpose: string): Promise<UserTokenRow | undefined> {
    return this.db
      .selectFrom('user_tokens')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  // --- second factors (read only; the MFA services own them) ---------------------------------
  /** Which second factors a user has: a confirmed TOTP, WebAuthn credentials, unused recovery codes. */
  async secondFactors(
    tenantId: string,
    userId: string,
  ): Promise<{ totp: boolean; webauthn: boolean; recovery: boolean }> {
    const [t, w, r] = await Promise.all([
      this.db
        .selectFrom('mfa_totp')
        .select('user_id')
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is not', null)
        .executeTakeFirst(),
      this.db
        .selectFrom('webauthn_credentials')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .limit(1)
        .executeTakeFirst(),
      this.db
        .selectFrom('recovery_codes')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .limit(1)
        .executeTakeFirst(),
    ]);
    return { totp: t !== undefined, webauthn: w !== undefined, recovery: r !== undefined };
  }

  // --- brute-force counters -----------------------------------------------------------------
  async throttleRows(keys: string[]): Promise<ThrottleRow[]> {
    return keys.length ? this.db.selectFrom('auth_throttle').selectAll().where('key', 'in', keys).execute() : [];
  }

  /**
   * Counts one failure of `key` in one statement (an upsert, so concurrent failures on several nodes
   * are all counted). A key idle since before `windowStart` starts again at 1. Returns the new count.
   */
  async addThrottleFailure(key: string, now: number, windowStart: number): Promise<number> {
    return (await this.reserveThrottle(key, now, windowStart)).failures;
  }

  /**
   * `addThrottleFailure` that also returns the key's `blocked_until` as it was (the upsert leaves it
   * alone). On PostgreSQL the upsert waits for a racing transaction on the same key and then sees its
   * committed delay, so of parallel attempts each sees the delay the ones before it set.
   */
  async reserveThrottle(
    key: string,
    now: number,
    windowStart: number,
  ): Promise<{ failures: number; blockedUntil: number | null }> {
    const r = await this.db
      .insertInto('auth_throttle')
      .values({ key, failures: 1, first_failure_at: now, blocked_until: null, updated_at: now })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql<number>`case when auth_throttle.updated_at < ${windowStart} then 1 else auth_throttle.failures + 1 end`,
          first_failure_at: sql<number>`case when auth_throttle.updated_at < ${windowStart} then ${now} else auth_throttle.first_failure_at end`,
          updated_at: now,
        }),
      )
      .returning(['failures', 'blocked_until'])
      .executeTakeFirstOrThrow();
    return { failures: Number(r.failures), blockedUntil: r.blocked_until == null ? null : Number(r.blocked_until) };
  }

  /** Takes back one counted failure of each key (an attempt that was refused, or whose password was right). */
  async releaseThrottle(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await this.db
      .updateTable('auth_throttle')
      .set((eb) => ({ failures: eb('failures', '-', 1) }))
      .where('key', 'in', keys)
      .where('failures', '>', 0)
      .execute();
  }

  /** Puts `blocked_until` back to `previous` only if it is still `ours` (a later failure's delay stays). */
  async restoreThrottleBlock(key: string, ours: number, previous: number | null): Promise<void> {
    await this.db
      .updateTable('auth_throttle')
      .set({ blocked_until: previous })
      .where('key', '=', key)
      .where('blocked_until', '=', ours)
      .execute();
  }

  async setThrottleBlock(key: string, blockedUntil: number | null): Promise<void> {
    await this.db.updateTable('auth_throttle').set({ blocked_until: blockedUntil }).where('key', '=', key).execute();
  }

  async clearThrottle(keys: string[]): Promise<void> {
    if (keys.length) await this.db.deleteFrom('auth_throttle').where('key', 'in', keys).execute();
  }

  // --- administrator alerts -----------------------------------------------------------------
}
