import type { AuditFact } from './audit-fact.js';

/** Every kind of finding the privacy detectors raise (docs/privacy-monitoring.md describes each). */
export const DETECTOR_IDS = [
  'volume_self',
  'volume_role',
  'distinct_patients',
  'off_hours',
  'sensitive_patient',
  'refused_burst',
  'credential_stuffing',
  'account_many_addresses',
  'break_glass',
  'credential_new_origin',
  'mass_action',
  'dormant_account',
] as const;

export type DetectorId = (typeof DETECTOR_IDS)[number];

/** One detector's observation that something in the stream looks wrong. PHI-free by construction. */
export interface Finding {
  detector: DetectorId;
  tenantId: string;
  /** Who: an actor (`user:<id>`, `api-key:<id>`, `client:<id>`) or `ip:<address>` for stuffing. */
  subject: string;
  /** Ms of the entry that triggered it. */
  at: number;
  /** Ms: the start of the window the detector looked at. */
  windowStart: number;
  /** 0..1, the detector's own severity. */
  score: number;
  /** PHI-free reason, English, numbers and codes only: "412 accesses this hour; usual 9 (MAD 4)". */
  reason: string;
  /** Audit idx, at most 50, ascending. */
  evidence: number[];
  /** Dedup key: a second finding with the same key inside the detector's window updates, not adds. */
  key: string;
}

/** What the detectors may know besides the log itself; both answers must be cheap (called per entry). */
export interface DetectorContext {
  /** 'staff' | 'vip' | 'flagged' when the tenant flagged this patient reference, else null. */
  sensitivity(tenantId: string, patientRef: string): 'staff' | 'vip' | 'flagged' | null;
  /** The person's roles now (for the role baseline), [] when unknown or not a person. */
  roles(tenantId: string, actor: string): readonly string[];
}

/**
 * A detector: a pure state machine over audit facts in log order. No I/O, no clock of its own: the
 * only time is the facts' `at` (and `advance`'s argument), so replaying the same facts gives the same
 * findings, and a stream split anywhere with `snapshot` → JSON → `restore` between the parts gives
 * the same findings as the stream in one go.
 */
export interface Detector {
  /** The ids of the findings this detector emits (a detector may emit several that share state). */
  readonly ids: readonly DetectorId[];
  /**
   * Takes one fact (in log order; `at` may step back a little, as log order is commit order) and
   * returns the findings it triggers now, possibly none. Must keep its state bounded: per-subject
   * ring buffers and histograms, windows pruned as the stream's time passes.
   */
  observe(f: AuditFact, ctx: DetectorContext): Finding[];
  /**
   * Called with the stream's time when it advances past an hour boundary (the engine calls it before
   * the first fact of the new hour). Detectors close buckets and prune state here; findings they
   * return are dated `nowMs` at the latest.
   */
  advance?(nowMs: number, ctx: DetectorContext): Finding[];
  /** All state as a JSON-serialisable value (no Maps, no class instances, no undefined). */
  snapshot(): unknown;
  /** Replaces all state with one `snapshot` returned (after a JSON round trip); `null` resets. */
  restore(state: unknown): void;
}

/** Caps an evidence list: the last `max` indexes, ascending. */
export function capEvidence(idx: number[], max = 50): number[] {
  const sorted = [...new Set(idx)].sort((a, b) => a - b);
  return sorted.length > max ? sorted.slice(sorted.length - max) : sorted;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** The UTC day (YYYY-MM-DD) of a time, for dedup keys. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
