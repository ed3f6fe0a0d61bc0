import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

/** Installation facts shared by every node (e.g. the fingerprint of the keyring the data was written with). */
export interface SettingRepository {
  get(name: string): Promise<string | undefined>;
  /** Stores `value` unless the setting exists; returns the stored value either way. */
  init(name: string, value: string): Promise<string>;
  /** Stores `value`, replacing the setting's value if it exists. */
  put(name: string, value: string): Promise<void>;
}

const GET = stmt('select value from settings where name = ?');
const INIT = stmt('insert into settings (name, value) values (?, ?) on conflict (name) do nothing');
const PUT = stmt(
  'insert into settings (name, value) values (?, ?) on conflict (name) do update set value = excluded.value',
);

export class SqlSettingRepository implements SettingRepository {
  constructor(private readonly sql: Sql) {}

  async get(name: string): Promise<string | undefined> {
    return (await this.sql.get<{ value: string }>(GET, [name]))?.value;
  }

  async init(name: string, value: string): Promise<string> {
    await this.sql.run(INIT, [name, value]);
    return (await this.get(name))!;
  }

  async put(name: string, value: string): Promise<void> {
    await this.sql.run(PUT, [name, value]);
  }
}
