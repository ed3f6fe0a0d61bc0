import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { AppointmentService } from '../../src/core/appointment-service.js';
import { ConsentService } from '../../src/core/consent-service.js';
import { SmsAnswer } from '../../src/core/sms-answer.js';
import {
  ACKNOWLEDGEMENTS,
  PatientReplies,
  ReplyQuestionBinder,
  replyAddressRef,
} from '../../src/core/patient-replies.js';
import { loadConfig } from '../../src/config/load-config.js';
import { EventWebhookWorker, PARKED } from '../../src/core/event-webhooks.js';
import { EventWebhookSender } from '../../src/channels/webhook/event-webhook-sender.js';
import type { CoreDeps } from '../../src/core/context.js';
import type { Channel, OutboundMessage } from '../../src/channels/channel.js';
import type { DomainEvent } from '../../src/core/events.js';
import type { Store, StoreTx } from '../../src/store/store.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

const ctx = { tenantId: 'default', actor: 'provider:twilio' };
const PHONE = '+14155552671';
const DAY = 86_400_000;
/** PHI of the patient and the appointment: none may appear in an answer text or a queued event. */
const PHI = ['Ana', 'Lopez', '1980', 'Clinic Room 7', 'Dr Who', 'fasting', '4155552671', 'ana@example.com'];

/** `store` whose transactions fail when `repo.method` is called (the audit append, for instance). */
function failingOn(store: Store, path: `${keyof StoreTx & string}.${string}`): Store {
  const [repo, method] = path.split('.');
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
      return <T>(fn: (tx: StoreTx) => Promise<T>) =>
        target.transaction((tx) =>
          fn(
            new Proxy(tx, {
              get(t, p, r) {
                const v = Reflect.get(t, p, r);
                if (p !== repo) return v;
                return new Proxy(v, {
                  get(rt, rp) {
                    if (rp === method) return async () => Promise.reject(new Error(`injected failure in ${path}`));
                    const f = Reflect.get(rt, rp);
                    return typeof f === 'function' ? f.bind(rt) : f;
                  },
                });
              },
            }),
          ),
        );
    },
  });
}

async function setup(fresh: ReturnType<typeof freshDatabases>) {
  const db = await fresh({ prefix: 'sealpost-replies-', migrated: true });
  const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_ORGANISATION_NAME: 'Sealpost Clinic' });
  const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
  const store = await migratedStore(db);
  let now = Date.now();
  const events: DomainEvent[] = [];
  const deps: CoreDeps = {
    config,
    store,
    cipher: new EnvelopeCipher(keyring),
    templates: TemplateRegistry.load(),
    clock: () => new Date(now),
    newId: uuidv7,
    wake: () => {},
    events: {
      async record(_tx, es) {
        events.push(...es);
      },
    },
  };
  await store.read.tenants.ensure('default', 'x', Date.now());
  const sent: OutboundMessage[] = [];
  const sms: Channel = {
    kind: 'sms',
    provider: 'test',
    async send(m) {
      sent.push(m);
      return { status: 'sent' };
    },
  } as Channel;
  const consent = new ConsentService(deps);
  const mk = (d: CoreDeps) =>
    new PatientReplies(d, {
      answer: new SmsAnswer({ sms, newId: uuidv7, timeoutMs: 1000 }),
      isKeyword: (t, w) => consent.isKeyword(t, w),
      helpText: (t, l) => consent.helpText(t, l),
      eventWebhook: true,
      wakeEventWebhook: () => {},
    });
  const patients = new PatientService(deps);
  const notifications = new NotificationService(deps);
  const appointments = new AppointmentService(deps, notifications);
  await patients.upsert(ctx, 'p1', samplePatient() as never);
  const book = async (id: string, startMs: number, patientId = 'p1') =>
    appointments.upsert(ctx, id, {
      patientId,
      start: new Date(startMs).toISOString(),
      location: 'Clinic Room 7',
      clinicianName: 'Dr Who',
      instructions: 'fasting',
    });
  /** What the delivery worker announces when an appointment's first SMS reminder went out. */
  const sendReminder = async (appointmentId: string) => {
    const [n] = await store.read.notifications.listForAppointment('default', appointmentId);
    const d = (await store.read.deliveries.list(n.id)).find((x) => x.channel === 'sms')!;
    await store.transaction((tx) =>
      new ReplyQuestionBinder(deps).record(tx, [
        {
          kind: 'delivery.status',
          tenantId: 'default',
          patientId: d.patient_id,
          deliveryId: d.id,
          notificationId: n.id,
          status: 'sent',
          channel: 'sms',
          at: now,
        },
      ]),
    );
    now += 1;
  };
  return {
    db,
    store,
    deps,
    replies: mk(deps),
    mk,
    sent,
    events,
    book,
    sendReminder,
    appointments,
    patients,
    advance: (ms: number) => void (now += ms),
  };
}

