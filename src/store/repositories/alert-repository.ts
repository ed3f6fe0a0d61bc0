import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

export type AlertRow = Selectable<Database['alerts']>;
export type AlertTimerRow = Selectable<Database['alert_timers']>;
export type AlertEventRow = Selectable<Database['alert_events']>;
export type EscalationPolicyRow = Selectable<Database['escalation_policies']>;

export type AlertPatch = Partial<
  Pick<
    AlertRow,
    | 'state'
    | 'priority'
    | 'step'
    | 'repeat'
    | 'count'
    | 'last_triggered_at'
    | 'updated_at'
    | 'acknowledged_at'
    | 'acknowledged_by'
    | 'closed_at'
    | 'closed_by'
    | 'open_dedup'
  >
>;

export interface AlertListFilter {
  state?: string;
  priority?: string;
  /** Only alerts in an open state. */
  open?: boolean;
  /** Keyset cursor: alerts created before (at, id). */
  before?: { at: number; id: string };
}

/**
 * Clinical alerts, their timers, timeline and escalation policies (migration 015). Nothing here is
 * PHI in clear: summaries are PHI-free by validation, details are sealed by the caller.
 */
export interface AlertRepository {
  insert(row: AlertRow): Promise<void>;
  get(tenantId: string, id: string): Promise<AlertRow | undefined>;
  /** The alert, row-locked until the transaction ends on PostgreSQL (SQLite has one writer anyway). */
  getForUpdate(tenantId: string, id: string): Promise<AlertRow | undefined>;
  /** The open alert holding this dedup hash, locked like `getForUpdate`. */
  findOpenByDedup(tenantId: string, dedupBidx: string): Promise<AlertRow | undefined>;
  update(tenantId: string, id: string, patch: AlertPatch): Promise<void>;
  /** Newest first. */
  list(tenantId: string, f: AlertListFilter, limit: number): Promise<AlertRow[]>;

  /** Inserts a timer unless one exists for (alert, step, repeat); true when this call inserted it. */
  insertTimer(row: AlertTimerRow): Promise<boolean>;
  /**
   * Unfired timers due at or before `now`, earliest first, at most `limit`. On PostgreSQL they stay
   * row-locked until the transaction ends, and rows another transaction holds are skipped (a killed
   * connection's locks vanish with it, so nobody waits for a lease to expire).
   */
  lockDue(now: number, limit: number): Promise<AlertTimerRow[]>;
  /** Marks a timer fired if nobody did; false when it was fired (or cancelled) already. */
  markFired(id: string, at: number, by: string): Promise<boolean>;
  /**
   * Claims the (alert, step, repeat) slot for a firing outside the timer worker (trigger, decline):
   * inserts it as fired, or marks the unfired row fired. False when it was fired already or (on
   * PostgreSQL) a firing transaction holds it: that transaction fires it, never both.
   */
  claimSlot(row: AlertTimerRow): Promise<boolean>;
  /** Deletes the unfired timers of an alert (skipping rows a firing transaction holds on PostgreSQL). */
  cancelTimers(alertId: string): Promise<number>;
  /** The earliest due time of an unfired timer, or null. */
  nextDueAt(): Promise<number | null>;
  timers(alertId: string): Promise<AlertTimerRow[]>;
  /** Moves an unfired timer to a later due time (its firing failed: retried with backoff). */
  postponeTimer(id: string, dueAt: number): Promise<boolean>;

  insertEvent(row: AlertEventRow): Promise<void>;
  /** Oldest first; `kinds` keeps only those kinds, `last` only the newest `last` (still oldest first). */
  events(tenantId: string, alertId: string, o?: { kinds?: readonly string[]; last?: number }): Promise<AlertEventRow[]>;

  insertPolicy(row: EscalationPolicyRow): Promise<void>;
  updatePolicy(
    tenantId: string,
    id: string,
    patch: Pick<EscalationPolicyRow, 'name' | 'is_default' | 'body' | 'updated_at'>,
  ): Promise<boolean>;
  getPolicy(tenantId: string, id: string): Promise<EscalationPolicyRow | undefined>;
  defaultPolicy(tenantId: string): Promise<EscalationPolicyRow | undefined>;
  /** Clears the tenant's default flag (before another policy becomes the default). */
  clearDefault(tenantId: string): Promise<void>;
  /** Oldest first; `after` (created_at, id of the last row of the previous page) and `limit` page it. */
  listPolicies(
    tenantId: string,
    o?: { after?: { at: number; id: string }; limit?: number },
  ): Promise<EscalationPolicyRow[]>;
  deletePolicy(tenantId: string, id: string): Promise<boolean>;
}

