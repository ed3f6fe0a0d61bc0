import type { Store } from '../../store/store.js';
import type { PrivacyAlertRow } from '../../store/repositories/privacy-repository.js';
import { AuditFactError, parseFact, type AuditFact } from './audit-fact.js';
import type { DetectorContext, DetectorId } from './detector.js';
import { PrivacyEngine, type AlertCandidate, type Suppression } from './privacy-engine.js';

/** The monitor's lease and the name of its saved state. */
export const PRIVACY_MONITOR = 'privacy-monitor';
/** The actor of the monitor's own audit entries (`privacy_*`: the engine never reads them back). */
export const MONITOR_ACTOR = 'system:privacy-monitor';

export interface PrivacyMonitorOptions {
  /** This node's name in the lease. */
  owner: string;
  intervalMs: number;
  /** Audit entries per batch (one transaction each). */
  batchSize: number;
  newId: () => string;
}

/**
 * Told of each new alert after its batch committed: its id and score (the only things the message
 * says) and its subject, so the people told never include the person the alert is about.
 */
export type PrivacyAlertNotify = (
  tenantId: string,
  alert: { id: string; score: number; subject: string },
) => Promise<unknown>;

export interface PrivacyMonitorHooks {
  notify?: PrivacyAlertNotify;
  onError?: (e: unknown) => void;
  /** Tests: called inside a batch's transaction after the alerts are written, before the cursor moves. */
  beforeSave?: (batch: { from: number; to: number }) => void | Promise<void>;
  /** Replaces the default engine (tests with crafted detectors). */
  engine?: () => PrivacyEngine;
}

export interface PrivacyMonitorStatus {
  /** The last audit index consumed (0 before the first batch). */
  cursorIdx: number;
  /** Numbered entries not yet consumed. */
  lag: number;
  /** When the monitor last saved progress (ms), null before its first batch. */
  lastRunAt: number | null;
}

/**
 * Privacy monitoring's worker: on one node at a time (lease `privacy-monitor`), reads numbered audit
 * entries after its cursor in batches (numbered entries only: their order is fixed, so a replay sees
 * the same stream), runs the engine, and writes in ONE transaction the alerts raised or updated,
 * the engine's state and the new cursor, saved compare-and-set. A crash or restart anywhere resumes
 * from the last committed batch: its alerts and its state are there together or not at all, so no
 * alert is lost or raised twice. Reads no PHI: the log, the flagged patient references and roles.
 */
