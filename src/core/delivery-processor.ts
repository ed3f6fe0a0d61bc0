import type { CoreDeps } from './context.js';
import { patientRef } from './context.js';
import type { Channel, SendResult } from '../channels/channel.js';
import { ChannelError } from '../channels/channel.js';
import type { ChannelKind, Language, NotificationType } from './domain.js';
import { isUrgent, PURPOSE_OF } from './domain.js';
import { deferPastQuietHours } from './time-policy.js';
import { fullJitterBackoff } from '../queue/backoff.js';
import { newDeliveryRow } from './notification-service.js';
import { consentAllows, consentRowsByPatient, sendLockKey } from './consent-service.js';
import type { ConsentRow } from '../store/repositories/consent-repository.js';
import { DeliveryPolicy } from './delivery-policy.js';
import { inPreferredOrder } from './patient-preferences.js';
import { hashToken, randomToken } from '../crypto/tokens.js';
import type { AccessLinkRow, ContactPointRow, DeliveryRow, NotificationRow } from '../store/rows.js';
import { outcomeOf, type ClaimedBatch, type DeliveryOutcome, type JobOutcome, type Lease } from '../queue/job-queue.js';
import type { StoreTx } from '../store/store.js';
import { announce, isAnnounced, type AnnouncedDeliveryStatus, type DomainEvent } from './events.js';
import { asksQuestion, replyCodesOf, replyInvitation, type ReplyCodes } from './patient-replies.js';

interface SendPlan {
  d: DeliveryRow;
  n: NotificationRow;
  key: Buffer;
  contact: ContactPointRow;
  language: Language;
  timeZone: string;
  token?: string;
  /** Routine deliveries of the same patient and channel that go out inside this nudge (delivery-policy.ts). */
  digest?: { d: DeliveryRow; n: NotificationRow; contact: ContactPointRow }[];
  /** An appointment reminder's SMS asks "Reply C to confirm, N if you cannot come" (patient-replies.ts). */
  replyCodes?: ReplyCodes;
}

/** What to write for one delivery once the batch's sends are done; applied in one transaction. */
type Finish =
  | {
      kind: 'status';
      status: DeliveryOutcome['status'];
      set: Partial<JobOutcome>;
      action: string;
      code?: string;
      details?: Record<string, string | number | null>;
    }
  /** `suppress`: this delivery is `suppressed` (consent denied), not `failed`, and the next channel still gets a go. */
  /** `prune`: the provider says the recipient is gone (a push token): its contact point is removed too. */
  | { kind: 'failover'; code: string; suppress?: boolean; prune?: boolean }
  /** `code`: why (patients' preferences, frequency caps), kept in last_error_code and audited. */
  | { kind: 'defer'; until: number; code?: string }
  | { kind: 'lost' };

/**
 * Takes claimed deliveries through policy, rendering and their channels, then records the results.
 * Works a whole claim at a time: context is read in a few bulk queries, new portal links are made
 * durable with one commit, and every outcome (with its audit entry) is written in one transaction.
 * Invariant: nothing PHI leaves through a channel, only the nudge rendering (checked at template load).
 */
export class DeliveryProcessor {
  constructor(
    private readonly deps: CoreDeps,
    private readonly channels: Record<ChannelKind, Channel>,
    private readonly owner: string,
  ) {}

  /**
   * Claims up to `limit` due deliveries for this worker's lease until `leaseUntil` and prepares
   * them, in one transaction: the claim, the reads of their context, and each new portal link. The
   * links are durable before this resolves (a nudge carrying one may leave right after). The
   * returned batch's `finish` sends and records.
   */
  async claim(limit: number, now: number, leaseUntil: number): Promise<ClaimedBatch> {
    const { store } = this.deps;
    const finishes = new Map<string, Finish>();
    let sends: SendPlan[] = [];
    let linked = false;
    const jobs = await store.transaction(async (tx) => {
      finishes.clear();
      const ds = await tx.queue.claim(this.owner, now, leaseUntil, limit);
      if (!ds.length) return ds;
      sends = await this.plan(tx, ds, now, finishes);
      linked = await this.createLinks(tx, sends, finishes, now);
      return ds;
    });
    if (linked) await store.durable();
    return { jobs, finish: () => this.finish(jobs, sends, finishes) };
  }

