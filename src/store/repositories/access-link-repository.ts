import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, stmt } from '../sql.js';
import { ACCESS_LINK_COLUMNS } from './columns.js';

export type AccessLinkRow = Selectable<Database['access_links']>;
export type PortalSessionRow = Selectable<Database['portal_sessions']>;

/** One-time portal links (stored as token hashes) and the portal sessions they open. */
export interface AccessLinkRepository {
  /** Inserts new links (one statement per few hundred); token hashes are of fresh random tokens. */
  insertMany(rows: readonly AccessLinkRow[]): Promise<void>;
  get(tokenHash: string): Promise<AccessLinkRow | undefined>;
  update(tokenHash: string, set: Updateable<Database['access_links']>): Promise<void>;
  /** Counts a wrong answer atomically and returns the new count. */
  countFailedAttempt(tokenHash: string): Promise<number>;
  insertPortalSession(row: Insertable<Database['portal_sessions']>): Promise<void>;
  getPortalSession(tokenHash: string): Promise<PortalSessionRow | undefined>;
}

const GET = stmt('select * from access_links where token_hash = ?');
const FAILED = stmt(
  'update access_links set failed_attempts = failed_attempts + 1 where token_hash = ? returning failed_attempts',
);
const GET_SESSION = stmt('select * from portal_sessions where token_hash = ?');

export class SqlAccessLinkRepository implements AccessLinkRepository {
  constructor(private readonly sql: Sql) {}

  async insertMany(rows: readonly AccessLinkRow[]): Promise<void> {
    await insertRows(this.sql, 'access_links', ACCESS_LINK_COLUMNS, rows);
  }

  get(tokenHash: string): Promise<AccessLinkRow | undefined> {
    return this.sql.get<AccessLinkRow>(GET, [tokenHash]);
  }

  async update(tokenHash: string, set: Updateable<Database['access_links']>): Promise<void> {
    await this.sql.db.updateTable('access_links').set(set).where('token_hash', '=', tokenHash).execute();
  }

  async countFailedAttempt(tokenHash: string): Promise<number> {
    const r = await this.sql.get<{ failed_attempts: number }>(FAILED, [tokenHash]);
    return r?.failed_attempts ?? 0;
  }

  async insertPortalSession(row: Insertable<Database['portal_sessions']>): Promise<void> {
    await this.sql.db.insertInto('portal_sessions').values(row).execute();
  }

  getPortalSession(tokenHash: string): Promise<PortalSessionRow | undefined> {
    return this.sql.get<PortalSessionRow>(GET_SESSION, [tokenHash]);
  }
}
