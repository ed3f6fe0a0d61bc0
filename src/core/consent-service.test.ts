import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsentService, consentAllows, deniedChannels } from './consent-service.js';
import { CHANNEL_KINDS, type Purpose } from './domain.js';
import { DeliveryProcessor } from './delivery-processor.js';
import { NotificationService, type CreateNotificationInput } from './notification-service.js';
import { PHI_MARKER, coreFixture, fakeChannels, refusal } from '../../test/helpers/in-memory-core.js';

const rec = (channel: string, decision: 'permit' | 'deny', purpose = '*') => ({ channel, decision, purpose });
const denied = (rows: ReturnType<typeof rec>[], purpose: Purpose = 'results') =>
  [...deniedChannels(rows, purpose)].sort();
const others = (...except: string[]) => CHANNEL_KINDS.filter((c) => !except.includes(c)).sort();

describe('deniedChannels: the latest record covering a channel and purpose decides', () => {
  it('permits everything when there is no record', () => {
    expect(denied([])).toEqual([]);
  });

  it('applies a deny of one channel to that channel only', () => {
    expect(denied([rec('sms', 'deny')])).toEqual(['sms']);
  });

  it('lets a later permit of every channel lift an earlier deny of one', () => {
    expect(denied([rec('sms', 'deny'), rec('*', 'permit')])).toEqual([]);
  });

  it('lets a later permit of one channel open it inside an earlier deny of every channel', () => {
    expect(denied([rec('*', 'deny'), rec('email', 'permit')])).toEqual(others('email'));
  });

  it('lets a later deny of every channel override an earlier permit of one', () => {
    expect(denied([rec('sms', 'permit'), rec('*', 'deny')])).toEqual([...CHANNEL_KINDS].sort());
  });

  it('applies a deny of one purpose to that purpose only, and lets a later every-purpose record decide all', () => {
    const rows = [rec('sms', 'deny', 'billing')];
    expect(denied(rows, 'billing')).toEqual(['sms']);
    expect(denied(rows, 'appointment')).toEqual([]);
    expect(consentAllows(rows, 'email', 'billing')).toBe(true);
    // A later permit of billing on every channel opens sms for billing; a later deny of sms for every purpose closes it.
    expect(denied([...rows, rec('*', 'permit', 'billing')], 'billing')).toEqual([]);
    expect(denied([rec('sms', 'permit', 'billing'), rec('sms', 'deny')], 'billing')).toEqual(['sms']);
    // An earlier deny of every purpose is lifted for one purpose by a later permit of that purpose only.
    const stop = [rec('sms', 'deny'), rec('sms', 'permit', 'appointment')];
    expect(denied(stop, 'appointment')).toEqual([]);
    expect(denied(stop, 'results')).toEqual(['sms']);
  });
});

describe('keyword decisions are their own layer: SMS is allowed only when both layers allow it', () => {
  const kw = (decision: 'permit' | 'deny') => ({ channel: 'sms', purpose: '*', decision, source: 'sms_keyword' });
  const staff = (channel: string, decision: 'permit' | 'deny', purpose = '*') => ({
    channel,
    purpose,
    decision,
    source: 'staff',
  });

  it('a START lifts only a STOP, never a per-purpose denial from another source', () => {
    const rows = [staff('sms', 'deny', 'results'), kw('deny'), kw('permit')];
    expect(consentAllows(rows, 'sms', 'results')).toBe(false);
    expect(consentAllows(rows, 'sms', 'appointment')).toBe(true);
    // A YES with no STOP before it changes nothing either.
    expect(consentAllows([staff('sms', 'deny', 'results'), kw('permit')], 'sms', 'results')).toBe(false);
  });

  it('a STOP stands until a START, whatever other sources permit after it', () => {
    const rows = [kw('deny'), staff('sms', 'permit'), staff('*', 'permit', 'results')];
    expect(denied(rows, 'results')).toEqual(['sms']);
    expect(denied([...rows, kw('permit')], 'results')).toEqual([]);
    // A STOP recorded while other sources already denied SMS outlasts their later permit.
    expect(denied([staff('sms', 'deny'), kw('deny'), staff('sms', 'permit')], 'billing')).toEqual(['sms']);
  });

  it('the other layer still decides by its latest record, and other channels ignore keywords', () => {
    const rows = [kw('deny'), kw('permit'), staff('*', 'deny'), staff('email', 'permit', 'billing')];
    expect(denied(rows, 'billing')).toEqual(others('email'));
    expect(consentAllows([kw('deny')], 'email', 'results')).toBe(true);
  });
});

