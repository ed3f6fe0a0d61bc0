import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import type { StoreTx } from '../../store/store.js';
import type { OverrideRow, ScheduleRow } from '../../store/repositories/on-call-repository.js';
import { decidingWindow, timeline, type OverrideSpan, type RotationLayer, type Shift } from './rotation.js';
import { canonicalZone, instant, MAX_LAYERS, range, validLayer } from './schedule-validation.js';
import { renderCalendar } from './ical.js';
import { requireUsers } from '../directory/users.js';

export interface ScheduleInput {
  name: string;
  timeZone: string;
  layers: RotationLayer[];
}

export interface ScheduleView extends ScheduleInput {
  id: string;
  createdAt: string;
  updatedAt: string;
}

export interface OverrideView {
  id: string;
  userId: string;
  start: string;
  end: string;
  swapId: string | null;
  createdBy: string;
  createdAt: string;
}

export interface ShiftView {
  start: string;
  end: string;
  userIds: string[];
  layer?: number;
  overrideId?: string;
}

/** Who is on call at one instant and the shift they are in (null bounds when nobody is). */
export interface OnCallNow {
  userIds: string[];
  start: number | null;
  end: number | null;
  empty?: 'no_one_on_call';
}

const iso = (ms: number | string) => new Date(Number(ms)).toISOString();
const shiftView = (s: Shift): ShiftView => ({ ...s, start: iso(s.start), end: iso(s.end) });
const span = (o: OverrideRow): OverrideSpan => ({
  id: o.id,
  userId: o.user_id,
  start: Number(o.start_at),
  end: Number(o.end_at),
});
// Overrides are at most this long: a reading around an instant never scans an unbounded table.
const MAX_OVERRIDE_MS = 62 * 86_400_000;
/**
 * At most this many overrides within 62 days of a new one, so any 62-day listing (or the window of
 * a lookup) meets at most this many: the last one written that a range meets was counted with all
 * the others it meets (they lie within 62 days of it).
 */
export const MAX_OVERRIDES_NEAR = 1000;

/** Where a lookup that meets a rotation it refuses to compute says so (the composition root's logger). */
export interface ScheduleLog {
  warn(obj: { code: string; scheduleId: string }, msg: string): void;
}

/**
 * On-call schedules: layers of rotations with wall-clock hand-offs in the schedule's IANA zone,
 * overrides and swaps. Every write is validated in full before anything is written, and is audited
 * in its own transaction (ids only; nothing here is PHI).
 */
