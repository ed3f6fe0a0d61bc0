import type { Store, StoreTx } from '../store/store.js';
import type { Channel } from '../channels/channel.js';
import { audit, patientDataKey, patientRef, type CoreDeps } from '../core/context.js';
import { deferPastQuietHours } from '../core/time-policy.js';
import { parseQuietHours } from '../config/time-settings.js';
import { samePerson, type ConversationReader, type DeviceDirectory, type Person } from './messaging-types.js';

export interface MessageNudgeOptions {
  core: CoreDeps;
  reader: ConversationReader;
  devices: DeviceDirectory;
  channels: { email?: Channel; sms?: Channel };
  organisationName: string;
  publicUrl: string;
  /** How long a device has to acknowledge an event before its person counts as offline. */
  delayMs: number;
  /** At most one nudge per person and conversation in this window (15 minutes). */
  windowMs: number;
  timeoutMs: number;
  /** Codes only; never content. */
  onError: (e: unknown) => void;
}

const SYSTEM = 'system:messaging';

/** The nudge's text: the same for every message and every person, so it can carry nothing. */
export function nudgeText(organisationName: string, link: string): { subject: string; text: string } {
  return {
    subject: 'New secure message',
    text: `${organisationName}: you have a new secure message. Sign in to read it: ${link}`,
  };
}

/**
 * PHI-free nudges of people who did not get an application message live. "Offline" is decided from
 * the database, the same for every node, with no presence bookkeeping: `delayMs` after the node that
 * accepted a message published it, a person none of whose member devices acknowledged it (live
 * clients ack at once, through the WebSocket or POST …/cursor) is nudged. Only the publishing node
 * looks, so one look per message; "at most one per person per conversation per window" is an atomic
 * counter in the database (the sign-in throttle's table), so two nodes never both nudge.
 * A node that stops during the delay loses that look (a nudge is a courtesy; the message waits).
 */
