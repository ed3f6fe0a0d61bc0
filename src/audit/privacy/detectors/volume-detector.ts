import { isPhiAccess, type AuditFact } from '../audit-fact.js';
import { HOUR_MS, capEvidence, type Detector, type DetectorContext, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01, mad, median, quantile, ringPush, round1, type Ring } from './stats.js';

interface ActorState {
  /** The open hour (epoch hour index) and its accesses so far. */
  hour: number;
  count: number;
  ev: number[];
  /** Counts at which this hour fired (0: not yet): a finding is re-sent when the count doubles. */
  firedSelf: number;
  firedRole: number;
  /** Closed active hours' counts (ring) and their median/MAD, recomputed when an hour closes. */
  hist: Ring;
  med: number;
  mad: number;
  /** EWMA per hour of the week (168 slots), -1 when the slot has never been active. */
  slots: number[];
}

interface RoleState {
  samples: Ring;
}

interface RoleStats {
  med: number;
  mad: number;
  p95: number;
}

/**
 * volume_self and volume_role: a person's PHI accesses in one clock hour against their own active
 * hours (median/MAD of the last ~month's hours with any access, and an EWMA of the same hour of the
 * week: a Monday-morning clinic is allowed its Monday mornings), and against all active hours of the
 * people holding the same role. Hours without access are not samples: a part-timer's empty days do
 * not lower the bar for their working ones. The check runs as the hour fills, so an incident is seen
 * within the hour; the hour joins the baselines when the person's next hour starts.
 */