export class PrivacyMonitor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  /** The engine as of `cached.cursor`; dropped on any failure so the stored state is reloaded. */
  private cached: { cursor: number; engine: PrivacyEngine } | null = null;

  constructor(
    private readonly store: Store,
    private readonly o: PrivacyMonitorOptions,
    private readonly clock: () => Date,
    private readonly hooks: PrivacyMonitorHooks = {},
  ) {}

  /**
   * Runs batches until the log is consumed (or `maxBatches`); returns the entries consumed. The lease
   * is taken, or renewed, before every batch: a long catch-up never outlives it, and a node that lost
   * it (paused past its expiry, another node took over) stops at the next batch.
   */
  async runOnce(maxBatches = Number.MAX_SAFE_INTEGER): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      if (!(await this.lease())) break;
      const n = await this.batch();
      total += n;
      if (n < this.o.batchSize) break;
    }
    return total;
  }

  /** Takes or renews the lease for the next few intervals; false when another node holds it. */
  private async lease(): Promise<boolean> {
    const now = this.clock().getTime();
    const until = now + Math.max(30_000, 5 * this.o.intervalMs);
    return this.store.transaction((tx) => tx.leases.acquire(PRIVACY_MONITOR, this.o.owner, now, until));
  }

  /** One batch; returns the entries it consumed. The caller holds the lease. */
  async batch(): Promise<number> {
    const { store } = this;
    try {
      const saved = await store.read.privacy.state(PRIVACY_MONITOR);
      const cursor = saved?.cursorIdx ?? 0;
      let engine = this.cached?.cursor === cursor ? this.cached.engine : null;
      if (!engine) {
        engine = this.hooks.engine?.() ?? new PrivacyEngine();
        engine.restore(saved ? JSON.parse(saved.state) : null);
      }
      this.cached = null;
      const rows = await store.read.auditLog.entries(cursor, this.o.batchSize);
      if (!rows.length) {
        this.cached = { cursor, engine };
        return 0;
      }
      const facts: AuditFact[] = [];
      for (const r of rows) {
        try {
          facts.push(parseFact(Number(r.idx), r.entry));
        } catch (e) {
          // A malformed entry is the verifier's finding, not ours: skip it, keep the order.
          if (!(e instanceof AuditFactError)) throw e;
        }
      }
      const nowMs = this.clock().getTime();
      const candidates = engine.run(facts, await this.context(), await this.suppressions(nowMs));
      const next = Number(rows[rows.length - 1]!.idx);
      const state = JSON.stringify(engine.snapshot());
      const raised = await store.transaction(async (tx) => {
        const fresh: { tenantId: string; id: string; score: number; subject: string }[] = [];
        for (const c of candidates) {
          const r = await this.upsert(tx, c, nowMs);
          if (r) fresh.push(r);
        }
        await this.hooks.beforeSave?.({ from: cursor, to: next });
        if (!(await tx.privacy.saveState(PRIVACY_MONITOR, cursor, { cursorIdx: next, state }, nowMs)))
          throw new Error('privacy monitor: another node moved the cursor');
        return fresh;
      });
      this.cached = { cursor: next, engine };
      for (const a of raised)
        this.hooks
          .notify?.(a.tenantId, { id: a.id, score: a.score, subject: a.subject })
          .catch((e) => this.hooks.onError?.(e));
      return rows.length;
    } catch (e) {
      this.cached = null;
      throw e;
    }
  }

  /** Where the monitor stands: cursor, entries behind, last save. */
  async status(): Promise<PrivacyMonitorStatus> {
    const saved = await this.store.read.privacy.state(PRIVACY_MONITOR);
    const size = await this.store.read.auditLog.size();
    const cursorIdx = saved?.cursorIdx ?? 0;
    return { cursorIdx, lag: Math.max(0, size - cursorIdx), lastRunAt: saved?.updatedAt ?? null };
  }

  start(): void {
    const tick = async () => {
      try {
        await this.runOnce();
      } catch (e) {
        this.hooks.onError?.(e);
      }
    };
    const loop = () => {
      this.running = tick().finally(() => {
        if (this.timer !== null) this.timer = setTimeout(loop, this.o.intervalMs);
      });
    };
    this.timer = setTimeout(loop, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    const wasRunning = this.timer !== null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    if (wasRunning)
      await this.store.transaction((tx) => tx.leases.release(PRIVACY_MONITOR, this.o.owner)).catch(() => {});
  }

  /**
   * New alert → inserted (returned, to notify); open or investigating → its findings updated.
   * Closed → a NEW alert follows it, holding the evidence since (entries after the closed alert's
   * last evidence), under the key `<key>#<n>` (n = 2, 3, … per close that day): closing an alert
   * never blinds the detectors to its subject for the rest of the merge window. The follower carries
   * the candidate's current score, detectors and reasons (the day's picture, so the reviewer sees the
   * pattern the close did not end) and is itself updated, or followed once closed, the same way.
   */
  private async upsert(
    tx: Parameters<Parameters<Store['transaction']>[0]>[0],
    c: AlertCandidate,
    now: number,
  ): Promise<{ tenantId: string; id: string; score: number; subject: string } | null> {
    const entry = (action: string, id: string, details: Record<string, string | number | string[]>) =>
      tx.audit.append({
        tenantId: c.tenantId,
        at: new Date(now),
        actor: MONITOR_ACTOR,
        action,
        outcome: 'success',
        targetType: 'privacy_alert',
        targetId: id,
        details,
      });
    // The chain of alerts under this candidate's key: the first, then one per close.
    let prev: PrivacyAlertRow | undefined;
    let existing: PrivacyAlertRow | undefined = await tx.privacy.alertByKey(c.tenantId, c.key);
    let n = 1;
    while (existing?.status === 'closed') {
      const next = await tx.privacy.alertByKey(c.tenantId, `${c.key}#${n + 1}`);
      if (!next) break;
      prev = existing;
      existing = next;
      n++;
    }
    // Evidence after the last closed alert's: what its reviewer did not see.
    const since = (closed: PrivacyAlertRow | undefined) => {
      if (!closed) return c.evidence;
      const seen = JSON.parse(closed.evidence) as number[];
      const after = seen.length ? Math.max(...seen) : 0;
      return c.evidence.filter((i) => i > after);
    };
    const findingsOf = (evidence: number[], firstAt: number) => ({
      detectors: JSON.stringify(c.detectors),
      score_tenths: Math.round(c.score * 10),
      first_at: firstAt,
      last_at: c.lastAt,
      reasons: JSON.stringify(c.reasons),
      evidence: JSON.stringify(evidence),
    });
    // A follower starts where the closed alert's findings stopped (within the candidate's span).
    const after = (closed: PrivacyAlertRow) => Math.min(c.lastAt, Math.max(c.firstAt, Number(closed.last_at)));
    const insert = async (key: string, evidence: number[], firstAt: number, follows: string | null) => {
      const id = this.o.newId();
      await tx.privacy.insertAlert({
        id,
        tenant_id: c.tenantId,
        subject: c.subject,
        ...findingsOf(evidence, firstAt),
        status: 'open',
        outcome: null,
        dedup_key: key,
        assignee: null,
        created_at: now,
        updated_at: now,
      });
      await entry('privacy_alert.raised', id, {
        score: c.score,
        detectors: c.detectors as DetectorId[] as string[],
        ...(follows ? { follows } : {}),
      });
      return { tenantId: c.tenantId, id, score: c.score, subject: c.subject };
    };
    if (!existing) return insert(c.key, c.evidence, c.firstAt, null);
    if (existing.status === 'closed') {
      // The last of the chain is closed: anything new since raises the next alert.
      const evidence = since(existing);
      if (!evidence.length) return null;
      return insert(`${c.key}#${n + 1}`, evidence, after(existing), existing.id);
    }
    const evidence = since(prev);
    const findings = findingsOf(evidence, prev ? Number(existing.first_at) : c.firstAt);
    const same =
      existing.score_tenths === findings.score_tenths &&
      existing.evidence === findings.evidence &&
      existing.detectors === findings.detectors &&
      Number(existing.last_at) === c.lastAt;
    if (same) return null;
    if (await tx.privacy.updateFindings(c.tenantId, existing.id, findings, now)) {
      await entry('privacy_alert.updated', existing.id, { score: c.score, detectors: c.detectors as string[] });
      return null;
    }
    // Closed while this batch ran: what it did not hold follows it.
    const closed = await tx.privacy.getAlert(c.tenantId, existing.id);
    if (closed?.status !== 'closed' || !since(closed).length) return null;
    return insert(`${c.key}#${n + 1}`, since(closed), after(closed), closed.id);
  }

  private async context(): Promise<DetectorContext> {
    const sensitive = new Map<string, 'staff' | 'vip' | 'flagged'>();
    for (const s of await this.store.read.privacy.allSensitive())
      sensitive.set(`${s.tenant_id}|${s.patient_ref}`, s.kind);
    const roles = new Map<string, readonly string[]>();
    for (const u of await this.store.read.privacy.personRoles())
      roles.set(`${u.tenant_id}|user:${u.id}`, u.roles.split(' ').filter(Boolean));
    return {
      sensitivity: (tenantId, ref) => sensitive.get(`${tenantId}|${ref}`) ?? null,
      roles: (tenantId, actor) => roles.get(`${tenantId}|${actor}`) ?? [],
    };
  }

  private async suppressions(now: number): Promise<Suppression[]> {
    return (await this.store.read.privacy.activeSuppressions(now)).map((s) => ({
      tenantId: s.tenant_id,
      detector: (s.detector as DetectorId | null) ?? null,
      subject: s.subject,
      expiresAt: Number(s.expires_at),
    }));
  }
}