function expectNoPhi(text: string) {
  for (const m of PHI) expect(text).not.toContain(m);
}

describeEachBackend('two-way SMS replies', (backend) => {
  const fresh = freshDatabases(backend);

  it('a reply code confirms the appointment the last reminder asked about: audited, announced, queued for the EHR, acknowledged without PHI', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    // The sent and then delivered event of one delivery bind one question.
    await t.sendReminder('a1');
    expect(await t.replies.handle(ctx, PHONE, ' c. ')).toBe('confirmed');
    const a = await t.appointments.get(ctx, 'a1');
    expect(a.patientResponse).toMatchObject({ response: 'confirmed', channel: 'sms' });
    expect(t.events.filter((e) => e.kind === 'appointment.response')).toEqual([
      expect.objectContaining({ appointmentId: 'a1', patientId: 'p1', response: 'confirmed', channel: 'sms' }),
    ]);
    const [ev] = await t.store.read.patientReplies.claimEvents('n1', Date.now() + 10 * DAY, Date.now() + 11 * DAY, 10);
    expect(JSON.parse(ev.payload)).toMatchObject({
      type: 'appointment.response',
      tenantId: 'default',
      data: { appointmentId: 'a1', response: 'confirmed', channel: 'sms' },
    });
    expectNoPhi(ev.payload);
    expect(t.sent.map((m) => [m.to, m.text])).toEqual([[PHONE, ACKNOWLEDGEMENTS.en.confirmed]]);
    for (const m of t.sent) expectNoPhi(m.text);

    // The same answer again changes nothing more (no second event); a changed mind does.
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    expect(t.events.filter((e) => e.kind === 'appointment.response')).toHaveLength(1);
    expect(await t.replies.handle(ctx, PHONE, 'n')).toBe('declined');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse?.response).toBe('declined');
    expect(t.events.filter((e) => e.kind === 'appointment.response')).toHaveLength(2);
    expect(t.sent.at(-1)!.text).toBe(ACKNOWLEDGEMENTS.en.declined);
    await t.store.close();
  });

  it('writes nothing when the audit entry fails: the answer, its event and the question stay as they were', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    const broken = t.mk({ ...t.deps, store: failingOn(t.store, 'audit.append') });
    await expect(broken.handle(ctx, PHONE, 'C')).rejects.toThrow('injected failure');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse).toBeNull();
    expect(
      await t.store.read.patientReplies.claimEvents('n1', Date.now() + 10 * DAY, Date.now() + 11 * DAY, 10),
    ).toEqual([]);
    const [q] = await t.store.read.patientReplies.latestQuestions(
      'default',
      [replyAddressRef(t.deps, 'default', PHONE)],
      5,
    );
    expect(q).toMatchObject({ appointment_id: 'a1', answered_at: null, answer: null });
    expect(t.sent).toEqual([]);
    await t.store.close();
  });

  it('binds no question to a reminder carried inside the digest nudge of another reminder: the text asked about the lead only', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 5 * DAY);
    await t.book('a2', Date.now() + 3 * DAY);
    // a2's reminder went out inside a1's digest nudge (the worker records it as sent by provider `digest`).
    const [n2] = await t.store.read.notifications.listForAppointment('default', 'a2');
    const d2 = (await t.store.read.deliveries.list(n2!.id)).find((x) => x.channel === 'sms')!;
    const sql = 'update deliveries set provider = ? where id = ?';
    await t.db.query(t.store.backend === 'postgres' ? 'update deliveries set provider = $1 where id = $2' : sql, [
      'digest',
      d2.id,
    ]);
    // Recorded after the lead's: were it bound, it would be the newest question.
    await t.sendReminder('a1');
    await t.sendReminder('a2');
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse?.response).toBe('confirmed');
    expect((await t.appointments.get(ctx, 'a2')).patientResponse).toBeNull();
    await t.store.close();
  });

  it('binds to the newest open question: a cancelled or passed appointment is no longer answered', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 5 * DAY);
    await t.book('a2', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    await t.sendReminder('a2');
    // The newest question is a2's.
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    expect((await t.appointments.get(ctx, 'a2')).patientResponse?.response).toBe('confirmed');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse).toBeNull();
    // a2 cancelled: the reply goes to the newest question still open, a1's.
    await t.appointments.remove(ctx, 'a2');
    expect(await t.replies.handle(ctx, PHONE, 'N')).toBe('declined');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse?.response).toBe('declined');
    expect((await t.appointments.get(ctx, 'a2')).patientResponse?.response).toBe('confirmed');
    // Both passed: a code changes nothing and says so, without PHI.
    t.advance(6 * DAY);
    const before = t.events.length;
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('no_open_question');
    expect(t.events.length).toBe(before);
    expect((await t.appointments.get(ctx, 'a1')).patientResponse?.response).toBe('declined');
    expect(t.sent.at(-1)!.text).toBe(
      'No appointment is waiting for your answer. Please contact Sealpost Clinic directly.',
    );
    await t.store.close();
  });

  it('a moved appointment forgets the earlier answer', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    await t.book('a1', Date.now() + 4 * DAY);
    expect((await t.appointments.get(ctx, 'a1')).patientResponse).toBeNull();
    await t.store.close();
  });

  it('a code from a number nobody asked, or no code at all, is not a reply', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    expect(await t.replies.handle(ctx, '+14155550199', 'C')).toBe('ignored');
    expect(await t.replies.handle(ctx, 'not a number', 'C')).toBe('ignored');
    expect(await t.replies.handle(ctx, PHONE, 'Can I come at 5?')).toBe('ignored');
    expect(await t.replies.handle(ctx, PHONE, '1')).toBe('ignored');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse).toBeNull();
    expect(t.sent).toEqual([]);
    await t.store.close();
  });

  it('keeps unrecognised texts sealed per patient of the number (a shared phone: one copy each) and answers HELP once a day', async () => {
    const t = await setup(fresh);
    await t.patients.upsert(ctx, 'p2', samplePatient({ name: { given: ['Bea'], family: 'Lopez' } }) as never);
    const r = await t.replies.unrecognised(ctx, PHONE, 'I have a fever, should I still come?');
    expect(r).toEqual({ stored: 2, helped: true });
    for (const p of ['p1', 'p2']) {
      const [m] = await t.replies.listInbound(ctx, p, 10);
      expect(m).toMatchObject({
        patientId: p,
        channel: 'sms',
        body: 'I have a fever, should I still come?',
        sharedNumber: true,
      });
    }
    // Sealed at rest: the stored bytes do not hold the text.
    const [row] = await t.store.read.patientReplies.listInbound('default', 'p1', 1);
    expect(Buffer.from(row.body_ct).toString('utf8')).not.toContain('fever');
    expect(row.address_ref).not.toContain('4155552671');
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0].to).toBe(PHONE);
    expectNoPhi(t.sent[0].text);
    expect(t.sent[0].text).toBe(await new ConsentService(t.deps).helpText('default', 'en'));
    // The same day: kept, not answered again; the next day: answered again.
    expect(await t.replies.unrecognised(ctx, PHONE, 'hello?')).toEqual({ stored: 2, helped: false });
    t.advance(DAY + 1);
    expect(await t.replies.unrecognised(ctx, PHONE, 'hello??')).toEqual({ stored: 2, helped: true });
    expect((await t.replies.listInbound(ctx, 'p1', 10)).map((m) => m.body)).toEqual([
      'hello??',
      'hello?',
      'I have a fever, should I still come?',
    ]);
    // A number that matches no patient: nothing kept (no key to seal it under), HELP still once a day.
    expect(await t.replies.unrecognised(ctx, '+14155550199', 'who is this')).toEqual({ stored: 0, helped: true });
    expect(await t.replies.unrecognised(ctx, '+14155550199', 'who is this')).toEqual({ stored: 0, helped: false });
    expect(await t.replies.unrecognised(ctx, 'garbage', 'x')).toEqual({ stored: 0, helped: false });
    await t.store.close();
  });

  it('reply codes are configurable and never a keyword, an alert code, malformed or the same twice', async () => {
    const t = await setup(fresh);
    await expect(t.replies.setCodes(ctx, { confirm: 'cancel', decline: 'N' })).rejects.toMatchObject({
      code: 'SP_REPLY_CODE_KEYWORD',
    });
    await expect(t.replies.setCodes(ctx, { confirm: 'C', decline: 'STOP' })).rejects.toMatchObject({
      code: 'SP_REPLY_CODE_KEYWORD',
    });
    await expect(t.replies.setCodes(ctx, { confirm: 'help', decline: 'N' })).rejects.toMatchObject({
      code: 'SP_REPLY_CODE_KEYWORD',
    });
    for (const bad of [
      { confirm: '1', decline: 'N' },
      { confirm: 'C', decline: 'c' },
      { confirm: 'C D', decline: 'N' },
      { confirm: 'TOOLONGCODE', decline: 'N' },
      { confirm: '', decline: 'N' },
    ])
      await expect(t.replies.setCodes(ctx, bad)).rejects.toMatchObject({ code: 'SP_REPLY_CODE_INVALID' });
    expect(await t.replies.codes('default')).toEqual({ confirm: 'C', decline: 'N' });
    expect(await t.replies.setCodes(ctx, { confirm: 'si', decline: 'x' })).toEqual({ confirm: 'SI', decline: 'X' });
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('ignored');
    expect(await t.replies.handle(ctx, PHONE, 'Si')).toBe('confirmed');
    await t.store.close();
  });

  it('texts nothing more to a number that opted out: the answer and the text are kept, no acknowledgement, no HELP', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    expect(await new ConsentService(t.deps).inboundSms(ctx, PHONE, 'STOP')).toBe('opted_out');
    const before = t.sent.length;
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    expect((await t.appointments.get(ctx, 'a1')).patientResponse?.response).toBe('confirmed');
    expect(await t.replies.unrecognised(ctx, PHONE, 'still there?')).toEqual({ stored: 1, helped: false });
    expect(t.sent.length).toBe(before);
    await t.store.close();
  });

  it('erasing the patient removes their questions and unrecognised texts', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    await t.replies.unrecognised(ctx, PHONE, 'a question');
    const ref = replyAddressRef(t.deps, 'default', PHONE);
    expect(await t.store.read.patientReplies.latestQuestions('default', [ref], 5)).toHaveLength(1);
    // A reply queues an EHR event about the patient's appointment; the unrecognised text took the number's HELP turn.
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    const q = (sql: string, params: unknown[]) =>
      t.db.query<Record<string, unknown>>(t.store.backend === 'postgres' ? sql.replace('?', '$1') : sql, params);
    expect(await q('select patient_id from event_webhook_events where tenant_id = ?', ['default'])).toEqual([
      { patient_id: 'p1' },
    ]);
    expect(await q('select address_ref from inbound_help_answers where address_ref = ?', [ref])).toHaveLength(1);
    await t.patients.erase(ctx, 'p1', { shredInBackground: true });
    expect(await t.store.read.patientReplies.latestQuestions('default', [ref], 5)).toEqual([]);
    expect(await t.store.read.patientReplies.listInbound('default', 'p1', 5)).toEqual([]);
    expect(await q('select id from event_webhook_events where tenant_id = ?', ['default'])).toEqual([]);
    expect(await q('select address_ref from inbound_help_answers where address_ref = ?', [ref])).toEqual([]);
    await t.store.close();
  });

  it('recognises an inbound message id handled before as a replay (audited), per provider and tenant, for 7 days; an id not recorded as handled is handled again', async () => {
    const t = await setup(fresh);
    const consent = new ConsentService(t.deps);
    const count = async () =>
      Number((await t.db.query<{ n: unknown }>('select count(*) as n from inbound_sms_seen'))[0]!.n);
    // Not yet handled (or its handling failed or crashed before it was recorded): handled as new.
    expect(await consent.inboundSeen(ctx, 'twilio', 'SM1')).toBe(false);
    await consent.recordInbound(ctx, 'twilio', 'SM1');
    expect(await consent.inboundSeen(ctx, 'twilio', 'SM1')).toBe(true);
    // Recording it again (two deliveries of one text handled side by side) changes nothing.
    await consent.recordInbound(ctx, 'twilio', 'SM1');
    expect(await count()).toBe(1);
    // Ids are per provider and tenant.
    expect(await consent.inboundSeen(ctx, 'other', 'SM1')).toBe(false);
    expect(await consent.inboundSeen({ ...ctx, tenantId: 't2' }, 'twilio', 'SM1')).toBe(false);
    const replays = await t.db.query<{ n: unknown }>(
      "select count(*) as n from audit_entries where action = 'inbound_sms.replay_ignored'",
    );
    expect(Number(replays[0]!.n)).toBe(1);
    // Within 7 days a replay is still caught; the ids of texts older than that are pruned as texts arrive.
    t.advance(7 * DAY - 1000);
    expect(await consent.inboundSeen(ctx, 'twilio', 'SM1')).toBe(true);
    t.advance(2000);
    expect(await consent.inboundSeen(ctx, 'twilio', 'SM1')).toBe(false);
    await consent.recordInbound(ctx, 'twilio', 'SM2');
    expect(await count()).toBe(1);
    await t.store.close();
  });

  it('parks an event the address policy refuses (no retry mends it), with the reason, and sends it to nobody', async () => {
    const t = await setup(fresh);
    await t.book('a1', Date.now() + 3 * DAY);
    await t.sendReminder('a1');
    expect(await t.replies.handle(ctx, PHONE, 'C')).toBe('confirmed');
    const worker = new EventWebhookWorker(
      t.store,
      // A private address, not allowed: refused before any connection.
      new EventWebhookSender({ url: 'https://10.0.0.1/hook', secret: 'x'.repeat(16), timeoutMs: 1000 }),
      {
        owner: 'n1',
        pollMs: 1000,
        leaseMs: 60_000,
        batchSize: 10,
        maxAttempts: 5,
        backoffBaseMs: 10,
        backoffCapMs: 20,
      },
      () => new Date(),
    );
    expect(await worker.tick()).toBe(1);
    const [q] = await t.store.read.patientReplies.claimEvents('n2', PARKED - 1, PARKED, 10);
    expect(q).toBeUndefined();
    const events = await t.store.read.patientReplies.claimEvents('n2', PARKED, PARKED + 1, 10);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ delivered_at: null, last_error_code: 'SP_CHANNEL_ADDRESS_REFUSED', attempts: 2 });
    await t.store.close();
  });

  it('leases queued events to one worker at a time; a lost lease records nothing', async () => {
    const t = await setup(fresh);
    const r = t.store.read.patientReplies;
    for (const id of ['e1', 'e2'])
      await r.enqueueEvent({
        id,
        tenant_id: 'default',
        type: 'appointment.response',
        payload: '{}',
        created_at: 1,
        run_at: 10,
        attempts: 0,
      });
    expect(await r.claimEvents('n1', 5, 100, 10)).toEqual([]);
    const [a, b] = await Promise.all([r.claimEvents('n1', 10, 100, 10), r.claimEvents('n2', 10, 100, 10)]);
    expect([...a, ...b].map((e) => e.id).sort()).toEqual(['e1', 'e2']);
    const mine = a.length ? 'n1' : 'n2';
    const other = a.length ? 'n2' : 'n1';
    const first = [...a, ...b][0];
    expect(first.attempts).toBe(1);
    expect(await r.finishEvent(first.id, other, { delivered_at: 50, run_at: 10, last_error_code: null })).toBe(false);
    expect(await r.finishEvent(first.id, mine, { delivered_at: 50, run_at: 10, last_error_code: null })).toBe(true);
    // Delivered: never claimed again; the other one is claimed again once its lease ran out.
    expect((await r.claimEvents('n3', 101, 200, 10)).map((e) => e.id)).toEqual(
      ['e1', 'e2'].filter((id) => id !== first.id),
    );
    await t.store.close();
  });
});