export class MessageNudges {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly o: MessageNudgeOptions) {}

  /** The hub's `onPublished`: looks again after the delay. */
  published(tenantId: string, conversationId: string, seq: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      const p = this.check(tenantId, conversationId, seq).then(
        () => undefined,
        (e: unknown) => this.o.onError(e),
      );
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }, this.o.delayMs);
    t.unref();
    this.timers.add(t);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Nudges the people who have not received event `seq`, when it is an application message. */
  async check(tenantId: string, conversationId: string, seq: number): Promise<number> {
    const { reader, devices } = this.o;
    const read = this.o.core.store.read;
    const members = await reader.memberDevices(tenantId, conversationId);
    let event = null;
    for (const d of members) {
      const [e] = await reader.eventsFor(tenantId, conversationId, d, seq - 1, 1);
      if (e?.seq === seq) {
        event = e;
        break;
      }
    }
    if (!event || event.kind !== 'application') return 0;
    const sender = 'deviceId' in event.sender ? await devices.device(read, tenantId, event.sender.deviceId) : null;
    const people = new Map<string, { person: Person; devices: string[] }>();
    for (const d of members) {
      const dev = await devices.device(read, tenantId, d);
      if (!dev || dev.status !== 'active' || (sender && samePerson(dev.person, sender.person))) continue;
      const key = `${dev.person.kind}:${dev.person.id}`;
      const entry = people.get(key) ?? { person: dev.person, devices: [] };
      entry.devices.push(d);
      people.set(key, entry);
    }
    let sent = 0;
    for (const { person, devices: ds } of people.values()) {
      let received = false;
      for (const d of ds) {
        const c = (await reader.conversationsOf(tenantId, d)).find((x) => x.conversationId === conversationId);
        if (c && c.cursor >= seq) received = true;
      }
      if (!received && (await this.nudge(tenantId, conversationId, person, event.urgent))) sent++;
    }
    return sent;
  }

  private async nudge(tenantId: string, conversationId: string, person: Person, urgent: boolean): Promise<boolean> {
    const { store, clock, newId } = this.o.core;
    const at = clock();
    const id = newId();
    const plan = await store.transaction(async (tx) => {
      const key = `message-nudge:${tenantId}:${person.kind}:${person.id}:${conversationId}`;
      if ((await tx.patientAccounts.throttleHit(key, at.getTime(), this.o.windowMs)) > 1) return null;
      const target = await this.contact(tx, tenantId, person, at, urgent);
      await audit(tx, { tenantId, actor: SYSTEM }, at, {
        action: target.to ? 'message.nudge_sent' : 'message.nudge_skipped',
        targetType: 'conversation',
        targetId: conversationId,
        patientRef: target.patientRef,
        details: {
          nudge: id,
          personKind: person.kind,
          personId: person.id,
          ...(target.to ? { channel: target.channel } : { reason: target.reason ?? 'no_contact' }),
        },
      });
      return target.to ? target : null;
    });
    await store.durable();
    if (!plan?.to || !plan.channel) return false;
    const link =
      person.kind === 'patient'
        ? `${this.o.publicUrl.replace(/\/+$/, '')}/portal/inbox`
        : `${this.o.publicUrl.replace(/\/+$/, '')}/`;
    const { subject, text } = nudgeText(this.o.organisationName, link);
    await this.o.channels[plan.channel]!.send(
      {
        deliveryId: `mnudge-${id}`,
        notificationId: `mnudge-${id}`,
        tenantId,
        channel: plan.channel,
        to: plan.to,
        subject,
        text,
        link,
      },
      AbortSignal.timeout(this.o.timeoutMs),
    );
    return true;
  }

  /** Where a person is nudged: a staff user's first e-mail or SMS contact, else their account e-mail; a patient account's sign-in contact. */
  private async contact(
    tx: StoreTx,
    tenantId: string,
    person: Person,
    at: Date,
    urgent: boolean,
  ): Promise<{
    to: string | null;
    channel: 'email' | 'sms' | null;
    patientRef: string | null;
    reason?: string;
  }> {
    const usable = (ch: string): ch is 'email' | 'sms' => (ch === 'email' || ch === 'sms') && !!this.o.channels[ch];
    if (person.kind === 'user') {
      const [settings] = await tx.alertNotifications.settingsOf(tenantId, [person.id]);
      const quiet =
        settings &&
        ((settings.dnd_until !== null && settings.dnd_until > at.getTime()) ||
          (settings.quiet_hours !== null &&
            deferPastQuietHours(at, settings.time_zone, parseQuietHours(settings.quiet_hours)) !== at));
      // Quiet hours and do-not-disturb hold back all but urgent messages (the inbox keeps them).
      if (quiet && !urgent) return { to: null, channel: null, patientRef: null, reason: 'quiet' };
      const c = (await tx.alertNotifications.contactsOf(tenantId, [person.id])).find((x) => usable(x.kind));
      if (c) return { to: c.value, channel: c.kind as 'email' | 'sms', patientRef: null };
      const u = await tx.users.byId(tenantId, person.id);
      if (u && u.status === 'active' && usable('email')) return { to: u.email, channel: 'email', patientRef: null };
      return { to: null, channel: null, patientRef: null, reason: 'no_contact' };
    }
    const a = await tx.patientAccounts.byId(tenantId, person.id);
    if (!a || a.status !== 'active') return { to: null, channel: null, patientRef: null, reason: 'no_account' };
    const ref = patientRef(this.o.core, tenantId, a.patient_id);
    const key = await patientDataKey(this.o.core, tx, tenantId, a.patient_id);
    if (!key || !usable(a.contact_system)) return { to: null, channel: null, patientRef: ref, reason: 'no_contact' };
    const to = this.o.core.cipher.decrypt(
      key,
      { tenantId, table: 'patient_accounts', rowId: a.id, field: 'contact' },
      a.contact_ct,
    );
    return { to, channel: a.contact_system, patientRef: ref };
  }
}
