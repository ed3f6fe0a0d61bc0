import { sql as raw } from 'kysely';
import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

/** Named, expiring leases (background duties run on one node at a time) and transaction-scoped locks. */
export interface LeaseRepository {
  /**
   * Takes or renews the named lease for `owner` until `until`; true when `owner` holds it afterwards.
   * A lease held by someone else is taken over only once it has expired.
   */
  acquire(name: string, owner: string, now: number, until: number): Promise<boolean>;
  release(name: string, owner: string): Promise<void>;
  /** Serializes concurrent holders of `name` (across nodes) until this transaction ends (SQLite has one writer already). */
  lockExclusive(name: string): Promise<void>;
}

const CREATE = stmt('insert into leases (name, owner, until) values (?, ?, ?) on conflict (name) do nothing');
const TAKE = stmt('update leases set owner = ?, until = ? where name = ? and (owner = ? or until < ?)');
const RELEASE = stmt('delete from leases where name = ? and owner = ?');

export class SqlLeaseRepository implements LeaseRepository {
  constructor(private readonly sql: Sql) {}

  async acquire(name: string, owner: string, now: number, until: number): Promise<boolean> {
    await this.sql.run(CREATE, [name, owner, until]);
    return (await this.sql.run(TAKE, [owner, until, name, owner, now])) === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    await this.sql.run(RELEASE, [name, owner]);
  }

  async lockExclusive(name: string): Promise<void> {
    if (this.sql.backend === 'postgres')
      await raw`select pg_advisory_xact_lock(hashtext(${name}))`.execute(this.sql.db);
  }
}
