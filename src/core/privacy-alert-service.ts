import type { StoreTx } from '../store/store.js';
import type {
  PrivacyAlertCursor,
  PrivacyAlertRow,
  PrivacyAlertStatus,
  PrivacyOutcome,
  PrivacySuppressionRow,
  SensitivityKind,
} from '../store/repositories/privacy-repository.js';
import { DETECTOR_IDS, type DetectorId } from '../audit/privacy/detector.js';
import { audit, patientRef, tenantDataKey, type CoreDeps, type RequestContext } from './context.js';
import { AppError } from './errors.js';

export const PRIVACY_OUTCOMES = ['false_positive', 'policy_reminder', 'sanction', 'breach'] as const;
export const SENSITIVITY_KINDS = ['staff', 'vip', 'flagged'] as const;
/** A suppression lasts at most this long: a rule nobody renews lapses. */
export const SUPPRESSION_MAX_MS = 366 * 86_400_000;

/** The tenant's data key slot sealing privacy notes and suppression reasons (written about staff). */
const NOTES_KEY = 'privacy-notes';

export interface PrivacyAlertView {
  id: string;
  subject: string;
  detectors: string[];
  score: number;
  status: PrivacyAlertStatus;
  outcome: PrivacyOutcome | null;
  firstAt: string;
  lastAt: string;
  reasons: string[];
  evidence: number[];
  assignee: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface PrivacyAlertDetail extends PrivacyAlertView {
  /** The evidence entries as the log holds them (identifiers and hashes, no PHI). */
  entries: { idx: number; entry: string }[];
  notes: { at: string; author: string; text: string }[];
  /**
   * The staff account the alert is about, when its subject is one of the tenant's people: who to
   * talk to (staff identity, not PHI; the evidence only names ids).
   */
  subjectPerson: { displayName: string; email: string; roles: string[]; status: string } | null;
}

export interface SuppressionView {
  id: string;
  detector: string | null;
  subject: string | null;
  reason: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  expired: boolean;
}

const iso = (ms: number) => new Date(Number(ms)).toISOString();

/**
 * A change that quiets the monitor, told to the tenant's OTHER privacy officers and administrators
 * (PHI-free: ids, a detector id, times), so one officer cannot silence it unseen.
 */
export type PrivacyOversightNotice =
  | {
      kind: 'suppression_created';
      /** The suppression's id. */
      id: string;
      /** Who created it (`user:<id>`, `api-key:<id>`). */
      by: string;
      detector: string | null;
      /** Whether it names one subject; false: it covers everyone for its detector. */
      namesSubject: boolean;
      expiresAt: string;
    }
  | {
      kind: 'alert_closed_false_positive';
      /** The alert's id. */
      id: string;
      by: string;
      /** The alert's subject: not told either (the text does not name it). */
      subject: string;
    };

/** Delivers an oversight notice after the change committed (composition root: the admin-alert mailer). */
export type PrivacyOversightNotify = (tenantId: string, notice: PrivacyOversightNotice) => Promise<unknown>;

/** Monitor progress, read through the port the composition root gives (audit/privacy/privacy-monitor.ts). */
export interface PrivacyMonitorStatusSource {
  status(): Promise<{ cursorIdx: number; lag: number; lastRunAt: number | null }>;
}

/**
 * The privacy officers' side of privacy monitoring: alerts (open → investigating → closed with an
 * outcome), notes, suppression rules with an expiry, and the sensitive-patient flags the detectors
 * read. Every change is audited in its own transaction (`privacy_alert.*`, `privacy_suppression.*`,
 * `patient.sensitivity_*`); the monitor skips `privacy_*` entries, so reviewing never feeds back.
 * Notes and reasons are sealed under the tenant's `privacy-notes` key; audit entries carry ids only.
 *
 * Nobody reviews themselves: every lifecycle action (investigate, note, close) on an alert whose
 * subject is the caller, and a suppression naming the caller as its subject, answer 403
 * SP_PRIVACY_SELF_REVIEW (and so are themselves on the record as access.denied). A suppression of a
 * detector for everyone, and a close as false positive, are allowed but told to the tenant's other
 * privacy officers and administrators (`oversight`). Reading one alert (its evidence entries) is
 * audited (`privacy_alert.read`); lists are not.
 */
export class PrivacyAlertService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly monitor?: PrivacyMonitorStatusSource & { enabled: boolean },
    private readonly oversight?: PrivacyOversightNotify,
  ) {}

  async list(
    ctx: RequestContext,
    o: { status?: PrivacyAlertStatus; limit: number; cursor?: string },
  ): Promise<{ items: PrivacyAlertView[]; nextCursor: string | null }> {
    const after = o.cursor ? decodeCursor(o.cursor) : undefined;
    const rows = await this.deps.store.read.privacy.listAlerts(ctx.tenantId, {
      status: o.status,
      limit: o.limit + 1,
      after,
    });
    const page = rows.slice(0, o.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(view),
      nextCursor: rows.length > o.limit && last ? encodeCursor(last) : null,
    };
  }

  /**
   * One alert with its evidence entries and notes. The read is audited (`privacy_alert.read`, in its
   * own transaction, before anything is answered): the evidence is the log's account of whom the
   * subject touched, and who looked at it is part of the record.
   */
  async get(ctx: RequestContext, id: string): Promise<PrivacyAlertDetail> {
    const { store, clock } = this.deps;
    const row = await this.require(store.read, ctx.tenantId, id);
    await store.transaction((tx) =>
      audit(tx, ctx, clock(), { action: 'privacy_alert.read', targetType: 'privacy_alert', targetId: id }),
    );
    const entries: { idx: number; entry: string }[] = [];
    for (const idx of JSON.parse(row.evidence) as number[]) {
      const e = await store.read.auditLog.entry(idx - 1);
      if (!e) continue;
      const parsed = JSON.parse(e.entry) as { tenant?: string };
      // Evidence is the tenant's own log; anything else is not shown.
      if (parsed.tenant === ctx.tenantId) entries.push({ idx, entry: e.entry });
    }
    const noteRows = await store.read.privacy.notes(ctx.tenantId, id);
    const key = noteRows.length ? await this.notesKey(store.read, ctx.tenantId, false) : null;
    const notes = noteRows.map((n) => ({
      at: iso(n.at),
      author: n.author,
      text: key ? this.deps.cipher.decrypt(key, noteRef(ctx.tenantId, n.id), n.text_ct) : '',
    }));
    const person = row.subject.startsWith('user:')
      ? await store.read.users.byId(ctx.tenantId, row.subject.slice('user:'.length))
      : undefined;
    const subjectPerson = person
      ? {
          displayName: person.display_name,
          email: person.email,
          roles: person.roles.split(' ').filter(Boolean),
          status: person.status,
        }
      : null;
    return { ...view(row), entries, notes, subjectPerson };
  }

  /** open → investigating, assigned to the caller. */
  async investigate(ctx: RequestContext, id: string): Promise<PrivacyAlertView> {
    return this.transition(ctx, id, ['open'], { status: 'investigating', assignee: ctx.actor });
  }

  /** open | investigating → closed with an outcome and a note (sealed). */
  async close(
    ctx: RequestContext,
    id: string,
    input: { outcome: PrivacyOutcome; note: string },
  ): Promise<PrivacyAlertView> {
    const note = input.note.trim();
    if (!note) throw new AppError('SP_REQ_VALIDATION', 'body.note: must not be empty');
    return this.transition(ctx, id, ['open', 'investigating'], { status: 'closed', outcome: input.outcome }, note);
  }

  async addNote(ctx: RequestContext, id: string, text: string): Promise<PrivacyAlertDetail> {
    const body = text.trim();
    if (!body) throw new AppError('SP_REQ_VALIDATION', 'body.text: must not be empty');
    const { store } = this.deps;
    await store.transaction(async (tx) => {
      const row = await this.require(tx, ctx.tenantId, id);
      notSelf(ctx, row);
      if (row.status === 'closed') throw new AppError('SP_PRIVACY_TRANSITION_INVALID', 'the alert is closed');
      await this.writeNote(tx, ctx, id, body);
    });
    await store.durable();
    return this.get(ctx, id);
  }

  async suppressions(ctx: RequestContext, includeExpired: boolean): Promise<SuppressionView[]> {
    const { store, clock } = this.deps;
    const now = clock().getTime();
    const rows = await store.read.privacy.listSuppressions(ctx.tenantId, now, includeExpired);
    const key = rows.length ? await this.notesKey(store.read, ctx.tenantId, false) : null;
    return rows.map((r) => this.suppressionView(r, key, now));
  }

  async suppress(
    ctx: RequestContext,
    input: { detector?: string | null; subject?: string | null; reason: string; expiresAt: string },
  ): Promise<SuppressionView> {
    const { store, clock, newId, cipher } = this.deps;
    const now = clock().getTime();
    const detector = input.detector ?? null;
    const subject = input.subject?.trim() || null;
    if (!detector && !subject)
      throw new AppError('SP_PRIVACY_SUPPRESSION_INVALID', 'a suppression names a detector, a subject or both');
    if (detector && !(DETECTOR_IDS as readonly string[]).includes(detector))
      throw new AppError('SP_PRIVACY_SUPPRESSION_INVALID', 'body.detector: is not a known detector');
    const expires = Date.parse(input.expiresAt);
    if (!Number.isFinite(expires) || expires <= now)
      throw new AppError('SP_PRIVACY_SUPPRESSION_INVALID', 'body.expiresAt: must be in the future');
    if (expires - now > SUPPRESSION_MAX_MS)
      throw new AppError('SP_PRIVACY_SUPPRESSION_INVALID', 'body.expiresAt: at most 366 days ahead');
    const reason = input.reason.trim();
    if (!reason) throw new AppError('SP_REQ_VALIDATION', 'body.reason: must not be empty');
    if (subject === ctx.actor)
      throw new AppError('SP_PRIVACY_SELF_REVIEW', 'a suppression may not name its creator as the subject');
    const id = newId();
    const row = await store.transaction(async (tx) => {
      const key = (await this.notesKey(tx, ctx.tenantId, true))!;
      const r: PrivacySuppressionRow = {
        id,
        tenant_id: ctx.tenantId,
        detector,
        subject,
        reason_ct: cipher.encrypt(key, reasonRef(ctx.tenantId, id), reason),
        created_by: ctx.actor,
        created_at: now,
        expires_at: expires,
        removed_at: null,
      };
      await tx.privacy.insertSuppression(r);
      await audit(tx, ctx, new Date(now), {
        action: 'privacy_suppression.created',
        targetType: 'privacy_suppression',
        targetId: id,
        details: { detector, subject, expiresAt: new Date(expires).toISOString() },
      });
      return { r, key };
    });
    await store.durable();
    this.tell(ctx.tenantId, {
      kind: 'suppression_created',
      id,
      by: ctx.actor,
      detector,
      namesSubject: subject !== null,
      expiresAt: new Date(expires).toISOString(),
    });
    return this.suppressionView(row.r, row.key, now);
  }

  async unsuppress(ctx: RequestContext, id: string): Promise<void> {
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      const now = clock();
      if (!(await tx.privacy.removeSuppression(ctx.tenantId, id, now.getTime())))
        throw new AppError('SP_PRIVACY_SUPPRESSION_NOT_FOUND');
      await audit(tx, ctx, now, {
        action: 'privacy_suppression.removed',
        targetType: 'privacy_suppression',
        targetId: id,
      });
    });
    await store.durable();
  }

  /** Flags a patient (by id: stored by pseudonymous reference); SP_PATIENT_NOT_FOUND for an unknown id. */
  async setSensitivity(
    ctx: RequestContext,
    patientId: string,
    kind: SensitivityKind,
  ): Promise<{ patientRef: string; kind: SensitivityKind; created: boolean }> {
    const { store, clock } = this.deps;
    const ref = patientRef(this.deps, ctx.tenantId, patientId);
    const prev = await store.transaction(async (tx) => {
      if (!(await tx.access.patientExists(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      const now = clock();
      const before = await tx.privacy.setSensitive({
        tenant_id: ctx.tenantId,
        patient_ref: ref,
        kind,
        set_by: ctx.actor,
        set_at: now.getTime(),
      });
      if (before !== kind)
        await audit(tx, ctx, now, {
          action: 'patient.sensitivity_set',
          targetType: 'patient',
          targetId: ref,
          patientRef: ref,
          details: { kind, previous: before },
        });
      return before;
    });
    await store.durable();
    return { patientRef: ref, kind, created: prev === null };
  }

  /** Clears a flag; false when the patient was not flagged (nothing written); SP_PATIENT_NOT_FOUND for an unknown id. */
  async clearSensitivity(ctx: RequestContext, patientId: string): Promise<boolean> {
    const { store, clock } = this.deps;
    const ref = patientRef(this.deps, ctx.tenantId, patientId);
    const cleared = await store.transaction(async (tx) => {
      if (!(await tx.access.patientExists(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      if (!(await tx.privacy.clearSensitive(ctx.tenantId, ref))) return false;
      await audit(tx, ctx, clock(), {
        action: 'patient.sensitivity_cleared',
        targetType: 'patient',
        targetId: ref,
        patientRef: ref,
      });
      return true;
    });
    await store.durable();
    return cleared;
  }

  async sensitivePatients(
    ctx: RequestContext,
  ): Promise<{ patientRef: string; kind: SensitivityKind; setBy: string; setAt: string }[]> {
    return (await this.deps.store.read.privacy.listSensitive(ctx.tenantId)).map((s) => ({
      patientRef: s.patient_ref,
      kind: s.kind,
      setBy: s.set_by,
      setAt: iso(s.set_at),
    }));
  }

  async status(ctx: RequestContext): Promise<{
    enabled: boolean;
    cursor: number;
    lag: number;
    lastRunAt: string | null;
    openAlerts: number;
  }> {
    const s = this.monitor ? await this.monitor.status() : { cursorIdx: 0, lag: 0, lastRunAt: null };
    const open = await this.deps.store.read.privacy.listAlerts(ctx.tenantId, { status: 'open', limit: 1000 });
    return {
      enabled: this.monitor?.enabled ?? false,
      cursor: s.cursorIdx,
      lag: s.lag,
      lastRunAt: s.lastRunAt == null ? null : iso(s.lastRunAt),
      openAlerts: open.length,
    };
  }

  private async transition(
    ctx: RequestContext,
    id: string,
    from: PrivacyAlertStatus[],
    to: { status: PrivacyAlertStatus; outcome?: PrivacyOutcome; assignee?: string },
    note?: string,
  ): Promise<PrivacyAlertView> {
    const { store, clock } = this.deps;
    const row = await store.transaction(async (tx) => {
      const before = await this.require(tx, ctx.tenantId, id);
      notSelf(ctx, before);
      const now = clock();
      if (!(await tx.privacy.setStatus(ctx.tenantId, id, from, to, now.getTime())))
        throw new AppError('SP_PRIVACY_TRANSITION_INVALID', `the alert is ${before.status}`);
      if (note) await this.writeNote(tx, ctx, id, note);
      await audit(tx, ctx, now, {
        action: 'privacy_alert.status_changed',
        targetType: 'privacy_alert',
        targetId: id,
        details: { from: before.status, to: to.status, outcome: to.outcome ?? null },
      });
      return (await tx.privacy.getAlert(ctx.tenantId, id))!;
    });
    await store.durable();
    if (to.status === 'closed' && to.outcome === 'false_positive')
      this.tell(ctx.tenantId, { kind: 'alert_closed_false_positive', id, by: ctx.actor, subject: row.subject });
    return view(row);
  }

  /** Sends an oversight notice after the commit; the change stands whether or not it is delivered. */
  private tell(tenantId: string, notice: PrivacyOversightNotice): void {
    // The notifier logs its own failures (ids only); nothing here may fail the request.
    this.oversight?.(tenantId, notice).catch(() => undefined);
  }

  private async writeNote(tx: StoreTx, ctx: RequestContext, alertId: string, text: string): Promise<void> {
    const { clock, newId, cipher } = this.deps;
    const id = newId();
    const now = clock();
    const key = (await this.notesKey(tx, ctx.tenantId, true))!;
    await tx.privacy.addNote({
      id,
      tenant_id: ctx.tenantId,
      alert_id: alertId,
      at: now.getTime(),
      author: ctx.actor,
      text_ct: cipher.encrypt(key, noteRef(ctx.tenantId, id), text),
    });
    await audit(tx, ctx, now, {
      action: 'privacy_alert.noted',
      targetType: 'privacy_alert',
      targetId: alertId,
      details: { note: id },
    });
  }

  private async require(tx: StoreTx, tenantId: string, id: string): Promise<PrivacyAlertRow> {
    const row = await tx.privacy.getAlert(tenantId, id);
    if (!row) throw new AppError('SP_PRIVACY_ALERT_NOT_FOUND');
    return row;
  }

  private suppressionView(r: PrivacySuppressionRow, key: Buffer | null, now: number): SuppressionView {
    return {
      id: r.id,
      detector: r.detector,
      subject: r.subject,
      reason: key ? this.deps.cipher.decrypt(key, reasonRef(r.tenant_id, r.id), r.reason_ct) : '',
      createdBy: r.created_by,
      createdAt: iso(r.created_at),
      expiresAt: iso(r.expires_at),
      expired: Number(r.expires_at) <= now,
    };
  }

  /** The tenant's key for these notes (context.ts `tenantDataKey`). */
  private notesKey(tx: StoreTx, tenantId: string, create: boolean): Promise<Buffer | null> {
    return tenantDataKey(this.deps, tx, tenantId, NOTES_KEY, create);
  }
}

/** Nobody acts on an alert about themselves. */
function notSelf(ctx: RequestContext, alert: PrivacyAlertRow): void {
  if (alert.subject === ctx.actor)
    throw new AppError('SP_PRIVACY_SELF_REVIEW', 'the alert is about the caller: another officer reviews it');
}

const noteRef = (tenantId: string, id: string) => ({
  tenantId,
  table: 'privacy_alert_notes',
  rowId: id,
  field: 'text',
});
const reasonRef = (tenantId: string, id: string) => ({
  tenantId,
  table: 'privacy_suppressions',
  rowId: id,
  field: 'reason',
});

function view(r: PrivacyAlertRow): PrivacyAlertView {
  return {
    id: r.id,
    subject: r.subject,
    detectors: JSON.parse(r.detectors) as DetectorId[],
    score: Number(r.score_tenths) / 10,
    status: r.status,
    outcome: r.outcome,
    firstAt: iso(r.first_at),
    lastAt: iso(r.last_at),
    reasons: JSON.parse(r.reasons) as string[],
    evidence: JSON.parse(r.evidence) as number[],
    assignee: r.assignee,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

const RANK: Record<PrivacyAlertStatus, number> = { open: 0, investigating: 1, closed: 2 };

function encodeCursor(r: PrivacyAlertRow): string {
  return Buffer.from(JSON.stringify([RANK[r.status], Number(r.score_tenths), r.id])).toString('base64url');
}

function decodeCursor(c: string): PrivacyAlertCursor {
  try {
    const [rank, score, id] = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown[];
    if (typeof rank === 'number' && typeof score === 'number' && typeof id === 'string') return { rank, score, id };
  } catch {
    // answered below
  }
  throw new AppError('SP_REQ_CURSOR_INVALID');
}