export class ScheduleService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly log?: ScheduleLog,
  ) {}

  private async validated(tx: StoreTx, tenantId: string, input: ScheduleInput): Promise<ScheduleInput> {
    const timeZone = canonicalZone(input.timeZone);
    if (input.layers.length > MAX_LAYERS) throw new AppError('SP_SCHEDULE_ROTATION_INVALID', 'layers');
    const layers = input.layers.map((l, i) => validLayer(l, timeZone, i));
    await requireUsers(
      tx,
      tenantId,
      layers.flatMap((l) => l.userIds),
    );
    return { name: input.name, timeZone, layers };
  }

  private async row(tx: StoreTx, tenantId: string, id: string): Promise<ScheduleRow> {
    const row = await tx.onCall.schedule(tenantId, id);
    if (!row) throw new AppError('SP_SCHEDULE_NOT_FOUND');
    return row;
  }

  async create(ctx: RequestContext, input: ScheduleInput): Promise<ScheduleView> {
    const { store, clock, newId } = this.deps;
    const out = await store.transaction(async (tx) => {
      const s = await this.validated(tx, ctx.tenantId, input);
      const now = clock();
      const id = newId();
      const row: ScheduleRow = {
        id,
        tenant_id: ctx.tenantId,
        name: s.name,
        time_zone: s.timeZone,
        layers: JSON.stringify(s.layers),
        created_by: ctx.actor,
        created_at: now.getTime(),
        updated_at: now.getTime(),
      };
      await tx.onCall.insertSchedule(row);
      await audit(tx, ctx, now, { action: 'schedule.created', targetType: 'schedule', targetId: id });
      return view(row);
    });
    await store.durable();
    return out;
  }

  async update(ctx: RequestContext, id: string, input: ScheduleInput): Promise<ScheduleView> {
    const { store, clock } = this.deps;
    const out = await store.transaction(async (tx) => {
      const row = await this.row(tx, ctx.tenantId, id);
      const s = await this.validated(tx, ctx.tenantId, input);
      const now = clock().getTime();
      const set = { name: s.name, time_zone: s.timeZone, layers: JSON.stringify(s.layers), updated_at: now };
      await tx.onCall.updateSchedule(ctx.tenantId, id, set);
      await audit(tx, ctx, clock(), { action: 'schedule.updated', targetType: 'schedule', targetId: id });
      return view({ ...row, ...set });
    });
    await store.durable();
    return out;
  }

  async remove(ctx: RequestContext, id: string): Promise<void> {
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      if (!(await tx.onCall.deleteSchedule(ctx.tenantId, id))) throw new AppError('SP_SCHEDULE_NOT_FOUND');
      await audit(tx, ctx, clock(), { action: 'schedule.deleted', targetType: 'schedule', targetId: id });
    });
    await store.durable();
  }

  async get(ctx: RequestContext, id: string): Promise<ScheduleView> {
    return view(await this.row(this.deps.store.read, ctx.tenantId, id));
  }

  async list(
    ctx: RequestContext,
    limit: number,
    cursor?: string,
  ): Promise<{ items: ScheduleView[]; nextCursor: string | null }> {
    const rows = await this.deps.store.read.onCall.listSchedules(ctx.tenantId, cursor ?? '', limit + 1);
    const items = rows.slice(0, limit).map(view);
    return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null };
  }

  /** A user takes [start, end) of the schedule over every layer. */
  async addOverride(
    ctx: RequestContext,
    id: string,
    o: { userId: string; start: string; end: string },
  ): Promise<OverrideView> {
    const [row] = await this.addOverrides(ctx, id, [o], 'schedule.override_added');
    return row!;
  }

  /** Two users exchange shifts: `b` takes `a`'s range and `a` takes `b`'s (two linked overrides). */
  async addSwap(
    ctx: RequestContext,
    id: string,
    a: { userId: string; start: string; end: string },
    b: { userId: string; start: string; end: string },
  ): Promise<OverrideView[]> {
    // Each half must be its user's own shift as the schedule stands, or the swap gives away someone else's.
    const check = async (tx: StoreTx) => {
      for (const half of [a, b]) {
        const now = await this.onCallInTx(tx, ctx.tenantId, id, instant(half.start, 'start'));
        if (now && !now.userIds.includes(half.userId)) throw new AppError('SP_SCHEDULE_SWAP_MISMATCH');
      }
    };
    return this.addOverrides(
      ctx,
      id,
      [
        { userId: b.userId, start: a.start, end: a.end },
        { userId: a.userId, start: b.start, end: b.end },
      ],
      'schedule.swap_added',
      check,
    );
  }

  private async addOverrides(
    ctx: RequestContext,
    id: string,
    spans: { userId: string; start: string; end: string }[],
    action: string,
    check?: (tx: StoreTx) => Promise<void>,
  ): Promise<OverrideView[]> {
    const { store, clock, newId } = this.deps;
    const parsed = spans.map((s, i) => {
      const start = instant(s.start, `start`);
      const end = instant(s.end, `end`);
      if (end <= start || end - start > MAX_OVERRIDE_MS)
        throw new AppError(
          'SP_SCHEDULE_RANGE_INVALID',
          spans.length > 1 ? `swap half ${i}: end after start, at most 62 days` : 'end after start, at most 62 days',
        );
      return { userId: s.userId, start, end };
    });
    const rows = await store.transaction(async (tx) => {
      await this.row(tx, ctx.tenantId, id);
      await requireUsers(
        tx,
        ctx.tenantId,
        parsed.map((p) => p.userId),
      );
      await check?.(tx);
      for (const p of parsed) {
        const near = await tx.onCall.overridesBetween(
          ctx.tenantId,
          id,
          p.start - MAX_OVERRIDE_MS,
          p.end + MAX_OVERRIDE_MS,
        );
        if (near.length + parsed.length > MAX_OVERRIDES_NEAR) throw new AppError('SP_SCHEDULE_OVERRIDE_LIMIT');
      }
      const now = clock();
      const swapId = parsed.length > 1 ? newId() : null;
      const rows: OverrideRow[] = parsed.map((p) => ({
        id: newId(),
        tenant_id: ctx.tenantId,
        schedule_id: id,
        user_id: p.userId,
        start_at: p.start,
        end_at: p.end,
        swap_id: swapId,
        created_by: ctx.actor,
        created_at: now.getTime(),
      }));
      await tx.onCall.insertOverrides(rows);
      for (const r of rows)
        await audit(tx, ctx, now, {
          action,
          targetType: 'schedule',
          targetId: id,
          details: { override: r.id, user: r.user_id, start: iso(r.start_at), end: iso(r.end_at) },
        });
      return rows;
    });
    await store.durable();
    return rows.map(overrideView);
  }

  /** Removes an override; removing half of a swap removes both halves. */
  async removeOverride(ctx: RequestContext, id: string, overrideId: string): Promise<void> {
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      const rows = await tx.onCall.overrideWithSwap(ctx.tenantId, id, overrideId);
      if (rows.length === 0) throw new AppError('SP_SCHEDULE_OVERRIDE_NOT_FOUND');
      await tx.onCall.deleteOverrides(
        ctx.tenantId,
        rows.map((r) => r.id),
      );
      for (const r of rows)
        await audit(tx, ctx, clock(), {
          action: 'schedule.override_removed',
          targetType: 'schedule',
          targetId: id,
          details: { override: r.id },
        });
    });
    await store.durable();
  }

  async overrides(ctx: RequestContext, id: string, from: string, to: string): Promise<OverrideView[]> {
    const r = range(from, to);
    const read = this.deps.store.read;
    await this.row(read, ctx.tenantId, id);
    return (await read.onCall.overridesBetween(ctx.tenantId, id, r.from, r.to)).map(overrideView);
  }

  /**
   * Who is on call at `at`, read inside `tx` (the directory resolves `schedule:<id>` with it). Its
   * work is bounded whatever the schedule holds: a stored rotation that the current limits refuse
   * (written before them) answers nobody on call, with its code logged, so the escalation goes on.
   */
  async onCallInTx(tx: StoreTx, tenantId: string, id: string, at: number): Promise<OnCallNow | null> {
    const row = await tx.onCall.schedule(tenantId, id);
    if (!row) return null;
    try {
      return await this.lookup(tx, tenantId, row, at);
    } catch (e) {
      const code = e instanceof AppError ? e.code : undefined;
      if (code !== 'SP_SCHEDULE_ROTATION_INVALID') throw e;
      this.log?.warn({ code, scheduleId: id }, 'on-call lookup refused a stored rotation; nobody on call');
      return { userIds: [], start: null, end: null, empty: 'no_one_on_call' };
    }
  }

  private async lookup(tx: StoreTx, tenantId: string, row: ScheduleRow, at: number): Promise<OnCallNow> {
    const id = row.id;
    const layers = JSON.parse(row.layers) as RotationLayer[];
    const covering = (await tx.onCall.overridesBetween(tenantId, id, at, at + 1)).map(span);
    const w = decidingWindow(row.time_zone, layers, covering, at);
    if (!w) return { userIds: [], start: null, end: null, empty: 'no_one_on_call' };
    const overrides = (await tx.onCall.overridesBetween(tenantId, id, w.start, w.end)).map(span);
    const s = timeline(row.time_zone, layers, overrides, w.start, w.end).find((x) => x.start <= at && x.end > at)!;
    return s.userIds.length > 0
      ? { userIds: s.userIds, start: s.start, end: s.end }
      : { userIds: [], start: s.start, end: s.end, empty: 'no_one_on_call' };
  }

  async onCall(ctx: RequestContext, id: string, at: string | undefined): Promise<OnCallNow & { at: number }> {
    const t = at === undefined ? this.deps.clock().getTime() : instant(at, 'at');
    const r = await this.onCallInTx(this.deps.store.read, ctx.tenantId, id, t);
    if (!r) throw new AppError('SP_SCHEDULE_NOT_FOUND');
    return { ...r, at: t };
  }

  private async timelineOf(ctx: RequestContext, id: string, from: string, to: string) {
    const r = range(from, to);
    const read = this.deps.store.read;
    const row = await this.row(read, ctx.tenantId, id);
    const overrides = (await read.onCall.overridesBetween(ctx.tenantId, id, r.from, r.to)).map(span);
    return { row, shifts: timeline(row.time_zone, JSON.parse(row.layers) as RotationLayer[], overrides, r.from, r.to) };
  }

  /** The final timeline over [from, to) (at most 62 days), gaps included as shifts with no user. */
  async shifts(ctx: RequestContext, id: string, from: string, to: string): Promise<ShiftView[]> {
    return (await this.timelineOf(ctx, id, from, to)).shifts.map(shiftView);
  }

  /** The staffed shifts over [from, to) as an iCalendar document (RFC 5545, UTC times). */
  async calendar(ctx: RequestContext, id: string, from: string, to: string): Promise<string> {
    const { row, shifts } = await this.timelineOf(ctx, id, from, to);
    const host = new URL(this.deps.config.publicUrl).hostname || 'sealpost';
    return renderCalendar(
      { scheduleId: id, name: row.name, timeZone: row.time_zone, host },
      shifts,
      this.deps.clock().getTime(),
    );
  }
}

function view(r: ScheduleRow): ScheduleView {
  return {
    id: r.id,
    name: r.name,
    timeZone: r.time_zone,
    layers: JSON.parse(r.layers) as RotationLayer[],
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function overrideView(r: OverrideRow): OverrideView {
  return {
    id: r.id,
    userId: r.user_id,
    start: iso(r.start_at),
    end: iso(r.end_at),
    swapId: r.swap_id,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
  };
}
