import type { Insertable, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn, stmt } from '../sql.js';

export type AlertNotificationRow = Selectable<Database['alert_notifications']>;
export type StaffContactRow = Selectable<Database['staff_contacts']>;
export type StaffAlertSettingsRow = Selectable<Database['staff_alert_settings']>;

/** What a send outcome writes (under the lease). */
export interface AlertSendOutcome {
  status: 'sent' | 'delivered' | 'failed' | 'queued';
  reason?: string | null;
  provider?: string | null;
  providerMessageId?: string | null;
  sentAt?: number | null;
  deliveredAt?: number | null;
  /** For `queued` (a retry): when the sweep may take the row again. */
  retryAt?: number;
}

/**
 * Clinical alert nudges, staff contact methods and alert settings. A nudge row is also the
 * dispatcher's job: written `sending` with a lease for the node that planned it; every write of a
 * send outcome is conditional on that lease, and `claimExpired` hands rows whose lease ran out to
 * another sender (at least once).
 */
export interface AlertNotificationRepository {
  insertMany(rows: readonly Insertable<Database['alert_notifications']>[]): Promise<void>;
  get(tenantId: string, id: string): Promise<AlertNotificationRow | undefined>;
  /** Every nudge of an alert, oldest first. */
  listForAlert(tenantId: string, alertId: string): Promise<AlertNotificationRow[]>;
  /**
   * The reply code `userId` already has for `alertId` (a row created after `since` whose code is
   * still bound at `now`), if any: a repeat or a later step reuses it. Bounded by the alert's rows.
   */
  ownReplyCode(tenantId: string, alertId: string, userId: string, since: number, now: number): Promise<number | null>;
  /**
   * The smallest of the codes 1..`LOW_REPLY_CODES` that `userId` has not bound at `now` (rows
   * created after `since`), null when all are bound. One index seek per code (index
   * `alert_notifications_user_code`), whatever the number of the recipient's open alerts.
   */
  freeLowReplyCode(tenantId: string, userId: string, since: number, now: number): Promise<number | null>;
  /** The highest code `userId` has bound at `now` (rows created after `since`), 0 when none. */
  maxLiveReplyCode(tenantId: string, userId: string, since: number, now: number): Promise<number>;
  /** The latest SMS nudge still bound at `now` with this reply code to the address with this blind index. */
  findReply(
    tenantId: string,
    addressRef: string,
    code: number,
    since: number,
    now: number,
  ): Promise<AlertNotificationRow | undefined>;
  /** Writes a send outcome and releases the lease; false when `owner` no longer holds it. */
  finish(id: string, owner: string, o: AlertSendOutcome): Promise<boolean>;
  /**
   * Leases up to `limit` unsent rows (`sending` or `queued`) whose lease expired at `now` and that
   * have had fewer than `maxAttempts` attempts, counting this one.
   */
  claimExpired(
    owner: string,
    now: number,
    leaseUntil: number,
    limit: number,
    maxAttempts: number,
  ): Promise<AlertNotificationRow[]>;
  /** Fails unsent rows whose lease expired after `maxAttempts` attempts; returns how many. */
  failExhausted(now: number, maxAttempts: number): Promise<number>;
  /**
   * Cancels the alert's unsent rows not being sent right now (queued, or sending with an expired
   * lease), and ends the binding of its reply codes at `repliesUntil`.
   */
  cancelPending(tenantId: string, alertId: string, at: number, repliesUntil: number): Promise<number>;
  byProviderMessage(provider: string, messageId: string): Promise<AlertNotificationRow | undefined>;
  /** `sent` → `delivered` (a provider's receipt); false when the row was not `sent`. */
  markDelivered(id: string, at: number): Promise<boolean>;
  /** `sent` | `delivered` → `failed` with `reason` (a provider's late failure report). */
  markFailed(id: string, reason: string): Promise<boolean>;
  /** The recipient opened the alert: their sent or delivered nudges become `read`. */
  markRead(tenantId: string, alertId: string, userId: string, at: number): Promise<number>;