  /** Sends the prepared nudges, then records every outcome in one transaction. */
  private async finish(
    ds: DeliveryRow[],
    sends: SendPlan[],
    finishes: Map<string, Finish>,
  ): Promise<DeliveryOutcome[]> {
    await this.sendLocked(
      sends.filter((p) => p.token),
      finishes,
    );
    const at = this.deps.clock().getTime();
    // A member refused by the re-check under the send lock keeps that outcome; the others follow their lead.
    for (const p of sends)
      for (const m of p.digest ?? [])
        if (finishes.get(m.d.id)?.kind !== 'failover') finishes.set(m.d.id, digested(p.d, finishes.get(p.d.id), at));
    const outcomes = await this.deps.store.transaction((tx) => this.recordAll(tx, ds, finishes));
    if (outcomes.some((o) => o.status === 'failed' || o.status === 'suppressed')) this.deps.wake();
    return outcomes;
  }

  /**
   * Sends the prepared nudges under their patients' shared send locks, after reading the consent
   * ledger and the contact points' opt-outs once more inside them: a revocation (a STOP, a deny)
   * commits under the exclusive lock, so it either waits for these calls to end or is seen here,
   * and nothing goes out after it has committed (docs/consent.md, "STOP while a delivery is sent").
   */
  private async sendLocked(ready: SendPlan[], finishes: Map<string, Finish>): Promise<void> {
    if (!ready.length) return;
    const keys = unique(ready.map((p) => sendLockKey(p.d.tenant_id, p.d.patient_id)));
    await this.deps.store.sendLocked(keys, async (read) => {
      const rows = new Map<string, ConsentRow[]>();
      for (const tenant of unique(ready.map((p) => p.d.tenant_id))) {
        const patients = unique(ready.filter((p) => p.d.tenant_id === tenant).map((p) => p.d.patient_id));
        for (const [p, rs] of consentRowsByPatient(await read.consents.listForPatients(tenant, patients)))
          rows.set(`${tenant}/${p}`, rs);
      }
      const optedOut = new Set(
        (
          await read.contactPoints.getMany(
            unique(ready.flatMap((p) => [p.contact.id, ...(p.digest ?? []).map((m) => m.contact.id)])),
          )
        )
          .filter((c) => c.opted_out_at != null)
          .map((c) => c.id),
      );
      // Every digest member is checked too: one denied (or opted out) since planning is not in the nudge.
      for (const p of ready)
        for (const m of p.digest ?? []) {
          const allowed = consentAllows(
            rows.get(`${m.d.tenant_id}/${m.d.patient_id}`) ?? [],
            m.d.channel as ChannelKind,
            PURPOSE_OF[m.n.type as NotificationType],
          );
          if (!allowed) finishes.set(m.d.id, { kind: 'failover', code: 'SP_CONSENT_DENIED', suppress: true });
          else if (optedOut.has(m.contact.id))
            finishes.set(m.d.id, { kind: 'failover', code: 'SP_NOTIFICATION_NO_CHANNEL' });
        }
      await Promise.all(
        ready.map(async (p) => {
          const purpose = PURPOSE_OF[p.n.type as NotificationType];
          const allowed = consentAllows(
            rows.get(`${p.d.tenant_id}/${p.d.patient_id}`) ?? [],
            p.d.channel as ChannelKind,
            purpose,
          );
          finishes.set(
            p.d.id,
            !allowed
              ? { kind: 'failover', code: 'SP_CONSENT_DENIED', suppress: true }
              : optedOut.has(p.contact.id)
                ? { kind: 'failover', code: 'SP_NOTIFICATION_NO_CHANNEL' }
                : await this.send(p),
          );
        }),
      );
    });
  }

