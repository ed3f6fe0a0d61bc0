import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

export type FhirSubscriptionRow = Selectable<Database['fhir_subscriptions']>;
export type FhirSubscriptionEventRow = Selectable<Database['fhir_subscription_events']>;

/**
 * FHIR Subscriptions and their undelivered events. The subscription row is also the rest-hook
 * worker's job: `claimDue` leases whole subscriptions, so one node at a time sends a subscription's
 * notifications, in event order. Every write of the worker is conditional on its lease.
 */
export interface FhirSubscriptionRepository {
  insert(row: Insertable<Database['fhir_subscriptions']>): Promise<void>;
  get(tenantId: string, id: string): Promise<FhirSubscriptionRow | undefined>;
  /** The tenant's subscriptions, newest first, at most `limit`. */
  list(tenantId: string, limit: number): Promise<FhirSubscriptionRow[]>;
  /** Sets columns by the API (status off, end, filters); not conditional on any lease. */
  update(tenantId: string, id: string, set: Updateable<Database['fhir_subscriptions']>): Promise<boolean>;
  /** Deletes the subscription and its pending events. */
  delete(tenantId: string, id: string): Promise<boolean>;
  /** Subscriptions of `topic` in the tenant that take new events (`requested` or `active`). */
  listListening(tenantId: string, topic: string): Promise<FhirSubscriptionRow[]>;
  /**
   * Appends one event: increments the subscription's counter and inserts the event under the new
   * number, in the caller's transaction (the row update serializes concurrent appenders).
   */
  appendEvent(
    subscriptionId: string,
    e: Omit<Insertable<Database['fhir_subscription_events']>, 'subscription_id' | 'event_number'>,
  ): Promise<number>;
  /**
   * Leases up to `limit` subscriptions that have work at `now` (a handshake to send, undelivered
   * events, or a heartbeat due) and whose next attempt is due, for `owner` until `leaseUntil`.
   * A subscription leased by another owner is taken only once that lease has expired.
   */
  claimDue(owner: string, now: number, leaseUntil: number, limit: number): Promise<FhirSubscriptionRow[]>;
  /** Whether `claimDue` would lease anything at `now` (a read: idle polls write nothing). */
  anyDue(now: number): Promise<boolean>;
  /** Undelivered events after `afterNumber`, in order, at most `limit`. */
  pendingEvents(subscriptionId: string, afterNumber: number, limit: number): Promise<FhirSubscriptionEventRow[]>;
  /**
   * Under `owner`'s lease: writes `set` and releases the lease; when `sentThrough` is given, also
   * deletes the events up to it (they were delivered). False when the lease was lost.
   */
  finish(
    id: string,
    owner: string,
    set: Updateable<Database['fhir_subscriptions']>,
    sentThrough?: number,
  ): Promise<boolean>;
  /** Turns subscriptions whose `end` has passed to `off`; returns how many. */
  endExpired(now: number): Promise<number>;
}

const GET = stmt('select * from fhir_subscriptions where tenant_id = ? and id = ?');
const LIST = stmt('select * from fhir_subscriptions where tenant_id = ? order by created_at desc, id desc limit ?');
const LISTENING = stmt(
  "select * from fhir_subscriptions where tenant_id = ? and topic = ? and status in ('requested', 'active')",
);
const BUMP = stmt(
  'update fhir_subscriptions set events_since_start = events_since_start + 1 where id = ? returning events_since_start',
);
const INSERT_EVENT = stmt(
  'insert into fhir_subscription_events (subscription_id, event_number, tenant_id, focus_type, focus_id, context, code, at) values (?, ?, ?, ?, ?, ?, ?, ?)',
);
const DUE = `(lease_until is null or lease_until < ?) and next_attempt_at <= ? and (status = 'requested' or (status = 'active' and (events_since_start > events_sent or (heartbeat_seconds is not null and coalesce(last_sent_at, created_at) + heartbeat_seconds * 1000 <= ?))))`;
const CLAIM = stmt(
  `update fhir_subscriptions set lease_owner = ?, lease_until = ? where id in (select id from fhir_subscriptions where ${DUE} order by next_attempt_at limit ?) and ${DUE} returning *`,
);
const ANY_DUE = stmt(`select id from fhir_subscriptions where ${DUE} limit 1`);
const PENDING = stmt(
  'select * from fhir_subscription_events where subscription_id = ? and event_number > ? order by event_number limit ?',
);
const DELETE_SENT = stmt('delete from fhir_subscription_events where subscription_id = ? and event_number <= ?');
const DELETE_EVENTS = stmt('delete from fhir_subscription_events where subscription_id = ?');
const END = stmt(
  "update fhir_subscriptions set status = 'off', updated_at = ? where end_at is not null and end_at <= ? and status in ('requested', 'active')",
);