  /** A user's contact methods by rank. */
  contacts(tenantId: string, userId: string): Promise<StaffContactRow[]>;
  contactsOf(tenantId: string, userIds: readonly string[]): Promise<StaffContactRow[]>;
  replaceContacts(tenantId: string, userId: string, rows: readonly StaffContactRow[]): Promise<void>;
  settings(tenantId: string, userId: string): Promise<StaffAlertSettingsRow | undefined>;
  settingsOf(tenantId: string, userIds: readonly string[]): Promise<StaffAlertSettingsRow[]>;
  putSettings(row: StaffAlertSettingsRow): Promise<void>;
}

const COLUMNS = [
  'id',
  'tenant_id',
  'alert_id',
  'step',
  'repeat',
  'user_id',
  'target',
  'channel',
  'status',
  'reason',
  'priority',
  'summary',
  'language',
  'address',
  'address_ref',
  'reply_code',
  'replies_until',
  'provider',
  'provider_message_id',
  'lease_owner',
  'lease_until',
  'attempts',
  'created_at',
  'sent_at',
  'delivered_at',
  'read_at',
] as const;

const GET = stmt('select * from alert_notifications where tenant_id = ? and id = ?');
const FOR_ALERT = stmt(
  'select * from alert_notifications where tenant_id = ? and alert_id = ? order by created_at, id',
);
const BOUND = '(replies_until is null or replies_until > ?) and created_at > ?';
/** Reply codes probed one by one (the usual case: a person has a few open alerts, codes stay short). */
export const LOW_REPLY_CODES = 32;
const LIVE_CODE = `channel in ('sms', 'paging') and ${BOUND}`;
/**
 * On SQLite, `indexed by`: without ANALYZE statistics the planner prefers the
 * (tenant_id, user_id, created_at) range, which reads every nudge of the recipient of the last day.
 */
const pinned = (index: string, text: string) =>
  stmt(text.replace('from alert_notifications', `from alert_notifications indexed by ${index}`), text);
const OWN_CODE = pinned(
  'alert_notifications_alert',
  `select reply_code from alert_notifications where tenant_id = ? and alert_id = ? and user_id = ? and reply_code is not null and ${LIVE_CODE} limit 1`,
);
// `in (1, …, 32)` (not `between`): one seek per code, each narrowed by created_at in the index.
const USED_LOW = pinned(
  'alert_notifications_user_code',
  `select distinct reply_code from alert_notifications where tenant_id = ? and user_id = ? and reply_code in (${Array.from({ length: LOW_REPLY_CODES }, (_, i) => i + 1).join(', ')}) and ${LIVE_CODE}`,
);
const MAX_CODE = pinned(
  'alert_notifications_user_code',
  `select reply_code from alert_notifications where tenant_id = ? and user_id = ? and reply_code is not null and ${LIVE_CODE} order by reply_code desc limit 1`,
);
const FIND_REPLY = stmt(
  `select * from alert_notifications where tenant_id = ? and address_ref = ? and reply_code = ? and channel = 'sms' and ${BOUND} order by created_at desc, id desc limit 1`,
);
const FINISH = stmt(
  'update alert_notifications set status = ?, reason = ?, provider = coalesce(?, provider), provider_message_id = coalesce(?, provider_message_id), sent_at = coalesce(?, sent_at), delivered_at = coalesce(?, delivered_at), lease_owner = null, lease_until = ? where id = ? and lease_owner = ?',
);
const UNSENT = `status in ('sending', 'queued') and lease_until < ?`;
const CLAIM = stmt(
  `update alert_notifications set lease_owner = ?, lease_until = ?, attempts = attempts + 1, status = 'sending' where id in (select id from alert_notifications where ${UNSENT} and attempts < ? order by lease_until limit ?) and ${UNSENT} returning *`,
);
const EXHAUST = stmt(
  `update alert_notifications set status = 'failed', reason = coalesce(reason, 'attempts_exhausted'), lease_owner = null, lease_until = null where ${UNSENT} and attempts >= ?`,
);
const CANCEL = stmt(
  `update alert_notifications set status = 'cancelled', reason = 'answered', lease_owner = null, lease_until = null where tenant_id = ? and alert_id = ? and (status = 'queued' or (status = 'sending' and lease_until < ?))`,
);
const END_REPLIES = stmt(
  'update alert_notifications set replies_until = ? where tenant_id = ? and alert_id = ? and reply_code is not null and replies_until is null',
);
const BY_PROVIDER = stmt(
  'select * from alert_notifications where provider = ? and provider_message_id = ? order by created_at desc limit 1',
);
const DELIVERED = stmt(
  "update alert_notifications set status = 'delivered', delivered_at = ? where id = ? and status = 'sent'",
);
const LATE_FAILED = stmt(
  "update alert_notifications set status = 'failed', reason = ? where id = ? and status in ('sent', 'delivered')",
);
const READ = stmt(
  "update alert_notifications set status = 'read', read_at = ? where tenant_id = ? and alert_id = ? and user_id = ? and status in ('sent', 'delivered')",
);
const CONTACTS = stmt('select * from staff_contacts where tenant_id = ? and user_id = ? order by rank');
const DELETE_CONTACTS = stmt('delete from staff_contacts where tenant_id = ? and user_id = ?');
const CONTACT_COLUMNS = ['tenant_id', 'user_id', 'rank', 'kind', 'value', 'updated_at'] as const;
const SETTINGS = stmt('select * from staff_alert_settings where tenant_id = ? and user_id = ?');
const PUT_SETTINGS = stmt(
  'insert into staff_alert_settings (tenant_id, user_id, language, time_zone, quiet_hours, dnd_until, updated_at) values (?, ?, ?, ?, ?, ?, ?) on conflict (tenant_id, user_id) do update set language = excluded.language, time_zone = excluded.time_zone, quiet_hours = excluded.quiet_hours, dnd_until = excluded.dnd_until, updated_at = excluded.updated_at',
);

