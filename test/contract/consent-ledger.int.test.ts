import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { ConsentService, consentAllows } from '../../src/core/consent-service.js';
import { DeliveryProcessor } from '../../src/core/delivery-processor.js';
import { SmsAnswer } from '../../src/core/sms-answer.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps } from '../../src/core/context.js';
import type { Channel, OutboundMessage, SendResult } from '../../src/channels/channel.js';
import { CHANNEL_KINDS, type ChannelKind } from '../../src/core/domain.js';
import type { Store } from '../../src/store/store.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sample-patient.js';

const ctx = { tenantId: 'default', actor: 'test' };
const PHONE = '+14155552671';
const PHI = 'PHIMARK-consent-race';

/** Is SMS closed for the patient right now, as any other connection sees it (ledger deny or number opted out)? */
async function smsClosed(store: Store, patientId: string): Promise<boolean> {
  const rows = await store.read.consents.listForPatient('default', patientId);
  const contacts = await store.read.contactPoints.list('default', patientId);
  return (
    !consentAllows(rows, 'sms', 'care_messages') || contacts.some((c) => c.system === 'sms' && c.opted_out_at != null)
  );
}

/**
 * A channel that, at the start and at the end of every call, asks a separate connection whether the
 * patient's SMS is already closed: a call that sees it closed is a message sent after the STOP committed.
 * `hold` lets a test keep a call in flight; `ticks` interleaves calls with other work without any timing.
 */
class WatchingChannel implements Channel {
  readonly provider = 'watch';
  readonly sent: OutboundMessage[] = [];
  readonly answers: OutboundMessage[] = [];
  readonly violations: string[] = [];
  hold: Promise<void> | null = null;
  entered: ((m: OutboundMessage) => void) | null = null;
  /** Keeps the call to `to` in flight until the racing STOP has either committed or is seen waiting. */
  until: { to: string; settled: () => Promise<void> } | null = null;
  ticks = 0;
  constructor(
    readonly kind: ChannelKind,
    private readonly store: () => Store,
    private readonly patientOf: (to: string) => string,
  ) {}

  async send(m: OutboundMessage): Promise<SendResult> {
    // Keyword answers (SmsAnswer: no portal link) are texts about the STOP itself: recorded, not watched.
    if (!m.link) {
      this.answers.push(m);
      return { status: 'delivered' };
    }
    const p = this.patientOf(m.to);
    if (await smsClosed(this.store(), p)) this.violations.push(`${m.deliveryId}: started after the STOP`);
    this.entered?.(m);
    if (this.hold) await this.hold;
    if (this.until && m.to === this.until.to) await this.until.settled();
    for (let i = 0; i < this.ticks; i++) await new Promise((r) => setImmediate(r));
    if (await smsClosed(this.store(), p)) this.violations.push(`${m.deliveryId}: the STOP committed while sending`);
    this.sent.push(m);
    return { status: 'delivered' };
  }
}

async function setup(fresh: ReturnType<typeof freshDatabases>, backend: string) {
  const db = await fresh({ prefix: 'sealpost-consent-', migrated: true });
  const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_ORGANISATION_NAME: 'Clinic' });
  const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
  const store = await migratedStore(db);
  // PostgreSQL: the STOP comes in on another node (its own pool), as it would behind a load balancer.
  const other = backend === 'postgres' ? await migratedStore(db) : store;
  const cipher = new EnvelopeCipher(keyring);
  const deps = (s: Store): CoreDeps => ({
    config,
    store: s,
    cipher,
    templates: TemplateRegistry.load(),
    clock: () => new Date(),
    newId: uuidv7,
    wake: () => {},
  });
  const worker = deps(store);
  await store.read.tenants.ensure('default', 'x', Date.now());
  const patients = new PatientService(worker);
  await patients.upsert(ctx, 'p1', samplePatient() as never);
  await patients.upsert(ctx, 'p2', samplePatient({ telecom: [{ system: 'sms', value: '+14155552672' }] }) as never);
  const patientOf = (to: string) => (to === PHONE ? 'p1' : 'p2');
  const channels = Object.fromEntries(
    CHANNEL_KINDS.map((k) => [k, new WatchingChannel(k, () => store, patientOf)]),
  ) as Record<ChannelKind, WatchingChannel>;
  const answer = new SmsAnswer({ sms: channels.sms, newId: uuidv7, timeoutMs: 5_000 });
  return {
    db,
    store,
    other,
    worker,
    channels,
    notifications: new NotificationService(worker),
    processor: new DeliveryProcessor(worker, channels, 'w1'),
    consents: new ConsentService(worker, { answer }),
    // The STOP's side: the other node's store.
    inbound: new ConsentService(deps(other), { answer }),
    close: async () => {
      if (other !== store) await other.close();
      await store.close();
    },
  };
}