const num = (v: unknown) => (v == null ? null : Number(v));

function alertRow(r: AlertRow | undefined): AlertRow | undefined {
  if (!r) return r;
  return {
    ...r,
    step: Number(r.step),
    repeat: Number(r.repeat),
    count: Number(r.count),
    created_at: Number(r.created_at),
    last_triggered_at: Number(r.last_triggered_at),
    updated_at: Number(r.updated_at),
    acknowledged_at: num(r.acknowledged_at),
    closed_at: num(r.closed_at),
    details_ct: r.details_ct == null ? null : Buffer.from(r.details_ct),
  };
}

const timerRow = (r: AlertTimerRow): AlertTimerRow => ({
  ...r,
  step: Number(r.step),
  repeat: Number(r.repeat),
  due_at: Number(r.due_at),
  fired_at: num(r.fired_at),
});

const DUE = 'select * from alert_timers where fired_at is null and due_at <= ? order by due_at limit ?';
const LOCK_DUE = stmt(DUE, `${DUE} for update skip locked`);
const MARK = stmt('update alert_timers set fired_at = ?, fired_by = ? where id = ? and fired_at is null');
const CANCEL = stmt(
  'delete from alert_timers where alert_id = ? and fired_at is null',
  'delete from alert_timers where id in (select id from alert_timers where alert_id = ? and fired_at is null for update skip locked)',
);
const CLAIM_SLOT = stmt(
  'update alert_timers set fired_at = ?, fired_by = ? where alert_id = ? and step = ? and repeat = ? and fired_at is null',
  'update alert_timers set fired_at = ?, fired_by = ? where id in (select id from alert_timers where alert_id = ? and step = ? and repeat = ? and fired_at is null for update skip locked)',
);
const NEXT = stmt('select min(due_at) as m from alert_timers where fired_at is null');
const INSERT_TIMER = stmt(
  'insert into alert_timers (id, tenant_id, alert_id, step, repeat, due_at, fired_at, fired_by) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (alert_id, step, repeat) do nothing',
);
const OPEN = ['triggered', 'notified', 'escalated', 'acknowledged'];

export class SqlAlertRepository implements AlertRepository {
  constructor(private readonly sql: Sql) {}

  private get db() {
    return this.sql.db;
  }

  async insert(row: AlertRow): Promise<void> {
    await this.db.insertInto('alerts').values(row).execute();
  }