export class SqlAlertNotificationRepository implements AlertNotificationRepository {
  constructor(private readonly sql: Sql) {}

  insertMany(rows: readonly Insertable<Database['alert_notifications']>[]): Promise<void> {
    return insertRows(this.sql, 'alert_notifications', COLUMNS, rows as unknown as Record<string, unknown>[]);
  }

  async get(tenantId: string, id: string): Promise<AlertNotificationRow | undefined> {
    return num(await this.sql.get<AlertNotificationRow>(GET, [tenantId, id]));
  }

  async listForAlert(tenantId: string, alertId: string): Promise<AlertNotificationRow[]> {
    return (await this.sql.all<AlertNotificationRow>(FOR_ALERT, [tenantId, alertId])).map((r) => num(r)!);
  }

  async ownReplyCode(tenantId: string, alertId: string, userId: string, since: number, now: number) {
    const r = await this.sql.get<{ reply_code: number | string }>(OWN_CODE, [tenantId, alertId, userId, now, since]);
    return r ? Number(r.reply_code) : null;
  }

  async freeLowReplyCode(tenantId: string, userId: string, since: number, now: number) {
    const rows = await this.sql.all<{ reply_code: number | string }>(USED_LOW, [tenantId, userId, now, since]);
    const used = new Set(rows.map((r) => Number(r.reply_code)));
    for (let code = 1; code <= LOW_REPLY_CODES; code++) if (!used.has(code)) return code;
    return null;
  }

  async maxLiveReplyCode(tenantId: string, userId: string, since: number, now: number) {
    const r = await this.sql.get<{ reply_code: number | string }>(MAX_CODE, [tenantId, userId, now, since]);
    return r ? Number(r.reply_code) : 0;
  }

  async findReply(tenantId: string, addressRef: string, code: number, since: number, now: number) {
    return num(await this.sql.get<AlertNotificationRow>(FIND_REPLY, [tenantId, addressRef, code, now, since]));
  }

  async finish(id: string, owner: string, o: AlertSendOutcome): Promise<boolean> {
    const n = await this.sql.run(FINISH, [
      o.status,
      o.reason ?? null,
      o.provider ?? null,
      o.providerMessageId ?? null,
      o.sentAt ?? null,
      o.deliveredAt ?? null,
      o.status === 'queued' ? (o.retryAt ?? 0) : null,
      id,
      owner,
    ]);
    return n > 0;
  }

  async claimExpired(owner: string, now: number, leaseUntil: number, limit: number, maxAttempts: number) {
    const rows = await this.sql.all<AlertNotificationRow>(CLAIM, [owner, leaseUntil, now, maxAttempts, limit, now]);
    return rows.map((r) => num(r)!);
  }