  /** Reads the batch's context in bulk and decides, for each delivery, to send or to stop. */
  private async plan(tx: StoreTx, ds: DeliveryRow[], now: number, finishes: Map<string, Finish>): Promise<SendPlan[]> {
    const { cipher, config } = this.deps;
    const notifications = new Map(
      (await tx.notifications.getMany(unique(ds.map((d) => d.notification_id)))).map((n) => [n.id, n]),
    );
    const contacts = new Map(
      (await tx.contactPoints.getMany(unique(ds.map((d) => d.contact_point_id)))).map((c) => [c.id, c]),
    );
    const patients = new Map<string, { language: string; time_zone: string; key: Buffer }>();
    const appointments = new Map<string, { status: string; start_at: number }>();
    const consentRows = new Map<string, ConsentRow[]>();
    for (const tenant of unique(ds.map((d) => d.tenant_id))) {
      const mine = ds.filter((d) => d.tenant_id === tenant);
      // The consent ledger, once per batch: a deny recorded after the notification was created still holds.
      const consents = await tx.consents.listForPatients(tenant, unique(mine.map((d) => d.patient_id)));
      for (const [p, rows] of consentRowsByPatient(consents)) consentRows.set(`${tenant}/${p}`, rows);
      for (const p of await tx.patients.getWithKeys(tenant, unique(mine.map((d) => d.patient_id)))) {
        const key = await cipher.dataKey(tenant, p.id, { keyId: p.key_id, wrapped: Buffer.from(p.wrapped) });
        patients.set(`${tenant}/${p.id}`, { language: p.language, time_zone: p.time_zone, key });
      }
      const apptIds = unique(
        mine.map((d) => notifications.get(d.notification_id)?.appointment_id).filter((x): x is string => !!x),
      );
      for (const a of await tx.appointments.getMany(tenant, apptIds)) appointments.set(`${tenant}/${a.external_id}`, a);
    }

    // Preferences, frequency caps, deduplication, digests: bulk reads for the whole batch.
    const policy = await DeliveryPolicy.forBatch(this.deps, tx, ds, now);
    const digests = new Map<string, { d: DeliveryRow; n: NotificationRow; contact: ContactPointRow }[]>();
    // The tenant's reply codes, read once per batch (appointment reminders by SMS ask the question).
    const replyCodes = new Map<string, ReplyCodes>();
    const sends: SendPlan[] = [];
    for (const d of ds) {
      const n = notifications.get(d.notification_id);
      const patient = patients.get(`${d.tenant_id}/${d.patient_id}`);
      const contact = contacts.get(d.contact_point_id);
      if (!n || n.cancelled_at != null) {
        finishes.set(d.id, {
          kind: 'status',
          status: 'cancelled',
          set: { cancelled_at: now },
          action: 'delivery.cancelled',
        });
        continue;
      }
      if (!patient) {
        finishes.set(d.id, {
          kind: 'status',
          status: 'suppressed',
          set: {},
          action: 'delivery.suppressed',
          code: 'SP_PATIENT_NOT_FOUND',
        });
        continue;
      }
      if (n.appointment_id) {
        const appt = appointments.get(`${d.tenant_id}/${n.appointment_id}`);
        if (!appt || appt.status !== 'booked' || Number(appt.start_at) <= now) {
          finishes.set(d.id, {
            kind: 'status',
            status: 'suppressed',
            set: {},
            action: 'delivery.suppressed',
            code: 'SP_APPOINTMENT_NOT_FOUND',
          });
          continue;
        }
      }
      const purpose = PURPOSE_OF[n.type as NotificationType];
      if (!consentAllows(consentRows.get(`${d.tenant_id}/${d.patient_id}`) ?? [], d.channel as ChannelKind, purpose)) {
        finishes.set(d.id, { kind: 'failover', code: 'SP_CONSENT_DENIED', suppress: true });
        continue;
      }
      if (!contact || contact.opted_out_at != null) {
        finishes.set(d.id, { kind: 'failover', code: 'SP_NOTIFICATION_NO_CHANNEL' });
        continue;
      }
      // Quiet hours are re-checked at send time: a retry or a lease recovery may land in the night.
      // Decided before the policy admits the delivery: one held back gets no ledger row, no digest members.
      if (!isUrgent(n.priority as never)) {
        const until = deferPastQuietHours(new Date(now), patient.time_zone, config.policy.quietHours).getTime();
        if (until > now) {
          finishes.set(d.id, { kind: 'defer', until, code: 'SP_DELIVERY_QUIET_HOURS' });
          continue;
        }
      }
      const verdict = policy.decide(d, n, patient.time_zone, patient.key);
      if (verdict?.kind === 'defer') {
        finishes.set(d.id, verdict);
        continue;
      }
      if (verdict?.kind === 'suppress') {
        finishes.set(d.id, {
          kind: 'status',
          status: 'suppressed',
          set: { last_error_code: verdict.code },
          action: 'delivery.suppressed',
          code: verdict.code,
          details: { duplicateOf: verdict.duplicateOf },
        });
        continue;
      }
      if (verdict?.kind === 'digest') {
        digests.set(verdict.lead, [...(digests.get(verdict.lead) ?? []), { d, n, contact }]);
        finishes.set(d.id, { kind: 'lost' });
        continue;
      }
      const plan: SendPlan = {
        d,
        n,
        key: patient.key,
        contact,
        language: policy.language(d) ?? (patient.language as Language),
        timeZone: patient.time_zone,
      };
      if (d.link_ct) plan.token = cipher.decrypt(patient.key, linkRef(d), d.link_ct);
      if (asksQuestion(n, d.channel)) {
        let codes = replyCodes.get(d.tenant_id);
        if (!codes) replyCodes.set(d.tenant_id, (codes = await replyCodesOf(tx, d.tenant_id)));
        plan.replyCodes = codes;
      }
      sends.push(plan);
    }
    for (const p of sends) p.digest = digests.get(p.d.id);
    await policy.record(tx);
    return sends;
  }

