import { BREAK_GLASS_GRANT, actorKind, isPhiAccess, type AuditFact } from '../audit-fact.js';
import { utcDay, type Detector, type DetectorContext, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';

/**
 * sensitive_patient: a person's access to a patient the tenant flagged (staff member, VIP, flagged by
 * an administrator). The server lets a clinician (CLINICAL_ROLES) reach a patient's content only on
 * the care team or under break-glass, so a clinician's access without break-glass is the care team at
 * work and stays quiet; what fires is access by anyone else (reception, billing, administrators, who
 * are bounded by permissions, not by relationship) and any break-glass on a flagged patient.
 * System credentials (API keys, SMART clients) are tenant-wide integrations and are not judged here.
 * Stateless: one finding per person, patient and day (the key), the engine merges repeats.
 */
export class SensitivePatientDetector implements Detector {
  readonly ids = ['sensitive_patient'] as const;

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact, ctx: DetectorContext): Finding[] {
    if (f.patient === null || actorKind(f.actor) !== 'person') return [];
    const grant = f.action === BREAK_GLASS_GRANT && f.outcome === 'success';
    if (!grant && !isPhiAccess(f)) return [];
    const kind = ctx.sensitivity(f.tenant, f.patient);
    if (kind === null) return [];
    const breakGlass = grant || f.action === 'access.break_glass_used' || typeof f.details?.breakGlass === 'string';
    const roles = ctx.roles(f.tenant, f.actor);
    const clinical = roles.some((r) => this.p.clinicalRoles.includes(r));
    if (clinical && !breakGlass) return [];
    const base = this.p.sensitiveScore[kind];
    return [
      {
        detector: 'sensitive_patient',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: f.at,
        score: breakGlass ? Math.min(1, base + 0.1) : base,
        reason: breakGlass
          ? `break-glass access to a patient flagged ${kind}`
          : `access (${f.action}) to a patient flagged ${kind} by a person outside the clinical roles (${roles.join(', ') || 'no role'})`,
        evidence: [f.idx],
        key: `sensitive_patient:${f.actor}:${f.patient}:${utcDay(f.at)}`,
      },
    ];
  }

  snapshot(): unknown {
    return null;
  }

  restore(): void {}
}