  failExhausted(now: number, maxAttempts: number): Promise<number> {
    return this.sql.run(EXHAUST, [now, maxAttempts]);
  }

  async cancelPending(tenantId: string, alertId: string, at: number, repliesUntil: number): Promise<number> {
    const n = await this.sql.run(CANCEL, [tenantId, alertId, at]);
    await this.sql.run(END_REPLIES, [repliesUntil, tenantId, alertId]);
    return n;
  }

  async byProviderMessage(provider: string, messageId: string) {
    return num(await this.sql.get<AlertNotificationRow>(BY_PROVIDER, [provider, messageId]));
  }

  async markDelivered(id: string, at: number): Promise<boolean> {
    return (await this.sql.run(DELIVERED, [at, id])) > 0;
  }

  async markFailed(id: string, reason: string): Promise<boolean> {
    return (await this.sql.run(LATE_FAILED, [reason, id])) > 0;
  }

  markRead(tenantId: string, alertId: string, userId: string, at: number): Promise<number> {
    return this.sql.run(READ, [at, tenantId, alertId, userId]);
  }

  async contacts(tenantId: string, userId: string): Promise<StaffContactRow[]> {
    return (await this.sql.all<StaffContactRow>(CONTACTS, [tenantId, userId])).map(contactNum);
  }

  async contactsOf(tenantId: string, userIds: readonly string[]): Promise<StaffContactRow[]> {
    const rows = await selectIn<StaffContactRow>(
      this.sql,
      'select * from staff_contacts where tenant_id = ? and',
      'user_id',
      userIds,
      [tenantId],
    );
    return rows.map(contactNum).sort((a, b) => a.rank - b.rank);
  }

  async replaceContacts(tenantId: string, userId: string, rows: readonly StaffContactRow[]): Promise<void> {
    await this.sql.run(DELETE_CONTACTS, [tenantId, userId]);
    if (rows.length) await insertRows(this.sql, 'staff_contacts', CONTACT_COLUMNS, rows as never);
  }

  async settings(tenantId: string, userId: string): Promise<StaffAlertSettingsRow | undefined> {
    return settingsNum(await this.sql.get<StaffAlertSettingsRow>(SETTINGS, [tenantId, userId]));
  }

  async settingsOf(tenantId: string, userIds: readonly string[]): Promise<StaffAlertSettingsRow[]> {
    const rows = await selectIn<StaffAlertSettingsRow>(
      this.sql,
      'select * from staff_alert_settings where tenant_id = ? and',
      'user_id',
      userIds,
      [tenantId],
    );
    return rows.map((r) => settingsNum(r)!);
  }

  async putSettings(r: StaffAlertSettingsRow): Promise<void> {
    await this.sql.run(PUT_SETTINGS, [
      r.tenant_id,
      r.user_id,
      r.language,
      r.time_zone,
      r.quiet_hours,
      r.dnd_until,
      r.updated_at,
    ]);
  }
}

/** PostgreSQL returns bigint columns as strings; the port speaks numbers. */
function num(r: AlertNotificationRow | undefined): AlertNotificationRow | undefined {
  if (!r) return r;
  const n = (v: unknown) => (v == null ? null : Number(v));
  return {
    ...r,
    step: Number(r.step),
    repeat: Number(r.repeat),
    attempts: Number(r.attempts),
    created_at: Number(r.created_at),
    reply_code: n(r.reply_code),
    replies_until: n(r.replies_until),
    lease_until: n(r.lease_until),
    sent_at: n(r.sent_at),
    delivered_at: n(r.delivered_at),
    read_at: n(r.read_at),
  };
}

function contactNum(r: StaffContactRow): StaffContactRow {
  return { ...r, rank: Number(r.rank), updated_at: Number(r.updated_at) };
}

function settingsNum(r: StaffAlertSettingsRow | undefined): StaffAlertSettingsRow | undefined {
  if (!r) return r;
  return { ...r, dnd_until: r.dnd_until == null ? null : Number(r.dnd_until), updated_at: Number(r.updated_at) };
}