type Fixture = Awaited<ReturnType<typeof setup>>;

const followUp = (patientId = 'p1') => ({
  type: 'follow_up' as const,
  patientId,
  priority: 'urgent' as const,
  channels: ['sms' as const],
  data: { reason: `Knee review ${PHI}`, dueDate: '2030-02-01' },
});

/**
 * Until the STOP racing a send has committed (SMS closed) or waits on a lock: PostgreSQL shows the
 * waiting advisory lock; on one SQLite node the STOP is given 200 turns of the event loop to run through.
 */
async function stopSettled(f: Fixture, backend: string): Promise<void> {
  if (backend === 'sqlite') {
    for (let k = 0; k < 200 && !(await smsClosed(f.store, 'p1')); k++) await new Promise((r) => setImmediate(r));
    return;
  }
  for (;;) {
    const waiting = await f.db.query<{ n: number }>(
      "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted",
    );
    if (waiting[0]!.n > 0 || (await smsClosed(f.store, 'p1'))) return;
    await new Promise((r) => setImmediate(r));
  }
}

const claimAndFinish = async (f: Fixture) => (await f.processor.claim(10, Date.now(), Date.now() + 60_000)).finish();

describeEachBackend('consent ledger', (backend) => {
  const fresh = freshDatabases(backend);

  it('stores purpose, source and actor; lists, deletes per patient; keeps keyword settings per tenant', async () => {
    const f = await setup(fresh, backend);
    try {
      const a = await f.consents.record(
        { ...ctx, actor: 'user:u1' },
        { patientId: 'p1', channel: 'sms', purpose: 'billing', decision: 'deny', source: 'staff' },
      );
      expect(a).toMatchObject({
        channel: 'sms',
        purpose: 'billing',
        source: 'staff',
        recordedBy: 'user:u1',
        active: true,
      });
      await f.consents.record(ctx, { patientId: 'p1', channel: '*', decision: 'permit', source: 'api' });
      await f.consents.record(ctx, { patientId: 'p2', channel: 'email', decision: 'deny', source: 'portal' });
      const view = await f.consents.view(ctx, 'p1');
      expect(view.history.map((r) => [r.purpose, r.active])).toEqual([
        ['*', true],
        ['billing', false],
      ]);
      expect(view.state.find((s) => s.channel === 'sms' && s.purpose === 'billing')).toMatchObject({
        decision: 'permit',
        source: 'api',
      });
      expect(await f.store.read.consents.deleteForPatient('default', 'p1')).toBe(2);
      expect(await f.store.read.consents.listForPatient('default', 'p1')).toEqual([]);
      expect(await f.store.read.consents.listForPatient('default', 'p2')).toHaveLength(1);

      const bidx = f.store.read.contactPoints;
      expect((await bidx.list('default', 'p1')).map((c) => c.system)).toEqual(['sms', 'email']);
      const s = await f.consents.keywordSettings('default');
      expect(s.keywords.opt_out.en).toContain('STOP');
      const changed = {
        ...s,
        keywords: { ...s.keywords, opt_out: { ...s.keywords.opt_out, en: [...s.keywords.opt_out.en, 'halt'] } },
      };
      await f.consents.setKeywordSettings(ctx, changed);
      expect(await f.consents.isKeyword('default', 'Halt!')).toBe(true);
      expect(await f.consents.isKeyword('default', 'C')).toBe(false);
      // A second write replaces the first (upsert on both backends).
      await f.consents.setKeywordSettings(ctx, s);
      expect(await f.consents.isKeyword('default', 'HALT')).toBe(false);
      // A keyword may not take over one of the tenant's appointment reply codes; nothing changes.
      await f.store.read.patientReplies.putCodes({
        tenant_id: 'default',
        confirm_code: 'OK',
        decline_code: 'NO',
        updated_by: 'test',
        updated_at: Date.now(),
      });
      const taking = {
        ...s,
        keywords: { ...s.keywords, opt_in: { ...s.keywords.opt_in, en: [...s.keywords.opt_in.en, 'ok'] } },
      };
      await expect(f.consents.setKeywordSettings(ctx, taking)).rejects.toMatchObject({
        code: 'SP_CONSENT_KEYWORDS_INVALID',
      });
      expect(await f.consents.isKeyword('default', 'OK')).toBe(false);
    } finally {
      await f.close();
    }
  });

  it('STOP from a number revokes SMS for every purpose of each patient at it, answers once, PHI-free', async () => {
    const f = await setup(fresh, backend);
    try {
      // A family number: a second patient shares p1's phone; the STOP speaks for both.
      await new PatientService(f.worker).upsert(
        ctx,
        'p3',
        samplePatient({ telecom: [{ system: 'sms', value: PHONE }] }) as never,
      );
      expect(await f.inbound.inboundSms(ctx, PHONE, ' opt-Out ')).toBe('opted_out');
      expect((await f.consents.view(ctx, 'p3')).history).toMatchObject([{ channel: 'sms', decision: 'deny' }]);
      expect((await f.consents.view(ctx, 'p2')).history).toEqual([]);
      expect(await f.inbound.inboundSms(ctx, PHONE, 'STOP')).toBe('opted_out');
      const view = await f.consents.view(ctx, 'p1');
      expect(view.state.filter((s) => s.channel === 'sms').every((s) => s.decision === 'deny')).toBe(true);
      expect(view.state.filter((s) => s.channel === 'email').every((s) => s.decision === 'permit')).toBe(true);
      expect(view.history).toMatchObject([{ channel: 'sms', purpose: '*', decision: 'deny', source: 'sms_keyword' }]);
      // One confirmation for the change; the repeated STOP changed nothing and is not answered.
      expect(f.channels.sms.answers.map((m) => m.to)).toEqual([PHONE]);
      expect(f.channels.sms.answers[0]!.text).toMatch(/^Clinic: .*START/);
      expect(f.channels.sms.answers[0]!.text).not.toMatch(/PHIMARK|Ana|Lopez/);
      // The e-mail contact point still takes the patient's notifications.
      const created = await f.notifications.create(ctx, { ...followUp(), channels: undefined } as never);
      expect(created.body.deliveries.map((d: { channel: string }) => d.channel)).toEqual(['email']);
      expect(await f.inbound.inboundSms(ctx, PHONE, 'Alto')).toBe('opted_out');
      expect(await f.inbound.inboundSms(ctx, PHONE, 'unstop')).toBe('opted_in');
      expect(f.channels.sms.answers).toHaveLength(2);
      expect(f.channels.sms.answers[1]!.text).toMatch(/again/);
      expect(await f.inbound.inboundSms(ctx, PHONE, 'ayuda')).toBe('help');
      expect(f.channels.sms.answers[2]!.text).toMatch(/^Clinic: .*ALTO/);
      expect(await f.inbound.inboundSms(ctx, PHONE, 'see you then')).toBe('ignored');
      expect(f.channels.sms.answers).toHaveLength(3);
    } finally {
      await f.close();
    }
  });

  it('a STOP committed while an SMS is in flight waits for it; every later send is suppressed', async () => {
    const f = await setup(fresh, backend);
    try {
      await f.notifications.create(ctx, followUp());
      let release!: () => void;
      f.channels.sms.hold = new Promise((r) => (release = r));
      const inFlight = new Promise<void>((r) => (f.channels.sms.entered = () => r()));
      const batch = claimAndFinish(f);
      await inFlight;
      // The send is in the channel now; the STOP arrives on the other node.
      let stopped = false;
      const stop = f.inbound.inboundSms(ctx, PHONE, 'STOP').then((r) => ((stopped = true), r));
      if (backend === 'sqlite') {
        // One node: give the STOP every chance to run through; it cannot pass the send lock.
        for (let k = 0; k < 200; k++) await new Promise((r) => setImmediate(r));
      } else {
        // The STOP's transaction waits on the patient's send lock (PostgreSQL shows the waiting lock).
        for (;;) {
          const waiting = await f.db.query<{ n: number }>(
            "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted",
          );
          if (waiting[0]!.n > 0) break;
          await new Promise((r) => setImmediate(r));
        }
      }
      expect(stopped).toBe(false);
      expect(await smsClosed(f.store, 'p1')).toBe(false);
      f.channels.sms.hold = null;
      release();
      expect(await batch).toMatchObject([{ status: 'delivered', channel: 'sms' }]);
      expect(await stop).toBe('opted_out');
      // The confirmation went out after the message, never before it.
      expect(f.channels.sms.sent).toHaveLength(1);
      expect(f.channels.sms.answers).toHaveLength(1);

      // A notification created before the STOP, sent after it: suppressed, with the reason.
      // (Only a START from the number lifts its STOP: a permit recorded elsewhere does not.)
      await f.consents.record(ctx, { patientId: 'p1', channel: 'sms', decision: 'permit', source: 'api' });
      expect(await smsClosed(f.store, 'p1')).toBe(true);
      expect(await f.inbound.inboundSms(ctx, PHONE, 'START')).toBe('opted_in');
      expect(await smsClosed(f.store, 'p1')).toBe(false);
      const created = await f.notifications.create(ctx, followUp());
      await f.inbound.inboundSms(ctx, PHONE, 'STOP');
      const outcomes = await claimAndFinish(f);
      expect(outcomes[0]).toEqual({ status: 'suppressed', channel: 'sms' });
      const d = await f.store.read.deliveries.list(created.body.id);
      expect(d[0]).toMatchObject({ status: 'suppressed', last_error_code: 'SP_CONSENT_DENIED' });
      expect(f.channels.sms.sent).toHaveLength(1);
      expect(f.channels.sms.violations).toEqual([]);
    } finally {
      await f.close();
    }
  });

  it('race: STOPs and sends interleaved many ways, nothing goes out after a STOP committed', async () => {
    const f = await setup(fresh, backend);
    try {
      const p1 = { sent: 0, suppressed: 0 };
      for (let i = 0; i < 24; i++) {
        // START (on the other node) reopens SMS; one notification per patient; a STOP from p1's number races the sends.
        await f.inbound.inboundSms(ctx, PHONE, 'START');
        await f.notifications.create(ctx, followUp('p1'));
        await f.notifications.create(ctx, followUp('p2'));
        f.channels.sms.ticks = i % 4;
        const word = i % 2 ? 'stop' : 'Opt Out';
        let stop: Promise<unknown> = Promise.resolve();
        const variant = i % 3;
        if (variant === 0) {
          // The STOP commits first: the send must see it.
          await f.inbound.inboundSms(ctx, PHONE, word);
        } else if (variant === 1) {
          // The STOP arrives while p1's message is inside the channel call.
          f.channels.sms.entered = (m) => {
            if (m.to === PHONE) stop = f.inbound.inboundSms(ctx, PHONE, word);
          };
          f.channels.sms.until = { to: PHONE, settled: () => stopSettled(f, backend) };
        } else {
          // The STOP starts a few turns into the claim: either may win.
          stop = (async () => {
            for (let k = 0; k < i % 7; k++) await new Promise((r) => setImmediate(r));
            return f.inbound.inboundSms(ctx, PHONE, word);
          })();
        }
        const outcomes = (await claimAndFinish(f)).filter((o) => o.channel === 'sms');
        await stop;
        f.channels.sms.entered = null;
        f.channels.sms.until = null;
        expect(outcomes).toHaveLength(2);
        p1.suppressed += outcomes.filter((o) => o.status === 'suppressed').length;
        p1.sent += outcomes.filter((o) => o.status === 'delivered').length - 1;
        expect(await smsClosed(f.store, 'p1')).toBe(true);
      }
      // No call started, or was still running, once a STOP had committed.
      expect(f.channels.sms.violations).toEqual([]);
      expect(f.channels.sms.sent.filter((m) => m.to !== PHONE)).toHaveLength(24);
      expect(p1.sent + p1.suppressed).toBe(24);
      expect(f.channels.sms.sent.filter((m) => m.to === PHONE)).toHaveLength(p1.sent);
      // Both sides of the race happened: each STOP-first round suppressed, each in-flight round sent.
      expect(p1.suppressed).toBeGreaterThanOrEqual(8);
      expect(p1.sent).toBeGreaterThanOrEqual(8);
      for (const m of f.channels.sms.answers) expect(m.text).not.toContain('PHIMARK');
    } finally {
      await f.close();
    }
  });
});