let f: ReturnType<typeof coreFixture>;
let consents: ConsentService;
let notifications: NotificationService;

beforeEach(async () => {
  f = coreFixture();
  consents = new ConsentService(f.deps);
  notifications = new NotificationService(f.deps);
  await f.addPatient('p1');
});
afterEach(() => f.cleanup());

const followUp = (over: Partial<CreateNotificationInput> = {}): CreateNotificationInput => ({
  type: 'follow_up',
  patientId: 'p1',
  data: { reason: `Knee review ${PHI_MARKER}`, dueDate: '2030-02-01' },
  ...over,
});

describe('ConsentService: the ledger', () => {
  it('records a decision with an audit entry of ids and codes, and shows superseded records as inactive', async () => {
    const deny = await consents.record(f.ctx, { patientId: 'p1', channel: 'sms', decision: 'deny', source: 'fhir' });
    expect(deny).toMatchObject({ patientId: 'p1', channel: 'sms', decision: 'deny', source: 'fhir', active: true });
    expect(deny.recordedBy).toBe(f.ctx.actor);
    const entry = f.store.audit.find((a) => a.event.targetId === deny.id)!;
    expect(entry.event).toMatchObject({
      action: 'consent.recorded',
      targetType: 'consent',
      details: { channel: 'sms', purpose: '*', decision: 'deny', source: 'fhir' },
    });
    expect(entry.entry).not.toContain('p1');
    const permit = await consents.record(f.ctx, { patientId: 'p1', channel: '*', decision: 'permit', source: 'api' });
    expect((await consents.get(f.ctx, deny.id)).active).toBe(false);
    expect((await consents.listForPatient(f.ctx, 'p1')).map((r) => [r.id, r.active])).toEqual([
      [permit.id, true],
      [deny.id, false],
    ]);
    expect(await consents.denied(f.ctx, 'p1', 'care_messages')).toEqual([]);
  });

  it('refuses a decision about an unknown patient, or an unknown channel, and writes nothing', async () => {
    const before = f.store.dump();
    expect(
      (await refusal(consents.record(f.ctx, { patientId: 'nobody', channel: 'sms', decision: 'deny', source: 'fhir' })))
        .code,
    ).toBe('SP_PATIENT_NOT_FOUND');
    expect(
      (
        await refusal(
          consents.record(f.ctx, { patientId: 'p1', channel: 'fax' as never, decision: 'deny', source: 'fhir' }),
        )
      ).code,
    ).toBe('SP_REQ_VALIDATION');
    expect(f.store.dump()).toEqual(before);
    expect((await refusal(consents.get(f.ctx, 'nope'))).code).toBe('SP_CONSENT_NOT_FOUND');
  });

  it('records STOP and START from the patient’s number as sms decisions, beside the contact point’s opt-out', async () => {
    expect(await consents.inboundSms(f.ctx, '+14155552671', 'stop')).toBe('opted_out');
    expect(await consents.denied(f.ctx, 'p1', 'care_messages')).toEqual(['sms']);
    const [stop] = await consents.listForPatient(f.ctx, 'p1');
    expect(stop).toMatchObject({ channel: 'sms', decision: 'deny', source: 'sms_keyword' });
    expect(await consents.inboundSms(f.ctx, '+14155552671', 'START')).toBe('opted_in');
    expect(await consents.denied(f.ctx, 'p1', 'care_messages')).toEqual([]);
    expect(await consents.inboundSms(f.ctx, '+14155552671', 'hello')).toBe('ignored');
    expect(await consents.listForPatient(f.ctx, 'p1')).toHaveLength(2);
  });
});

