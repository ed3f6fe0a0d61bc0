import type { CoreDeps } from './context.js';
import { isUrgent, type Language, type Priority } from './domain.js';
import { deferPastQuietHours } from './time-policy.js';
import { DEFAULT_DELIVERY_POLICY, type DeliveryPolicySettings } from '../config/delivery-policy-settings.js';
import type { DeliveryRow, NotificationRow } from '../store/rows.js';
import type { StoreTx } from '../store/store.js';
import type { DeliverySendRow, PreferenceRow } from '../store/repositories/preference-repository.js';

const DAY = 86_400_000;
const WEEK = 7 * DAY;

/**
 * What the send-time policy decided for one delivery that passed the consent check:
 * - `defer`: stays `scheduled`, `runAt` moved to `until`, `code` says why (visible on the delivery);
 * - `suppress`: `suppressed` with `code` (a duplicate: the same content already went out);
 * - `digest`: goes out inside `lead`'s nudge (a delivery of the same patient and channel in this batch);
 * - `null`: send it (and, for a routine one, it is now in the send ledger).
 */
export type PolicyVerdict =
  | {
      kind: 'defer';
      until: number;
      code: 'SP_DELIVERY_CAPPED' | 'SP_DELIVERY_QUIET_HOURS' | 'SP_DELIVERY_NO_TEXT_AFTER' | 'SP_DELIVERY_DIGEST_WAIT';
    }
  | { kind: 'suppress'; code: 'SP_DELIVERY_DUPLICATE'; duplicateOf: string }
  | { kind: 'digest'; lead: string }
  | null;

/**
 * Patients' preferences, frequency caps, deduplication and digests at send time, for one claimed
 * batch of the delivery worker: `forBatch` reads everything in a few bulk queries (preferences of the
 * batch's patients; for its routine deliveries, a per-patient lock on PostgreSQL and the send ledger
 * since the longest window); `decide` is pure arithmetic per delivery; `record` writes the ledger
 * rows of the routine deliveries let go, in the claim's transaction.
 *
 * Exactness across nodes: the ledger is read and written under the per-patient lock, which the
 * claim's transaction holds until it commits; a second node's claim for the same patient waits,
 * then reads the first's rows. SQLite has one writer, whose transactions never overlap. Only sends
 * that went out (or wait for a retry) keep their rows: the worker removes the row of a delivery
 * that ends failed, dead, suppressed, deferred, cancelled or lost in its outcome's transaction
 * (delivery-processor.ts `unledger`); removing needs no lock (it can only make a later claim stricter).
 *
 * `urgent`, `asap` and `stat` bypass all of it (as they bypass the installation's quiet hours) and
 * are not counted.
 */
export class DeliveryPolicy {
  private readonly newSends: DeliverySendRow[] = [];
  /** Lead delivery per tenant/patient/channel admitted in this batch (digests). */
  private readonly leads = new Map<string, string>();
  private readonly contentKeys = new Map<string, string>();

  private constructor(
    private readonly deps: CoreDeps,
    private readonly settings: DeliveryPolicySettings,
    private readonly prefs: Map<string, PreferenceRow>,
    /** The ledger since the longest window, per tenant/patient. */
    private readonly sends: Map<string, DeliverySendRow[]>,
    /** Per tenant/patient/channel: the latest run_at of scheduled routine deliveries due within the digest window. */
    private readonly soon: Map<string, number>,
    private readonly now: number,
  ) {}

  /** Reads what the batch's decisions need: preferences, and for routine deliveries the locked send ledger. */
  static async forBatch(deps: CoreDeps, tx: StoreTx, ds: readonly DeliveryRow[], now: number): Promise<DeliveryPolicy> {
    const settings = deps.config.policy.delivery ?? DEFAULT_DELIVERY_POLICY;
    const prefs = new Map<string, PreferenceRow>();
    const sends = new Map<string, DeliverySendRow[]>();
    const soon = new Map<string, number>();
    const counted = hasLedger(settings);
    const window = ledgerWindow(settings);
    for (const tenant of new Set(ds.map((d) => d.tenant_id))) {
      const mine = ds.filter((d) => d.tenant_id === tenant);
      for (const p of await tx.preferences.getMany(tenant, [...new Set(mine.map((d) => d.patient_id))]))
        prefs.set(`${tenant}/${p.patient_id}`, p);
      const routine = [...new Set(mine.filter((d) => !isUrgent(d.priority as Priority)).map((d) => d.patient_id))];
      if (!counted || !routine.length) continue;
      await tx.sendLedger.lockPatients(tenant, routine);
      for (const r of await tx.sendLedger.listSince(tenant, routine, now - window)) {
        const k = `${tenant}/${r.patient_id}`;
        sends.set(k, [...(sends.get(k) ?? []), { ...r, at: Number(r.at) }]);
      }
      if (settings.digestWindowMinutes > 0)
        for (const r of await tx.sendLedger.dueSoon(
          tenant,
          routine,
          now,
          now + settings.digestWindowMinutes * 60_000,
        )) {
          const k = `${tenant}/${r.patient_id}/${r.channel}`;
          soon.set(k, Math.max(soon.get(k) ?? 0, r.run_at));
        }
    }
    return new DeliveryPolicy(deps, settings, prefs, sends, soon, now);
  }

  /** The patient's preferred language, when they chose one. */
  language(d: DeliveryRow): Language | null {
    return (this.prefs.get(`${d.tenant_id}/${d.patient_id}`)?.language as Language | null | undefined) ?? null;
  }

