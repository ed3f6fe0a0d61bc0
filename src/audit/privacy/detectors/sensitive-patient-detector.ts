import {
  BREAK_GLASS_GRANT,
  CARE_TEAM_ADDED,
  SCHEDULE_ACTIONS,
  WORKFLOW_ACTIONS,
  actorKind,
  isPhiAccess,
  type AuditFact,
} from '../audit-fact.js';
import { capEvidence, utcDay, type Detector, type DetectorContext, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';

interface State {
  /** `<tenant>|<actor>|<patientRef>` → last time of the actor's workflow with that flagged patient. */
  links: [string, number][];
  /** `<tenant>|<patientRef>` → last time an appointment of that flagged patient was booked or moved. */
  schedule: [string, number][];
  /** Findings waiting out `sensitiveGraceMs` for a workflow entry that explains them, oldest first. */
  pending: { due: number; link: string; finding: Finding }[];
}

/**
 * sensitive_patient: a person's access to a patient the tenant flagged (staff member, VIP, flagged by
 * an administrator) that nothing in the log explains. The server lets a clinician (CLINICAL_ROLES)
 * reach a patient's content only on the care team or under break-glass, so a clinician's access
 * without break-glass is the care team at work and stays quiet. Anyone else (reception, billing,
 * administrators, bounded by permissions, not by relationship) is judged on the workflow the log
 * already holds, as commercial privacy monitors do: the access is explained when that person booked,
 * rescheduled or cancelled the patient's appointment, created a notification for them or was added to
 * their care team within `sensitiveExplainMs` before it or `sensitiveGraceMs` after it (the look-up
 * before a booking), or when the patient is on the schedule (an appointment booked or moved by anyone
 * within `sensitiveScheduleMs`). Break-glass on a flagged patient always fires. The facts used are
 * references, ids and actions only (no PHI); the state holds them for flagged patients only, pruned
 * as they age. System credentials (API keys, SMART clients) are tenant-wide integrations, not judged.
 * One finding per person, patient and day (the key); the engine merges repeats.
 */
export class SensitivePatientDetector implements Detector {
  readonly ids = ['sensitive_patient'] as const;
  private links = new Map<string, number>();
  private schedule = new Map<string, number>();
  private pending: State['pending'] = [];

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact, ctx: DetectorContext): Finding[] {
    const out = this.pending.length > 0 && this.pending[0]!.due <= f.at ? this.release(f.at) : [];
    if (f.patient === null || f.outcome !== 'success') return out;
    if (WORKFLOW_ACTIONS.has(f.action) || f.action === CARE_TEAM_ADDED) {
      this.workflow(f, ctx);
      return out;
    }
    if (actorKind(f.actor) !== 'person') return out;
    const grant = f.action === BREAK_GLASS_GRANT;
    if (!grant && !isPhiAccess(f)) return out;
    const kind = ctx.sensitivity(f.tenant, f.patient);
    if (kind === null) return out;
    const breakGlass = grant || f.action === 'access.break_glass_used' || typeof f.details?.breakGlass === 'string';
    const roles = ctx.roles(f.tenant, f.actor);
    const clinical = roles.some((r) => this.p.clinicalRoles.includes(r));
    if (clinical && !breakGlass) return out;
    const base = this.p.sensitiveScore[kind];
    const finding: Finding = {
      detector: 'sensitive_patient',
      tenantId: f.tenant,
      subject: f.actor,
      at: f.at,
      windowStart: f.at,
      score: breakGlass ? Math.min(1, base + 0.1) : base,
      reason: breakGlass
        ? `break-glass access to a patient flagged ${kind}`
        : `access (${f.action}) to a patient flagged ${kind} by a person outside the clinical roles (${roles.join(', ') || 'no role'}) with no appointment, notification or care-team link of theirs to the patient and none on the schedule`,
      evidence: [f.idx],
      key: `sensitive_patient:${f.actor}:${f.patient}:${utcDay(f.at)}`,
    };
    if (breakGlass) return [...out, finding];
    const link = `${f.tenant}|${f.actor}|${f.patient}`;
    if (this.explained(link, `${f.tenant}|${f.patient}`, f.at)) return out;
    const same = this.pending.find((x) => x.finding.key === finding.key);
    if (same) same.finding.evidence = capEvidence([...same.finding.evidence, f.idx]);
    else this.pending.push({ due: f.at + this.p.sensitiveGraceMs, link, finding });
    return out;
  }

  /** Records a workflow entry for a flagged patient and drops the findings it explains. */
  private workflow(f: AuditFact, ctx: DetectorContext): void {
    if (ctx.sensitivity(f.tenant, f.patient!) === null) return;
    if (SCHEDULE_ACTIONS.has(f.action)) this.schedule.set(`${f.tenant}|${f.patient}`, f.at);
    const who =
      f.action === CARE_TEAM_ADDED ? (f.targetType === 'user' && f.targetId ? `user:${f.targetId}` : null) : f.actor;
    if (who === null) return;
    const link = `${f.tenant}|${who}|${f.patient}`;
    this.links.set(link, Math.max(this.links.get(link) ?? 0, f.at));
    if (this.pending.length > 0) this.pending = this.pending.filter((x) => x.link !== link);
  }

  private explained(link: string, patient: string, at: number): boolean {
    const own = this.links.get(link);
    if (own !== undefined && at - own <= this.p.sensitiveExplainMs) return true;
    const booked = this.schedule.get(patient);
    return booked !== undefined && at - booked <= this.p.sensitiveScheduleMs;
  }

  /** The pending findings whose grace has passed by `now`, unexplained. */
  private release(now: number): Finding[] {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.due <= now) n++;
    return this.pending.splice(0, n).map((x) => x.finding);
  }

  advance(nowMs: number): Finding[] {
    const out = this.release(nowMs);
    const linkTtl = nowMs - this.p.sensitiveExplainMs;
    for (const [k, t] of this.links) if (t < linkTtl) this.links.delete(k);
    const scheduleTtl = nowMs - this.p.sensitiveScheduleMs;
    for (const [k, t] of this.schedule) if (t < scheduleTtl) this.schedule.delete(k);
    return out;
  }

  snapshot(): unknown {
    return { links: [...this.links], schedule: [...this.schedule], pending: this.pending } satisfies State;
  }

  restore(state: unknown): void {
    const st = state as Partial<State> | null;
    this.links = new Map(st?.links ?? []);
    this.schedule = new Map(st?.schedule ?? []);
    this.pending = st?.pending ?? [];
  }
}