  /**
   * Creates each delivery's portal link once, before its first send, and reuses it on every retry so
   * each attempt carries identical content. Stored only as a hash (lookup) plus ciphertext (re-send).
   * Returns whether it created any (they must be durable before the nudges that carry them leave).
   */
  private async createLinks(
    tx: StoreTx,
    sends: SendPlan[],
    finishes: Map<string, Finish>,
    now: number,
  ): Promise<boolean> {
    const { cipher, config } = this.deps;
    const missing = sends.filter((p) => !p.token);
    if (!missing.length) return false;
    const links = missing.map((p) => ({ p, token: randomToken(32) }));
    const held = await tx.queue.setLinks(
      leaseOf(this.owner, links[0].p.d),
      links.map(({ p, token }) => ({ id: p.d.id, link_ct: cipher.encrypt(p.key, linkRef(p.d), token) })),
    );
    const rows: AccessLinkRow[] = [];
    for (const { p, token } of links) {
      if (!held.has(p.d.id)) {
        finishes.set(p.d.id, { kind: 'lost' });
        continue;
      }
      rows.push({
        token_hash: hashToken(token),
        tenant_id: p.d.tenant_id,
        notification_id: p.d.notification_id,
        delivery_id: p.d.id,
        patient_id: p.d.patient_id,
        expires_at: now + config.portal.linkTtlHours * 3_600_000,
        failed_attempts: 0,
        burned_at: null,
        used_at: null,
        otp_hash: null,
        otp_expires_at: null,
        created_at: now,
      });
      p.token = token;
    }
    await tx.accessLinks.insertMany(rows);
    return rows.length > 0;
  }