export class SqlFhirSubscriptionRepository implements FhirSubscriptionRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: Insertable<Database['fhir_subscriptions']>): Promise<void> {
    await this.sql.db.insertInto('fhir_subscriptions').values(row).execute();
  }

  async get(tenantId: string, id: string): Promise<FhirSubscriptionRow | undefined> {
    return num(await this.sql.get<FhirSubscriptionRow>(GET, [tenantId, id]));
  }

  async list(tenantId: string, limit: number): Promise<FhirSubscriptionRow[]> {
    return (await this.sql.all<FhirSubscriptionRow>(LIST, [tenantId, limit])).map((r) => num(r)!);
  }

  async update(tenantId: string, id: string, set: Updateable<Database['fhir_subscriptions']>): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('fhir_subscriptions')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const row = await this.get(tenantId, id);
    if (!row) return false;
    await this.sql.run(DELETE_EVENTS, [id]);
    await this.sql.db.deleteFrom('fhir_subscriptions').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    return true;
  }

  async listListening(tenantId: string, topic: string): Promise<FhirSubscriptionRow[]> {
    return (await this.sql.all<FhirSubscriptionRow>(LISTENING, [tenantId, topic])).map((r) => num(r)!);
  }

  async appendEvent(
    subscriptionId: string,
    e: Omit<Insertable<Database['fhir_subscription_events']>, 'subscription_id' | 'event_number'>,
  ): Promise<number> {
    const r = await this.sql.get<{ events_since_start: number | string }>(BUMP, [subscriptionId]);
    const n = Number(r!.events_since_start);
    await this.sql.run(INSERT_EVENT, [
      subscriptionId,
      n,
      e.tenant_id,
      e.focus_type,
      e.focus_id,
      e.context,
      e.code,
      e.at,
    ]);
    return n;
  }

  async claimDue(owner: string, now: number, leaseUntil: number, limit: number): Promise<FhirSubscriptionRow[]> {
    const rows = await this.sql.all<FhirSubscriptionRow>(CLAIM, [
      owner,
      leaseUntil,
      now,
      now,
      now,
      limit,
      now,
      now,
      now,
    ]);
    return rows.map((r) => num(r)!);
  }

  async anyDue(now: number): Promise<boolean> {
    return (await this.sql.get(ANY_DUE, [now, now, now])) !== undefined;
  }

  async pendingEvents(subscriptionId: string, afterNumber: number, limit: number): Promise<FhirSubscriptionEventRow[]> {
    const rows = await this.sql.all<FhirSubscriptionEventRow>(PENDING, [subscriptionId, afterNumber, limit]);
    return rows.map((r) => ({ ...r, event_number: Number(r.event_number), at: Number(r.at) }));
  }

  async finish(
    id: string,
    owner: string,
    set: Updateable<Database['fhir_subscriptions']>,
    sentThrough?: number,
  ): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('fhir_subscriptions')
      .set({ ...set, lease_owner: null, lease_until: null })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    if (sentThrough !== undefined) await this.sql.run(DELETE_SENT, [id, sentThrough]);
    return true;
  }

  endExpired(now: number): Promise<number> {
    return this.sql.run(END, [now, now]);
  }
}

/** PostgreSQL returns bigint columns as strings; the port speaks numbers. */
function num(r: FhirSubscriptionRow | undefined): FhirSubscriptionRow | undefined {
  if (!r) return r;
  const n = (v: unknown) => (v == null ? null : Number(v));
  return {
    ...r,
    events_since_start: Number(r.events_since_start),
    events_sent: Number(r.events_sent),
    failures: Number(r.failures),
    next_attempt_at: Number(r.next_attempt_at),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    end_at: n(r.end_at),
    last_sent_at: n(r.last_sent_at),
    lease_until: n(r.lease_until),
    heartbeat_seconds: n(r.heartbeat_seconds),
    timeout_seconds: n(r.timeout_seconds),
    max_count: Number(r.max_count),
  };
}