  /**
   * Decides one delivery (after consent and the installation's quiet hours: one held back by those is
   * never admitted, so it gets no ledger row and no digest members). `key` is the
   * patient's data key (deduplication compares a keyed hash of the content, never the content).
   */
  decide(d: DeliveryRow, n: NotificationRow, timeZone: string, key: Buffer): PolicyVerdict {
    if (isUrgent(n.priority as Priority)) return null;
    const patient = `${d.tenant_id}/${d.patient_id}`;
    const pref = this.prefs.get(patient);
    const at = new Date(this.now);
    if (pref && pref.quiet_start != null && pref.quiet_end != null) {
      const until = deferPastQuietHours(at, timeZone, { startMinute: pref.quiet_start, endMinute: pref.quiet_end });
      if (until.getTime() > this.now) return { kind: 'defer', until: until.getTime(), code: 'SP_DELIVERY_QUIET_HOURS' };
    }
    if (pref?.no_text_after != null && d.channel === 'sms') {
      const morning = pref.quiet_end ?? this.deps.config.policy.quietHours?.endMinute ?? 8 * 60;
      if (morning !== pref.no_text_after) {
        const until = deferPastQuietHours(at, timeZone, { startMinute: pref.no_text_after, endMinute: morning });
        if (until.getTime() > this.now)
          return { kind: 'defer', until: until.getTime(), code: 'SP_DELIVERY_NO_TEXT_AFTER' };
      }
    }
    if (!hasLedger(this.settings)) return null;
    const ledger = this.sends.get(patient) ?? [];
    // A retry of a delivery already let go keeps its place: it was counted when it first went.
    if (ledger.some((r) => r.delivery_id === d.id)) return null;
    const content = this.settings.dedupWindowMinutes > 0 ? this.contentKey(n, key) : '';
    if (content) {
      const since = this.now - this.settings.dedupWindowMinutes * 60_000;
      const dup = ledger.find((r) => r.content_key === content && r.notification_id !== n.id && r.at >= since);
      if (dup) return { kind: 'suppress', code: 'SP_DELIVERY_DUPLICATE', duplicateOf: dup.notification_id };
    }
    const slot = `${patient}/${d.channel}`;
    const lead = this.leads.get(slot);
    if (lead && this.settings.digestWindowMinutes > 0) {
      this.admit(d, n, content, lead);
      return { kind: 'digest', lead };
    }
    const cap = this.settings.caps[d.channel];
    if (cap) {
      const mine = ledger.filter((r) => r.channel === d.channel && r.digest_of == null).map((r) => r.at);
      const until = Math.max(freeAt(mine, this.now, DAY, cap.perDay), freeAt(mine, this.now, WEEK, cap.perWeek));
      if (until > this.now) return { kind: 'defer', until, code: 'SP_DELIVERY_CAPPED' };
    }
    // Others of this patient and channel are due within the digest window: wait for the last of them, then go as one.
    const wait = this.settings.digestWindowMinutes > 0 ? this.soon.get(slot) : undefined;
    if (wait !== undefined && wait > this.now) return { kind: 'defer', until: wait, code: 'SP_DELIVERY_DIGEST_WAIT' };
    this.admit(d, n, content, null);
    this.leads.set(slot, d.id);
    return null;
  }

  /** Puts a delivery let go (alone, or inside `digestOf`'s nudge) in the ledger, for the rest of the batch too. */
  private admit(d: DeliveryRow, n: NotificationRow, content: string, digestOf: string | null): void {
    const row: DeliverySendRow = {
      tenant_id: d.tenant_id,
      delivery_id: d.id,
      patient_id: d.patient_id,
      channel: d.channel,
      notification_id: n.id,
      content_key: content,
      at: this.now,
      digest_of: digestOf,
    };
    const k = `${d.tenant_id}/${d.patient_id}`;
    this.sends.set(k, [...(this.sends.get(k) ?? []), row]);
    this.newSends.push(row);
  }

  /** Writes the ledger rows of the routine deliveries let go in this batch, and drops rows past every window. */
  async record(tx: StoreTx): Promise<void> {
    if (!this.newSends.length) return;
    await tx.sendLedger.insertMany(this.newSends);
    const before = this.now - ledgerWindow(this.settings);
    for (const tenant of new Set(this.newSends.map((r) => r.tenant_id))) {
      const patients = [...new Set(this.newSends.filter((r) => r.tenant_id === tenant).map((r) => r.patient_id))];
      await tx.sendLedger.prune(tenant, patients, before);
    }
  }

  /** Keyed hash of the notification's type and content (its sealed data, opened with the patient's key). */
  private contentKey(n: NotificationRow, key: Buffer): string {
    let k = this.contentKeys.get(n.id);
    if (k === undefined) {
      const data = this.deps.cipher.decrypt(
        key,
        { tenantId: n.tenant_id, table: 'notifications', rowId: n.id, field: 'data' },
        n.data_ct,
      );
      k = this.deps.cipher.blindIndex(n.tenant_id, 'notification.content', `${n.type}\u0000${data}`);
      this.contentKeys.set(n.id, k);
    }
    return k;
  }
}

const hasLedger = (s: DeliveryPolicySettings) =>
  s.dedupWindowMinutes > 0 || s.digestWindowMinutes > 0 || Object.keys(s.caps).length > 0;

/** How far back the ledger is read: a week when any cap is set, else the deduplication window. */
const ledgerWindow = (s: DeliveryPolicySettings) =>
  Math.max(Object.keys(s.caps).length ? WEEK : 0, s.dedupWindowMinutes * 60_000, DAY);

/**
 * When one more send fits `limit` sends per `span` (a rolling window) given earlier sends at
 * `times`: now if fewer than `limit` fall in the window, else when the oldest one that must leave
 * the window does.
 */
function freeAt(times: number[], now: number, span: number, limit: number): number {
  const inside = times.filter((t) => t > now - span).sort((a, b) => a - b);
  if (inside.length < limit) return now;
  return inside[inside.length - limit] + span;
}