  private async send(p: SendPlan): Promise<Finish> {
    const { cipher, templates, config, clock } = this.deps;
    const { d, n, contact } = p;
    const channel = d.channel as ChannelKind;
    const impl = this.channels[channel];
    const link = `${config.publicUrl}/m/${p.token}`;
    let res: SendResult;
    try {
      const to = cipher.decrypt(
        p.key,
        { tenantId: d.tenant_id, table: 'contact_points', rowId: contact.id, field: 'value' },
        contact.value_ct,
      );
      const nudge = templates.renderNudge(n.type as NotificationType, channel, {
        organisation: config.organisationName,
        link,
        language: p.language,
        timeZone: p.timeZone,
        expiresHours: config.portal.linkTtlHours,
      });
      res = await impl.send(
        {
          deliveryId: d.id,
          notificationId: n.id,
          tenantId: d.tenant_id,
          channel,
          to,
          subject: nudge.subject,
          text: p.replyCodes ? `${nudge.text} ${replyInvitation(p.language, p.replyCodes)}` : nudge.text,
          link,
        },
        AbortSignal.timeout(config.channels.timeoutMs),
      );
    } catch (e) {
      const err =
        e instanceof ChannelError
          ? e
          : new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'unexpected channel error', { cause: e });
      if (err.code === 'SP_CHANNEL_RECIPIENT_GONE') return { kind: 'failover', code: err.code, prune: true };
      if (err.retryable && d.attempts < d.max_attempts) {
        const runAt =
          clock().getTime() + fullJitterBackoff(d.attempts, config.worker.backoffBaseMs, config.worker.backoffCapMs);
        return {
          kind: 'status',
          status: 'retry',
          set: { run_at: runAt, last_error_code: err.code },
          action: 'delivery.attempt_failed',
          code: err.code,
          details: { attempt: d.attempts, retryAt: new Date(runAt).toISOString() },
        };
      }
      return { kind: 'failover', code: err.code };
    }
    const at = clock().getTime();
    return {
      kind: 'status',
      status: res.status,
      set: {
        sent_at: at,
        delivered_at: res.status === 'delivered' ? at : null,
        provider: impl.provider,
        provider_message_id: res.providerMessageId ?? null,
        last_error_code: null,
      },
      action: 'delivery.sent',
      details: { provider: impl.provider, attempt: d.attempts },
    };
  }

  /**
   * A provider's asynchronous status report (e.g. Twilio status callback). `delivered` moves a sent
   * delivery forward; `failed` after acceptance fails over as a send failure would. Unknown ids and
   * reports that would move a delivery backwards are ignored (callbacks arrive out of order).
   */
  async providerStatus(provider: string, messageId: string, status: 'sent' | 'delivered' | 'failed'): Promise<boolean> {
    const { store, clock } = this.deps;
    const d = await store.read.deliveries.findByProviderId(provider, messageId);
    if (!d) return false;
    if (status === 'failed' && ['sent', 'delivered'].includes(d.status)) {
      const o = await store.transaction((tx) =>
        this.failOver(tx, d, 'SP_CHANNEL_SEND_FAILED', undefined, clock().getTime()),
      );
      if (o.status === 'failed') this.deps.wake();
    } else if (status === 'delivered' && d.status === 'sent') {
      const now = clock().getTime();
      await store.transaction(async (tx) => {
        await tx.deliveries.update(d.id, { status: 'delivered', delivered_at: now, updated_at: now });
        await this.audit(tx, d, 'delivery.delivered', 'success', undefined, { provider });
        await announce(this.deps, tx, [deliveryEvent(d, 'delivered', now)]);
      });
    }
    await store.durable();
    return true;
  }

  /**
   * Writes a claim's outcomes under this worker's lease: every plain outcome (sent, retry, defer,
   * cancelled, suppressed) in one queue statement, with the audit entries of those whose lease was
   * still held; fail-overs one by one (each reads its siblings). A lost lease changes nothing.
   */
  private async recordAll(tx: StoreTx, ds: DeliveryRow[], finishes: Map<string, Finish>): Promise<DeliveryOutcome[]> {
    const now = this.deps.clock().getTime();
    const plain: JobOutcome[] = [];
    for (const d of ds) {
      const f = finishes.get(d.id) ?? { kind: 'lost' };
      if (f.kind === 'status')
        plain.push({ ...outcomeOf(d), status: f.status === 'retry' ? 'queued' : f.status, ...f.set });
      else if (f.kind === 'defer')
        plain.push({
          ...outcomeOf(d),
          status: 'scheduled',
          run_at: f.until,
          attempts: d.attempts - 1,
          ...(f.code ? { last_error_code: f.code } : {}),
        });
    }
    const held = plain.length ? await tx.queue.finish(leaseOf(this.owner, ds[0]), now, plain) : new Set<string>();
    const out: DeliveryOutcome[] = [];
    const events: DomainEvent[] = [];
    const unsent: DeliveryRow[] = [];
    for (const d of ds) {
      const f = finishes.get(d.id) ?? { kind: 'lost' };
      const channel = d.channel as ChannelKind;
      let o: DeliveryOutcome;
      if (f.kind === 'failover') {
        if (f.prune) await this.prune(tx, d);
        o = await this.failOver(tx, d, f.code, leaseOf(this.owner, d), now, f.suppress);
      } else if (f.kind === 'lost' || !held.has(d.id)) o = { status: 'lost-lease', channel };
      else if (f.kind === 'defer') {
        if (f.code)
          await this.audit(tx, d, 'delivery.deferred', 'success', f.code, { runAt: new Date(f.until).toISOString() });
        o = { status: 'deferred', channel };
      } else {
        await this.audit(tx, d, f.action, f.code ? 'failure' : 'success', f.code, f.details ?? {});
        if (isAnnounced(f.status)) events.push(deliveryEvent(d, f.status, now));
        o = { status: f.status, channel };
      }
      // An erasure that cancelled this delivery mid-send: no dev-outbox copy written by the send may outlive it.
      if (o.status === 'lost-lease') await tx.outbox.deleteOfErasedDelivery(d.id, 'SP_PATIENT_ERASED');
      if (!wentOut(f, o) && !(f.kind === 'failover' && o.status !== 'lost-lease')) unsent.push(d);
      out.push(o);
    }
    await this.unledger(tx, unsent);
    await announce(this.deps, tx, events);
    return out;
  }

  /** This channel is exhausted: hand over to the patient's next contact point by rank, or die. */
  private async failOver(
    tx: StoreTx,
    d: DeliveryRow,
    code: string,
    lease: Lease | undefined,
    now: number,
    suppress = false,
  ): Promise<DeliveryOutcome> {
    const { config, newId } = this.deps;
    const channel = d.channel as ChannelKind;
    const siblings = await tx.deliveries.list(d.notification_id);
    const used = new Set(siblings.map((s) => s.contact_point_id));
    const consents = await tx.consents.listForPatient(d.tenant_id, d.patient_id);
    const [n] = await tx.notifications.getMany([d.notification_id]);
    const purpose = PURPOSE_OF[(n?.type ?? 'follow_up') as NotificationType];
    // The next contact point in the patient's preferred order for this type (patient-preferences.ts), else by rank.
    const next = inPreferredOrder(
      await tx.contactPoints.list(d.tenant_id, d.patient_id),
      await tx.preferences.get(d.tenant_id, d.patient_id),
      (n?.type ?? 'follow_up') as NotificationType,
    ).find(
      (c) => !used.has(c.id) && c.opted_out_at == null && consentAllows(consents, c.system as ChannelKind, purpose),
    );
    const status = suppress ? 'suppressed' : next ? 'failed' : 'dead';
    const changed = await tx.deliveries.update(
      d.id,
      {
        status,
        failed_at: suppress ? null : now,
        last_error_code: code,
        lease_owner: null,
        lease_until: null,
        updated_at: now,
      },
      lease,
    );
    if (!changed) return { status: 'lost-lease', channel };
    await this.unledger(tx, [d]);
    let nextId: string | null = null;
    if (next) {
      const kind = next.system as ChannelKind;
      const seq = Math.max(...siblings.map((s) => s.seq)) + 1;
      const nd = newDeliveryRow(
        newId(),
        { id: d.notification_id, tenant_id: d.tenant_id, patient_id: d.patient_id, priority: d.priority },
        kind,
        next.id,
        seq,
        now,
        now,
        config.worker.maxAttempts[kind],
      );
      await tx.deliveries.insertMany([nd]);
      nextId = nd.id;
    }
    await this.audit(
      tx,
      d,
      suppress ? 'delivery.suppressed' : next ? 'delivery.failed_over' : 'delivery.dead',
      'failure',
      code,
      {
        nextDelivery: nextId,
        nextChannel: next?.system ?? null,
      },
    );
    await announce(this.deps, tx, [deliveryEvent(d, status, now)]);
    return { status, channel };
  }

  /**
   * Takes deliveries whose send did not go out out of the send ledger (delivery-policy.ts), in their
   * outcome's transaction: they no longer count for the caps nor make a later identical
   * notification a duplicate. Only removes rows, so it needs no per-patient lock: a claim that read
   * a row before it went defers or suppresses on the safe side, never lets one too many go.
   */
  private async unledger(tx: StoreTx, ds: readonly DeliveryRow[]): Promise<void> {
    for (const tenant of unique(ds.map((d) => d.tenant_id)))
      await tx.sendLedger.deleteDeliveries(
        tenant,
        ds.filter((d) => d.tenant_id === tenant).map((d) => d.id),
      );
  }

  /** Removes a push registration its service no longer knows (404/410, Unregistered), in the outcome's transaction. */
  private async prune(tx: StoreTx, d: DeliveryRow): Promise<void> {
    const c = await tx.contactPoints.get(d.contact_point_id);
    if (!c || c.system !== 'push') return;
    await tx.contactPoints.delete([c.id]);
    await tx.audit.append({
      tenantId: d.tenant_id,
      actor: `system:worker:${this.owner}`,
      at: this.deps.clock(),
      action: 'push.pruned',
      outcome: 'success',
      targetType: 'contact_point',
      targetId: c.id,
      patientRef: patientRef(this.deps, d.tenant_id, d.patient_id),
      details: { delivery: d.id, errorCode: 'SP_CHANNEL_RECIPIENT_GONE' },
    });
  }

  private audit(
    tx: StoreTx,
    d: DeliveryRow,
    action: string,
    outcome: 'success' | 'failure',
    code: string | undefined,
    details: Record<string, string | number | null>,
  ) {
    return tx.audit.append({
      tenantId: d.tenant_id,
      actor: `system:worker:${this.owner}`,
      at: this.deps.clock(),
      action,
      outcome,
      targetType: 'delivery',
      targetId: d.id,
      patientRef: patientRef(this.deps, d.tenant_id, d.patient_id),
      details: {
        notification: d.notification_id,
        channel: d.channel,
        ...(code ? { errorCode: code } : {}),
        ...details,
      },
    });
  }
}

