import type { Insertable, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';
import { revokeOnce } from './revoke-once.js';

export type ApiKeyRow = Selectable<Database['api_keys']>;

/** API keys of systems (integrations, auditors): only their secret's hash is stored. */
export interface ApiKeyRepository {
  /** Number of keys of every tenant (zero means the installation has no key yet). */
  count(): Promise<number>;
  insert(row: Insertable<Database['api_keys']>): Promise<void>;
  /** The key by id, revoked and expired ones included (the caller decides what they may do). */
  get(id: string): Promise<ApiKeyRow | undefined>;
  /** Records when the key was last used. */
  touch(id: string, now: number): Promise<void>;
  /** A tenant's keys in id order, after `afterId` (cursor); the caller never shows secret hashes. */
  list(tenantId: string, afterId: string, limit: number): Promise<ApiKeyRow[]>;
  /** Sets `revoked_at` once; false when the key does not exist for this tenant or was already revoked. */
  revoke(tenantId: string, id: string, now: number): Promise<boolean>;
  /** The key that replaced `id`, if any (a key is rotated once; its successor is rotated next). */
  successor(tenantId: string, id: string): Promise<string | undefined>;
  /**
   * Ends a live key's life at `until` unless it already ends sooner; false when the key is unknown,
   * revoked or already expired at `now`.
   */
  shortenLife(tenantId: string, id: string, until: number, now: number): Promise<boolean>;
}

const GET = stmt('select * from api_keys where id = ?');
const TOUCH = stmt('update api_keys set last_used_at = ? where id = ?');

export class SqlApiKeyRepository implements ApiKeyRepository {
  constructor(private readonly sql: Sql) {}

  async count(): Promise<number> {
    const r = await this.sql.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insert(row: Insertable<Database['api_keys']>): Promise<void> {
    await this.sql.db.insertInto('api_keys').values(row).execute();
  }

  get(id: string): Promise<ApiKeyRow | undefined> {
    return this.sql.get<ApiKeyRow>(GET, [id]);
  }

  async touch(id: string, now: number): Promise<void> {
    await this.sql.run(TOUCH, [now, id]);
  }

  list(tenantId: string, afterId: string, limit: number): Promise<ApiKeyRow[]> {
    return this.sql.db
      .selectFrom('api_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  revoke(tenantId: string, id: string, now: number): Promise<boolean> {
    return revokeOnce(this.sql.db, 'api_keys', tenantId, id, now);
  }

  async successor(tenantId: string, id: string): Promise<string | undefined> {
    const r = await this.sql.db
      .selectFrom('api_keys')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('rotated_from', '=', id)
      .executeTakeFirst();
    return r?.id;
  }

  async shortenLife(tenantId: string, id: string, until: number, now: number): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('api_keys')
      .set((eb) => ({
        expires_at: eb
          .case()
          .when('expires_at', 'is', null)
          .then(until)
          .when('expires_at', '>', until)
          .then(until)
          .else(eb.ref('expires_at'))
          .end(),
      }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
