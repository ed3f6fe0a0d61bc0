import { sql, type Insertable, type Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type MessagingDeviceRow = Selectable<Database['messaging_devices']>;
export type KeyPackageRow = Selectable<Database['messaging_key_packages']>;

/**
 * MLS bindings of messaging devices and their uploaded key packages (migration 020). Key packages
 * are single use: a claim deletes the package it hands out, so two claimers never get the same one.
 */
export interface MessagingDeviceRepository {
  /** Inserts a binding; rejects (unique violation) when the device already has one. */
  insert(row: Insertable<Database['messaging_devices']>): Promise<void>;
  /** A binding of the tenant, active or revoked. */
  get(tenantId: string, deviceId: string): Promise<MessagingDeviceRow | undefined>;
  /** The active bindings of a person, oldest first. */
  activeOf(tenantId: string, personKind: string, personId: string): Promise<MessagingDeviceRow[]>;
  /**
   * Revokes the active bindings of a person whose `devices` row is revoked (all of them, or only
   * `deviceId`) and drops their key packages; returns the bindings it revoked (with `revoked_at`).
   */
  revokeRevokedDevices(
    tenantId: string,
    personKind: string,
    personId: string,
    now: number,
    deviceId?: string,
  ): Promise<MessagingDeviceRow[]>;
  /** Inserts key packages; one already stored for the device (same `ref`) is ignored. Returns how many were new. */
  insertKeyPackages(rows: readonly KeyPackageRow[]): Promise<number>;
  /** Makes `row` the device's last-resort package of its suite, replacing the previous one. */
  replaceLastResort(row: KeyPackageRow): Promise<void>;
  /** Per suite: available (single-use) packages and whether a last-resort one is held. */
  counts(tenantId: string, deviceId: string): Promise<{ cipher_suite: string; last_resort: number; n: number }[]>;
  /**
   * Deletes and returns the device's oldest single-use package of `suite` (on PostgreSQL skipping
   * rows another transaction is claiming), else returns its last-resort package (kept); undefined when neither.
   */
  claim(
    tenantId: string,
    deviceId: string,
    suite: string,
  ): Promise<{ data: Uint8Array; lastResort: boolean } | undefined>;
  /** Single-use packages of `suite` left to the device. */
  available(tenantId: string, deviceId: string, suite: string): Promise<number>;
  /**
   * Adds `n` to the counter `key` of a fixed window of `windowMs` (the sign-in throttle's table,
   * shared by every node) and returns the count, in one statement (an upsert), so concurrent
   * claims cannot both read a stale count. Rolled back with the caller's transaction.
   */
  countClaims(key: string, n: number, now: number, windowMs: number): Promise<number>;
}

export class SqlMessagingDeviceRepository implements MessagingDeviceRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: Insertable<Database['messaging_devices']>): Promise<void> {
    await this.sql.db.insertInto('messaging_devices').values(row).execute();
  }

  get(tenantId: string, deviceId: string) {
    return this.sql.db
      .selectFrom('messaging_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
  }

  activeOf(tenantId: string, personKind: string, personId: string) {
    return this.sql.db
      .selectFrom('messaging_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('person_kind', '=', personKind)
      .where('person_id', '=', personId)
      .where('revoked_at', 'is', null)
      .orderBy('registered_at')
      .orderBy('device_id')
      .execute();
  }

  async revokeRevokedDevices(tenantId: string, personKind: string, personId: string, now: number, deviceId?: string) {
    const db = this.sql.db;
    let q = db
      .selectFrom('messaging_devices as m')
      .innerJoin('devices as d', (j) => j.onRef('d.tenant_id', '=', 'm.tenant_id').onRef('d.id', '=', 'm.device_id'))
      .selectAll('m')
      .where('m.tenant_id', '=', tenantId)
      .where('m.person_kind', '=', personKind)
      .where('m.person_id', '=', personId)
      .where('m.revoked_at', 'is', null)
      .where('d.revoked_at', 'is not', null);
    if (deviceId !== undefined) q = q.where('m.device_id', '=', deviceId);
    const rows = await q.orderBy('m.device_id').execute();
    const revoked: MessagingDeviceRow[] = [];
    for (const r of rows) {
      const u = await db
        .updateTable('messaging_devices')
        .set({ revoked_at: now })
        .where('tenant_id', '=', tenantId)
        .where('device_id', '=', r.device_id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(u.numUpdatedRows) !== 1) continue;
      await db
        .deleteFrom('messaging_key_packages')
        .where('tenant_id', '=', tenantId)
        .where('device_id', '=', r.device_id)
        .execute();
      revoked.push({ ...r, revoked_at: now });
    }
    return revoked;
  }

  async insertKeyPackages(rows: readonly KeyPackageRow[]): Promise<number> {
    let added = 0;
    for (const row of rows) {
      const r = await this.sql.db
        .insertInto('messaging_key_packages')
        .values(row)
        .onConflict((oc) => oc.columns(['tenant_id', 'device_id', 'ref']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (r) added++;
    }
    return added;
  }

  async replaceLastResort(row: KeyPackageRow): Promise<void> {
    await this.sql.db
      .deleteFrom('messaging_key_packages')
      .where('tenant_id', '=', row.tenant_id)
      .where('device_id', '=', row.device_id)
      .where((eb) =>
        eb.or([
          eb.and([eb('cipher_suite', '=', row.cipher_suite), eb('last_resort', '=', 1)]),
          // The same bytes uploaded before as a single-use package become the last-resort one.
          eb('ref', '=', row.ref),
        ]),
      )
      .execute();
    await this.sql.db.insertInto('messaging_key_packages').values(row).execute();
  }

  async counts(tenantId: string, deviceId: string) {
    const rows = await this.sql.db
      .selectFrom('messaging_key_packages')
      .select(['cipher_suite', 'last_resort', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .groupBy(['cipher_suite', 'last_resort'])
      .execute();
    return rows.map((r) => ({ cipher_suite: r.cipher_suite, last_resort: Number(r.last_resort), n: Number(r.n) }));
  }

  async claim(tenantId: string, deviceId: string, suite: string) {
    const db = this.sql.db;
    let oldest = db
      .selectFrom('messaging_key_packages')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('cipher_suite', '=', suite)
      .where('last_resort', '=', 0)
      .orderBy('created_at')
      .orderBy('id')
      .limit(1);
    // A row another claimer holds is skipped, not waited for: it is theirs once they commit.
    if (this.sql.backend === 'postgres') oldest = oldest.forUpdate().skipLocked();
    const taken = await db
      .deleteFrom('messaging_key_packages')
      .where('id', '=', (eb) => eb.selectFrom(oldest.as('o')).select('o.id'))
      .returning('data')
      .executeTakeFirst();
    if (taken) return { data: taken.data, lastResort: false };
    const kept = await db
      .selectFrom('messaging_key_packages')
      .select('data')
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('cipher_suite', '=', suite)
      .where('last_resort', '=', 1)
      .executeTakeFirst();
    return kept ? { data: kept.data, lastResort: true } : undefined;
  }

  async available(tenantId: string, deviceId: string, suite: string): Promise<number> {
    const r = await this.sql.db
      .selectFrom('messaging_key_packages')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('cipher_suite', '=', suite)
      .where('last_resort', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async countClaims(key: string, n: number, now: number, windowMs: number): Promise<number> {
    const windowStart = now - windowMs;
    const r = await this.sql.db
      .insertInto('auth_throttle')
      .values({ key, failures: n, first_failure_at: now, blocked_until: null, updated_at: now })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql<number>`case when auth_throttle.first_failure_at <= ${windowStart} then ${n} else auth_throttle.failures + ${n} end`,
          first_failure_at: sql<number>`case when auth_throttle.first_failure_at <= ${windowStart} then ${now} else auth_throttle.first_failure_at end`,
          updated_at: now,
        }),
      )
      .returning('failures')
      .executeTakeFirstOrThrow();
    return Number(r.failures);
  }
}