  async get(tenantId: string, id: string): Promise<AlertRow | undefined> {
    return alertRow(
      await this.db
        .selectFrom('alerts')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
  }

  async getForUpdate(tenantId: string, id: string): Promise<AlertRow | undefined> {
    let q = this.db.selectFrom('alerts').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
    if (this.sql.backend === 'postgres') q = q.forUpdate();
    return alertRow(await q.executeTakeFirst());
  }

  async findOpenByDedup(tenantId: string, dedupBidx: string): Promise<AlertRow | undefined> {
    let q = this.db
      .selectFrom('alerts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('open_dedup', '=', dedupBidx);
    if (this.sql.backend === 'postgres') q = q.forUpdate();
    return alertRow(await q.executeTakeFirst());
  }

  async update(tenantId: string, id: string, patch: AlertPatch): Promise<void> {
    await this.db.updateTable('alerts').set(patch).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  async list(tenantId: string, f: AlertListFilter, limit: number): Promise<AlertRow[]> {
    let q = this.db.selectFrom('alerts').selectAll().where('tenant_id', '=', tenantId);
    if (f.state) q = q.where('state', '=', f.state);
    if (f.priority) q = q.where('priority', '=', f.priority);
    if (f.open === true) q = q.where('state', 'in', OPEN);
    if (f.open === false) q = q.where('state', 'not in', OPEN);
    if (f.before) {
      const b = f.before;
      q = q.where((eb) =>
        eb.or([eb('created_at', '<', b.at), eb.and([eb('created_at', '=', b.at), eb('id', '<', b.id)])]),
      );
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => alertRow(r)!);
  }

  async insertTimer(r: AlertTimerRow): Promise<boolean> {
    const n = await this.sql.run(INSERT_TIMER, [
      r.id,
      r.tenant_id,
      r.alert_id,
      r.step,
      r.repeat,
      r.due_at,
      r.fired_at,
      r.fired_by,
    ]);
    return n > 0;
  }

  async lockDue(now: number, limit: number): Promise<AlertTimerRow[]> {
    return (await this.sql.all<AlertTimerRow>(LOCK_DUE, [now, limit])).map(timerRow);
  }

  async markFired(id: string, at: number, by: string): Promise<boolean> {
    return (await this.sql.run(MARK, [at, by, id])) > 0;
  }

  async claimSlot(r: AlertTimerRow): Promise<boolean> {
    if (await this.insertTimer(r)) return true;
    return (await this.sql.run(CLAIM_SLOT, [r.fired_at, r.fired_by, r.alert_id, r.step, r.repeat])) > 0;
  }

  cancelTimers(alertId: string): Promise<number> {
    return this.sql.run(CANCEL, [alertId]);
  }

  async postponeTimer(id: string, dueAt: number): Promise<boolean> {
    const r = await this.db
      .updateTable('alert_timers')
      .set({ due_at: dueAt })
      .where('id', '=', id)
      .where('fired_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async nextDueAt(): Promise<number | null> {
    const r = await this.sql.get<{ m: unknown }>(NEXT, []);
    return num(r?.m);
  }

  async timers(alertId: string): Promise<AlertTimerRow[]> {
    const rows = await this.db
      .selectFrom('alert_timers')
      .selectAll()
      .where('alert_id', '=', alertId)
      .orderBy('step')
      .orderBy('repeat')
      .execute();
    return rows.map(timerRow);
  }

  async insertEvent(row: AlertEventRow): Promise<void> {
    await this.db.insertInto('alert_events').values(row).execute();
  }

  async events(
    tenantId: string,
    alertId: string,
    o: { kinds?: readonly string[]; last?: number } = {},
  ): Promise<AlertEventRow[]> {
    let q = this.db
      .selectFrom('alert_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('alert_id', '=', alertId);
    if (o.kinds) q = q.where('kind', 'in', o.kinds.length ? [...o.kinds] : ['']);
    const rows =
      o.last === undefined
        ? await q.orderBy('at').orderBy('id').execute()
        : (await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(o.last).execute()).reverse();
    return rows.map((r) => ({ ...r, at: Number(r.at) }));
  }

  async insertPolicy(row: EscalationPolicyRow): Promise<void> {
    await this.db.insertInto('escalation_policies').values(row).execute();
  }

  async updatePolicy(
    tenantId: string,
    id: string,
    patch: Pick<EscalationPolicyRow, 'name' | 'is_default' | 'body' | 'updated_at'>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('escalation_policies')
      .set(patch)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async getPolicy(tenantId: string, id: string): Promise<EscalationPolicyRow | undefined> {
    return this.db
      .selectFrom('escalation_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async defaultPolicy(tenantId: string): Promise<EscalationPolicyRow | undefined> {
    return this.db
      .selectFrom('escalation_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('is_default', '=', 1)
      .executeTakeFirst();
  }

  async clearDefault(tenantId: string): Promise<void> {
    await this.db
      .updateTable('escalation_policies')
      .set({ is_default: 0 })
      .where('tenant_id', '=', tenantId)
      .where('is_default', '=', 1)
      .execute();
  }

  async listPolicies(
    tenantId: string,
    o: { after?: { at: number; id: string }; limit?: number } = {},
  ): Promise<EscalationPolicyRow[]> {
    let q = this.db.selectFrom('escalation_policies').selectAll().where('tenant_id', '=', tenantId);
    const after = o.after;
    if (after)
      q = q.where((eb) =>
        eb.or([eb('created_at', '>', after.at), eb.and([eb('created_at', '=', after.at), eb('id', '>', after.id)])]),
      );
    q = q.orderBy('created_at').orderBy('id');
    if (o.limit !== undefined) q = q.limit(o.limit);
    return q.execute();
  }

  async deletePolicy(tenantId: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('escalation_policies')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