describe('NotificationService honours the ledger at creation, by purpose', () => {
  it('skips a channel denied for the notification’s purpose, uses the next contact point, and leaves other purposes alone', async () => {
    await consents.record(f.ctx, {
      patientId: 'p1',
      channel: 'sms',
      purpose: 'care_messages',
      decision: 'deny',
      source: 'staff',
    });
    const followUpMsg = await notifications.create(f.ctx, followUp());
    expect(followUpMsg.body.deliveries.map((d: { channel: string }) => d.channel)).toEqual(['email']);
    const refused = await refusal(notifications.create(f.ctx, followUp({ channels: ['sms'] })));
    expect(refused.code).toBe('SP_NOTIFICATION_NO_CHANNEL');
    expect(refused.message).not.toContain(PHI_MARKER);
    const billing = await notifications.create(f.ctx, {
      type: 'billing_statement',
      patientId: 'p1',
      data: { amount: '1.00', dueDate: '2030-02-01', statementId: 'S1' },
    });
    expect(billing.body.deliveries.map((d: { channel: string }) => d.channel)).toEqual(['sms']);
    // Every channel denied for the purpose: nothing to send on, nothing created.
    await consents.record(f.ctx, {
      patientId: 'p1',
      channel: '*',
      purpose: 'care_messages',
      decision: 'deny',
      source: 'portal',
    });
    const before = f.store.tables.notifications.size;
    expect((await refusal(notifications.create(f.ctx, followUp()))).code).toBe('SP_NOTIFICATION_NO_CHANNEL');
    expect(f.store.tables.notifications.size).toBe(before);
  });
});

describe('DeliveryProcessor honours the ledger at send time', () => {
  const claim = (w: DeliveryProcessor) => w.claim(10, f.now(), f.now() + 60_000);

  it('suppresses an SMS whose channel was denied after the notification was created, and moves on to e-mail', async () => {
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(f.deps, channels, 'w1');
    const created = await notifications.create(f.ctx, followUp({ priority: 'urgent' }));
    const [sms] = created.body.deliveries;
    expect(sms.channel).toBe('sms');
    await consents.record(f.ctx, { patientId: 'p1', channel: 'sms', decision: 'deny', source: 'fhir' });

    expect(await (await claim(worker)).finish()).toEqual([{ status: 'suppressed', channel: 'sms' }]);
    expect(f.store.tables.deliveries.get(sms.id)).toMatchObject({
      status: 'suppressed',
      last_error_code: 'SP_CONSENT_DENIED',
      failed_at: null,
      lease_owner: null,
    });
    expect(channels.sms.sent).toEqual([]);
    const audit = f.store.audit.filter((a) => a.event.targetId === sms.id).map((a) => a.event);
    expect(audit).toMatchObject([
      {
        action: 'delivery.suppressed',
        outcome: 'failure',
        details: { errorCode: 'SP_CONSENT_DENIED', nextChannel: 'email' },
      },
    ]);
    // The next permitted contact point takes over.
    expect(await (await claim(worker)).finish()).toEqual([{ status: 'sent', channel: 'email' }]);
    expect(channels.email.sent).toHaveLength(1);
  });

  it('suppresses without fallback when every channel is denied, and reads the ledger once per claimed batch', async () => {
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(f.deps, channels, 'w1');
    await f.addPatient('p2');
    for (const patientId of ['p1', 'p1', 'p2'])
      await notifications.create(f.ctx, followUp({ patientId, priority: 'urgent' }));
    await consents.record(f.ctx, { patientId: 'p1', channel: '*', decision: 'deny', source: 'fhir' });
    const callsBefore = f.store.calls.length;
    const outcomes = await (await claim(worker)).finish();
    expect(outcomes.map((o) => o.status).sort()).toEqual(['sent', 'suppressed', 'suppressed']);
    // Once at the claim, once more under the send locks right before the channel calls.
    expect(f.store.calls.slice(callsBefore).filter((c) => c.op === 'consents.listForPatients')).toHaveLength(2);
    const p1 = [...f.store.tables.deliveries.values()].filter((d) => d.patient_id === 'p1');
    expect(p1.map((d) => d.status)).toEqual(['suppressed', 'suppressed']);
    expect(channels.sms.sent.map((m) => m.deliveryId)).toEqual(
      [...f.store.tables.deliveries.values()].filter((d) => d.patient_id === 'p2').map((d) => d.id),
    );
  });

  it('sends again once a later permit lifts the deny', async () => {
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(f.deps, channels, 'w1');
    await consents.record(f.ctx, { patientId: 'p1', channel: 'sms', decision: 'deny', source: 'fhir' });
    await consents.record(f.ctx, { patientId: 'p1', channel: 'sms', decision: 'permit', source: 'fhir' });
    await notifications.create(f.ctx, followUp({ priority: 'urgent' }));
    expect(await (await claim(worker)).finish()).toEqual([{ status: 'sent', channel: 'sms' }]);
  });
});
