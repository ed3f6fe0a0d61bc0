import type { AuditFact } from '../audit-fact.js';
import type { DetectorContext } from '../detector.js';

/**
 * Crafted audit facts for the detectors' tests and the bench: a stream builder with its own running
 * index, and a context from plain tables. Never used by the monitor itself.
 */
export class FactStream {
  private idx = 0;
  readonly facts: AuditFact[] = [];

  /** Appends one fact (defaults: tenant `t1`, success, no target, no ip) and returns it. */
  add(f: Partial<AuditFact> & Pick<AuditFact, 'at' | 'actor' | 'action'>): AuditFact {
    const full: AuditFact = {
      idx: this.idx++,
      tenant: 't1',
      outcome: 'success',
      targetType: null,
      targetId: null,
      patient: null,
      ip: null,
      details: null,
      ...f,
    };
    this.facts.push(full);
    return full;
  }

  /** A PHI read (`patient.read`) of `patient` by `actor`. */
  read(at: number, actor: string, patient: string, extra: Partial<AuditFact> = {}): AuditFact {
    return this.add({ at, actor, action: 'patient.read', patient, targetType: 'patient', targetId: patient, ...extra });
  }
}

/** A context from tables: actor → roles, patient ref → sensitivity. */
export function tableContext(
  roles: Record<string, readonly string[]> = {},
  sensitive: Record<string, 'staff' | 'vip' | 'flagged'> = {},
): DetectorContext {
  return {
    roles: (_t, actor) => roles[actor] ?? [],
    sensitivity: (_t, ref) => sensitive[ref] ?? null,
  };
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so crafted streams are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** Monday 2025-01-06 00:00 UTC. */
export const T0 = Date.UTC(2025, 0, 6);
