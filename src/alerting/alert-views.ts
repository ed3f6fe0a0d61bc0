import type { AlertEventRow, AlertRow } from '../store/repositories/alert-repository.js';
import { AppError } from '../core/errors.js';

/** An alert as the API shows it (no details: those are in `AlertDetailView`, for some readers only). */
export interface AlertView {
  id: string;
  priority: string;
  target: string;
  /** Null unless the reader may see it (alert-access.ts `maySeeClinical`). */
  patientId: string | null;
  summary: string;
  source: string | null;
  state: string;
  /** The last step fired (0-based; -1 before the first). */
  step: number;
  count: number;
  policyId: string | null;
  createdBy: string;
  createdAt: string;
  lastTriggeredAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  closedAt: string | null;
  closedBy: string | null;
}

export interface AlertEventView {
  at: string;
  kind: string;
  actor: string;
  data: Record<string, unknown>;
}

export interface AlertDetailView extends AlertView {
  timeline: AlertEventView[];
  /** PHI: only for a clinician who was told of it or has the patient relationship (that read is audited). */
  details?: string;
}

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

/** `showPatient`: the reader may see the patient id (alert-access.ts `maySeeClinical`); else null. */
export function alertView(a: AlertRow, showPatient = false): AlertView {
  return {
    id: a.id,
    priority: a.priority,
    target: a.target,
    patientId: showPatient ? a.patient_id : null,
    summary: a.summary,
    source: a.source,
    state: a.state,
    step: a.step,
    count: a.count,
    policyId: a.policy_id,
    createdBy: a.created_by,
    createdAt: iso(a.created_at)!,
    lastTriggeredAt: iso(a.last_triggered_at)!,
    acknowledgedAt: iso(a.acknowledged_at),
    acknowledgedBy: a.acknowledged_by,
    closedAt: iso(a.closed_at),
    closedBy: a.closed_by,
  };
}

export function eventView(e: AlertEventRow): AlertEventView {
  return { at: iso(e.at)!, kind: e.kind, actor: e.actor, data: JSON.parse(e.data) as Record<string, unknown> };
}

/** Cursors are `<created_at ms>.<id>` of the last item of the previous page. */
export function parseAlertCursor(c: string | undefined): { at: number; id: string } | undefined {
  if (!c) return undefined;
  const m = /^(\d{1,15})\.([A-Za-z0-9-]{1,64})$/.exec(c);
  if (!m) throw new AppError('SP_REQ_VALIDATION', 'cursor');
  return { at: Number(m[1]), id: m[2]! };
}