const unique = <T>(xs: T[]): T[] => [...new Set(xs)];
/**
 * Whether a delivery keeps its send-ledger row: its nudge went out (sent, delivered, or inside its
 * lead's digest), or it is in flight with a retry pending after a retryable provider error (counted
 * once: the retry keeps that row). A lost lease keeps it only when this worker's send went out.
 */
function wentOut(f: Finish, o: DeliveryOutcome): boolean {
  if (o.status === 'sent' || o.status === 'delivered' || o.status === 'retry') return true;
  return o.status === 'lost-lease' && f.kind === 'status' && (f.status === 'sent' || f.status === 'delivered');
}
/**
 * A digest member's outcome, after its lead's send: `sent` with the lead's time (provider `digest`,
 * the lead's id as message id, SP_DELIVERY_DIGESTED as reason) when the lead's nudge left; otherwise
 * back to the queue a minute later, decided again on its own.
 */
function digested(lead: DeliveryRow, f: Finish | undefined, now: number): Finish {
  if (f?.kind === 'status' && (f.status === 'sent' || f.status === 'delivered'))
    return {
      kind: 'status',
      status: 'sent',
      set: {
        sent_at: f.set.sent_at ?? null,
        delivered_at: null,
        provider: 'digest',
        provider_message_id: lead.id,
        last_error_code: 'SP_DELIVERY_DIGESTED',
      },
      action: 'delivery.sent',
      details: { provider: 'digest', digestOf: lead.id },
    };
  return { kind: 'defer', until: now + 60_000, code: 'SP_DELIVERY_DIGESTED' };
}
const deliveryEvent = (d: DeliveryRow, status: AnnouncedDeliveryStatus, at: number): DomainEvent => ({
  kind: 'delivery.status',
  tenantId: d.tenant_id,
  patientId: d.patient_id,
  deliveryId: d.id,
  notificationId: d.notification_id,
  status,
  channel: d.channel,
  at,
});
/** The lease a delivery was claimed under (every job of one claim shares it). */
const leaseOf = (owner: string, d: DeliveryRow): Lease => ({ owner, until: Number(d.lease_until) });
const linkRef = (d: DeliveryRow) => ({ tenantId: d.tenant_id, table: 'deliveries', rowId: d.id, field: 'link' });
