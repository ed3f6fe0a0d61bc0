import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { PortOf } from './port-of.js';

export type ChallengeRow = Selectable<Database['auth_challenges']>;

/**
 * Short-lived single-use challenges (`auth_challenges`): WebAuthn challenges, pending TOTP seeds,
 * patient sign-in codes, pending OIDC requests. Every "use" is a compare-and-set on `used_at`, so of
 * two racing requests exactly one wins, on every backend and node.
 */
export type ChallengeRepository = PortOf<SqlChallengeRepository>;

export class SqlChallengeRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<Database['auth_challenges']>): Promise<void> {
    await this.db.insertInto('auth_challenges').values(row).execute();
  }

  /** The newest live (unused, unexpired, with attempts left) challenge of (purpose, subject), without using it. */
  async live(
    tenantId: string,
    purpose: string,
    subject: string,
    now: number,
    maxAttempts?: number,
  ): Promise<ChallengeRow | undefined> {
    return this.db
      .selectFrom('auth_challenges')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('purpose', '=', purpose)
      .where('subject', '=', subject)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .$if(maxAttempts !== undefined, (q) => q.where('attempts', '<', maxAttempts!))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** Marks a challenge used; false when it already was (a racing request took it). `blank` also erases its secret. */
  async use(id: string, now: number, blank = false): Promise<boolean> {
    const r = await this.db
      .updateTable('auth_challenges')
      .set(blank ? { used_at: now, challenge: '' } : { used_at: now })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Takes the newest live challenge of (purpose, subject): it answers one attempt, right or wrong. */
  async take(tenantId: string, purpose: string, subject: string, now: number): Promise<ChallengeRow | undefined> {
    const row = await this.live(tenantId, purpose, subject, now);
    return row && (await this.use(row.id, now)) ? row : undefined;
  }

  /**
   * Takes a challenge by id once and blanks its secret (code verifier, nonce), so a used row keeps
   * nothing worth stealing. Returns it as it was; undefined when unknown, expired or already used.
   */
  async takeById(id: string, purpose: string, now: number): Promise<ChallengeRow | undefined> {
    const row = await this.db
      .selectFrom('auth_challenges')
      .selectAll()
      .where('id', '=', id)
      .where('purpose', '=', purpose)
      .executeTakeFirst();
    if (!row || row.used_at != null || Number(row.expires_at) <= now) return undefined;
    return (await this.use(id, now, true)) ? row : undefined;
  }

  /** Ends every unused challenge of (purpose, subject): a new one supersedes them. Returns how many. */
  async retire(tenantId: string, purpose: string, subject: string, now: number): Promise<number> {
    const r = await this.db
      .updateTable('auth_challenges')
      .set({ used_at: now })
      .where('tenant_id', '=', tenantId)
      .where('purpose', '=', purpose)
      .where('subject', '=', subject)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Counts a wrong answer; returns the attempts so far. */
  async countAttempt(id: string): Promise<number> {
    const r = await this.db
      .updateTable('auth_challenges')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .returning('attempts')
      .executeTakeFirstOrThrow();
    return Number(r.attempts);
  }

  /** Deletes challenges of `purpose` that expired before `before` (useless, and anyone can create them). */
  async purge(purpose: string, before: number): Promise<number> {
    const r = await this.db
      .deleteFrom('auth_challenges')
      .where('purpose', '=', purpose)
      .where('expires_at', '<', before)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes every challenge, of any purpose, that expired before `before` (housekeeping). */
  async purgeAllExpired(before: number): Promise<number> {
    const r = await this.db.deleteFrom('auth_challenges').where('expires_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * Deletes throttle rows untouched since `before` and not blocking anyone now (housekeeping: every
   * window the throttles count in is far shorter). Returns how many.
   */
  async purgeIdleThrottles(before: number, now: number): Promise<number> {
    const r = await this.db
      .deleteFrom('auth_throttle')
      .where('updated_at', '<', before)
      .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', now)]))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes every challenge of a subject (erasure of a patient account). */
  async deleteOf(tenantId: string, subject: string): Promise<void> {
    await this.db
      .deleteFrom('auth_challenges')
      .where('tenant_id', '=', tenantId)
      .where('subject', '=', subject)
      .execute();
  }
}
