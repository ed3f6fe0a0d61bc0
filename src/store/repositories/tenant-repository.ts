import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

/** Tenants: the unit of isolation every other row is scoped to. */
export interface TenantRepository {
  /** Creates the tenant unless it exists (an existing tenant's name is left as it is). */
  ensure(id: string, name: string, now: number): Promise<void>;
  /** Whether the tenant exists. */
  exists(id: string): Promise<boolean>;
  /** Every tenant id, in id order. */
  listIds(): Promise<string[]>;
}

const ENSURE = stmt('insert into tenants (id, name, created_at) values (?, ?, ?) on conflict (id) do nothing');
const EXISTS = stmt('select 1 as one from tenants where id = ?');
const LIST = stmt('select id from tenants order by id');

export class SqlTenantRepository implements TenantRepository {
  constructor(private readonly sql: Sql) {}

  async ensure(id: string, name: string, now: number): Promise<void> {
    await this.sql.run(ENSURE, [id, name, now]);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.sql.get(EXISTS, [id])) !== undefined;
  }

  async listIds(): Promise<string[]> {
    return (await this.sql.all<{ id: string }>(LIST, [])).map((r) => r.id);
  }
}