export class VolumeDetector implements Detector {
  readonly ids = ['volume_self', 'volume_role'] as const;
  private actors = new Map<string, ActorState>();
  private roles = new Map<string, RoleState>();
  /** Derived from `roles` (a pure function of the samples), so not part of the snapshot. */
  private roleStats = new Map<string, RoleStats>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact, ctx: DetectorContext): Finding[] {
    if (!isPhiAccess(f)) return [];
    const key = `${f.tenant}|${f.actor}`;
    let s = this.actors.get(key);
    const hour = Math.floor(f.at / HOUR_MS);
    if (!s) {
      s = { hour, count: 0, ev: [], firedSelf: 0, firedRole: 0, hist: { buf: [], pos: 0 }, med: 0, mad: 0, slots: [] };
      this.actors.set(key, s);
    } else if (hour > s.hour) {
      this.close(f.tenant, f.actor, s, ctx);
      s.hour = hour;
      s.count = 0;
      s.ev = [];
      s.firedSelf = 0;
      s.firedRole = 0;
    }
    s.count++;
    s.ev.push(f.idx);
    if (s.ev.length > 50) s.ev.shift();
    if (s.count < this.p.volumeMinCount) return [];
    const out: Finding[] = [];
    const self = this.checkSelf(f, s);
    if (self) out.push(self);
    const role = this.checkRole(f, s, ctx);
    if (role) out.push(role);
    return out;
  }

  private checkSelf(f: AuditFact, s: ActorState): Finding | null {
    const p = this.p;
    if (s.hist.buf.length < p.volumeWarmupHours) return null;
    if (s.firedSelf && s.count < 2 * s.firedSelf) return null;
    const slot = s.slots[how(s.hour)] ?? -1;
    const expected = Math.max(s.med, slot);
    const spread = Math.max(1.4826 * s.mad, Math.sqrt(expected), 1);
    const z = (s.count - expected) / spread;
    if (z < p.volumeZ || s.count < p.volumeRatio * expected) return null;
    s.firedSelf = s.count;
    return {
      detector: 'volume_self',
      tenantId: f.tenant,
      subject: f.actor,
      at: f.at,
      windowStart: s.hour * HOUR_MS,
      score: clamp01(0.6 + (0.4 * (z - p.volumeZ)) / (3 * p.volumeZ)),
      reason: `${s.count} PHI accesses this hour; usual ${round1(expected)} (MAD ${round1(s.mad)}, ${s.hist.buf.length} active hours)`,
      evidence: capEvidence(s.ev),
      key: `volume_self:${f.actor}:${s.hour}`,
    };
  }

  private checkRole(f: AuditFact, s: ActorState, ctx: DetectorContext): Finding | null {
    const p = this.p;
    if (s.firedRole && s.count < 2 * s.firedRole) return null;
    const roles = ctx.roles(f.tenant, f.actor);
    if (roles.length === 0) return null;
    // The most permissive of the person's roles decides: a physician who is also an administrator
    // is measured against whichever of the two reads more.
    let bar = 0;
    let basis: { role: string; st: RoleStats } | null = null;
    for (const role of roles) {
      const st = this.stats(f.tenant, role);
      if (!st) return null;
      const b = Math.max(st.med + p.roleZ * Math.max(1.4826 * st.mad, Math.sqrt(st.med), 1), p.roleRatio * st.p95);
      if (b > bar) {
        bar = b;
        basis = { role, st };
      }
    }
    if (!basis || s.count < bar) return null;
    s.firedRole = s.count;
    return {
      detector: 'volume_role',
      tenantId: f.tenant,
      subject: f.actor,
      at: f.at,
      windowStart: s.hour * HOUR_MS,
      score: clamp01(0.55 + (0.45 * (s.count - bar)) / (2 * bar)),
      reason: `${s.count} PHI accesses this hour; role ${basis.role} usual ${round1(basis.st.med)}, 95th percentile ${round1(basis.st.p95)}`,
      evidence: capEvidence(s.ev),
      key: `volume_role:${f.actor}:${s.hour}`,
    };
  }

  private stats(tenant: string, role: string): RoleStats | null {
    const key = `${tenant}|${role}`;
    const cached = this.roleStats.get(key);
    if (cached) return cached;
    const r = this.roles.get(key);
    if (!r || r.samples.buf.length < this.p.roleWarmupSamples) return null;
    const med = median(r.samples.buf);
    const st = { med, mad: mad(r.samples.buf, med), p95: quantile(r.samples.buf, 0.95) };
    this.roleStats.set(key, st);
    return st;
  }

  /** The person's hour is over: it joins their baseline, their slot's EWMA and their roles' samples. */
  private close(tenant: string, actor: string, s: ActorState, ctx: DetectorContext): void {
    const p = this.p;
    ringPush(s.hist, s.count, p.volumeHistoryHours);
    s.med = median(s.hist.buf);
    s.mad = mad(s.hist.buf, s.med);
    const h = how(s.hour);
    while (s.slots.length < 168) s.slots.push(-1);
    const prev = s.slots[h]!;
    s.slots[h] = prev < 0 ? s.count : round1(prev + p.volumeSlotAlpha * (s.count - prev));
    for (const role of ctx.roles(tenant, actor)) {
      const key = `${tenant}|${role}`;
      let r = this.roles.get(key);
      if (!r) this.roles.set(key, (r = { samples: { buf: [], pos: 0 } }));
      ringPush(r.samples, s.count, p.roleHistorySamples);
      this.roleStats.delete(key);
    }
  }

  /** Forgets people idle past `stateTtlMs`: their baseline is stale, and memory stays bounded. */
  advance(nowMs: number): Finding[] {
    const oldest = Math.floor((nowMs - this.p.stateTtlMs) / HOUR_MS);
    for (const [k, s] of this.actors) if (s.hour < oldest) this.actors.delete(k);
    return [];
  }

  snapshot(): unknown {
    return { actors: [...this.actors], roles: [...this.roles] };
  }

  restore(state: unknown): void {
    const st = (state ?? { actors: [], roles: [] }) as {
      actors: [string, ActorState][];
      roles: [string, RoleState][];
    };
    this.actors = new Map(st.actors);
    this.roles = new Map(st.roles);
    this.roleStats.clear();
  }
}

/** Hour of the week (0..167, UTC; 1970-01-01 was a Thursday, so 0 is Thursday 00:00). */
function how(hour: number): number {
  return hour % 168;
}
