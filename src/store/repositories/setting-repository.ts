import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

/** Installation facts shared by every node (e.g. the fingerprint of the keyring the data was written with). */
export interface SettingRepository {
  get(name: string): Promise<string | undefined>;
  /** Stores `value` unless the setting exists; returns the stored value either way. */
  init(name: string, value: string): Promise<string>;
}

const GET = stmt('select value from settings where name = ?');
const INIT = stmt('insert into settings (name, value) values (?, ?) on conflict (name) do nothing');

export class SqlSettingRepository implements SettingRepository {
  constructor(private readonly sql: Sql) {}

  async get(name: string): Promise<string | undefined> {
    return (await this.sql.get<{ value: string }>(GET, [name]))?.value;
  }

  async init(name: string, value: string): Promise<string> {
    await this.sql.run(INIT, [name, value]);
    return (await this.get(name))!;
  }
}
