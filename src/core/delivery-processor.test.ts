import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeliveryProcessor } from './delivery-processor.js';
import { NotificationService, type CreateNotificationInput } from './notification-service.js';
import { ChannelError, type OutboundMessage } from '../channels/channel.js';
import type { JobOutcome } from '../queue/job-queue.js';
import type { DeliveryRow } from '../store/rows.js';
import type { RepositoryCall } from '../../test/helpers/in-memory-store.js';
import { hashToken } from '../crypto/tokens.js';
import { DAYTIME, PHI_MARKER, coreFixture, fakeChannels, type Behaviour } from '../../test/helpers/in-memory-core.js';

const LEASE_MS = 60_000;

let f: ReturnType<typeof coreFixture>;
let channels: ReturnType<typeof fakeChannels>;
let worker: DeliveryProcessor;
let notifications: NotificationService;

beforeEach(async () => {
  f = coreFixture();
  channels = fakeChannels();
  worker = new DeliveryProcessor(f.deps, channels, 'worker-1');
  notifications = new NotificationService(f.deps);
  await f.addPatient('p1');
});
afterEach(() => {
  vi.restoreAllMocks();
  f.cleanup();
});

const followUp = (over: Partial<CreateNotificationInput> = {}): CreateNotificationInput => ({
  type: 'follow_up',
  patientId: 'p1',
  data: { reason: `Knee review ${PHI_MARKER}`, dueDate: '2030-02-01', clinicianName: `Dr. Rivera ${PHI_MARKER}` },
  ...over,
});

/** What the worker loop does each turn: claim (and prepare) a batch under this worker's lease. */
const claim = (processor = worker) => processor.claim(10, f.now(), f.now() + LEASE_MS);
async function createAndClaim(input = followUp()) {
  const created = await notifications.create(f.ctx, input);
  const batch = await claim();
  return { id: created.body.id, batch, claimed: batch.jobs };
}

const row = (id: string) => f.store.tables.deliveries.get(id)!;
const auditOf = (deliveryId: string) => f.store.audit.filter((a) => a.event.targetId === deliveryId);
const timeout: Behaviour = async () => {
  throw new ChannelError('SP_CHANNEL_TIMEOUT', true, 'provider timed out');
};
const refused: Behaviour = async () => {
  throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'provider answered 400');
};
/** Another worker takes the lease: this one's expired and was released (as the worker loop does). */
async function leaseTakenByAnotherWorker() {
  f.setNow(f.now() + LEASE_MS + 1);
  await f.store.read.queue.releaseExpired(f.now());
  return claim(new DeliveryProcessor(f.deps, fakeChannels(), 'worker-2'));
}

describe('DeliveryProcessor: sending', () => {
  it('records an accepted send as sent with the provider id, releases the lease and appends one audit entry', async () => {
    const { batch, claimed } = await createAndClaim();
    const [d] = claimed;

    expect(await batch.finish()).toEqual([{ status: 'sent', channel: 'sms' }]);

    expect(channels.sms.sent.map((m) => m.deliveryId)).toEqual([d.id]);
    expect(row(d.id)).toMatchObject({
      status: 'sent',
      provider: 'fake-sms',
      provider_message_id: `pm-${d.id}`,
      sent_at: DAYTIME,
      delivered_at: null,
      attempts: 1,
      lease_owner: null,
      lease_until: null,
    });
    expect(auditOf(d.id).map((a) => [a.event.action, a.event.outcome, a.event.actor])).toEqual([
      ['delivery.sent', 'success', 'system:worker:worker-1'],
    ]);
  });

  it('records a final hop’s answer as delivered', async () => {
    const { batch, claimed } = await createAndClaim();
    channels.sms.willAnswer(async () => ({ status: 'delivered' }));
    expect(await batch.finish()).toEqual([{ status: 'delivered', channel: 'sms' }]);
    expect(row(claimed[0].id)).toMatchObject({ status: 'delivered', delivered_at: DAYTIME, provider_message_id: null });
  });

  it('puts the portal link in the nudge, and no PHI', async () => {
    await notifications.create(f.ctx, followUp({ channels: ['sms', 'email'] }));
    await (await claim()).finish();

    const messages: OutboundMessage[] = [...channels.sms.sent, ...channels.email.sent];
    expect(messages.map((m) => m.to)).toEqual(['+14155552671', 'ana@example.com']);
    for (const m of messages) {
      expect(m.link).toMatch(new RegExp(`^${f.deps.config.publicUrl}/m/[A-Za-z0-9_-]{40,}$`));
      expect(m.text).toContain(m.link);
      const link = f.store.tables.accessLinks.get(hashToken(m.link!.split('/m/')[1]));
      expect(link).toMatchObject({ delivery_id: m.deliveryId, notification_id: m.notificationId, patient_id: 'p1' });
      expect(JSON.stringify(m)).not.toContain(PHI_MARKER);
      expect(JSON.stringify(m)).not.toMatch(/Lopez|Knee|Rivera/);
    }
  });

  it('defers a routine delivery that comes due in quiet hours, without sending or counting the attempt', async () => {
    await notifications.create(f.ctx, followUp());
    f.setNow(Date.parse('2030-01-16T03:00:00Z')); // 22:00 in New York
    const batch = await claim();

    expect(await batch.finish()).toEqual([{ status: 'deferred', channel: 'sms' }]);

    expect(channels.sms.sent).toEqual([]);
    expect(row(batch.jobs[0].id)).toMatchObject({
      status: 'scheduled',
      run_at: Date.parse('2030-01-16T13:00:00Z'),
      attempts: 0,
      lease_owner: null,
      link_ct: null,
    });
  });
});

describe('DeliveryProcessor: failures', () => {
  it('re-queues a retryable failure below max attempts at a later run_at and sends the same link on the retry', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // full jitter over [0, 2000] ms: 1000 ms
    const { batch, claimed } = await createAndClaim();
    const [d] = claimed;
    channels.sms.willAnswer(timeout);

    expect(await batch.finish()).toEqual([{ status: 'retry', channel: 'sms' }]);

    expect(row(d.id)).toMatchObject({
      status: 'queued',
      run_at: DAYTIME + 1_000,
      attempts: 1,
      last_error_code: 'SP_CHANNEL_TIMEOUT',
      lease_owner: null,
      sent_at: null,
    });
    expect(row(d.id).link_ct).not.toBeNull();
    expect(auditOf(d.id).map((a) => [a.event.action, a.event.details?.errorCode])).toEqual([
      ['delivery.attempt_failed', 'SP_CHANNEL_TIMEOUT'],
    ]);

    expect((await claim()).jobs).toEqual([]); // not due before its run_at
    f.setNow(DAYTIME + 1_000);
    expect(await (await claim()).finish()).toEqual([{ status: 'sent', channel: 'sms' }]);
    const [first, second] = channels.sms.sent;
    expect(second.link).toBe(first.link);
    expect(f.store.tables.accessLinks.size).toBe(1);
  });

  it('fails over a permanent failure to the next contact point by rank, as a new delivery with seq + 1', async () => {
    const { id, batch, claimed } = await createAndClaim();
    const [d] = claimed;
    channels.sms.willAnswer(refused);

    expect(await batch.finish()).toEqual([{ status: 'failed', channel: 'sms' }]);

    expect(row(d.id)).toMatchObject({
      status: 'failed',
      failed_at: DAYTIME,
      last_error_code: 'SP_CHANNEL_SEND_FAILED',
      lease_owner: null,
      lease_until: null,
    });
    const next = (await f.store.read.deliveries.list(id)).filter((x) => x.id !== d.id);
    const email = [...f.store.tables.contactPoints.values()].find((c) => c.system === 'email')!;
    expect(next).toHaveLength(1);
    expect(next[0]).toMatchObject({
      channel: 'email',
      contact_point_id: email.id,
      seq: d.seq + 1,
      status: 'queued',
      run_at: DAYTIME,
      attempts: 0,
    });
    expect(auditOf(d.id).map((a) => [a.event.action, a.event.details?.nextDelivery])).toEqual([
      ['delivery.failed_over', next[0].id],
    ]);
    expect(f.wakes()).toBe(2); // once at creation, once for the fail-over

    expect(await (await claim()).finish()).toEqual([{ status: 'sent', channel: 'email' }]);
  });

  it('fails over a retryable failure once it reaches max attempts', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // retry at once
    const { id } = await notifications.create(f.ctx, followUp()).then((a) => a.body);
    const outcomes: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      channels.sms.willAnswer(timeout);
      outcomes.push(...(await (await claim()).finish()).map((o) => o.status));
    }
    expect(outcomes).toEqual(['retry', 'retry', 'failed']);
    expect((await f.store.read.deliveries.list(id)).map((d) => [d.channel, d.status, d.attempts])).toEqual([
      ['sms', 'failed', 3],
      ['email', 'queued', 0],
    ]);
  });

  it('declares the notification’s last delivery dead when no contact point is left', async () => {
    await f.addPatient('p-solo', { telecom: [{ system: 'sms', value: '+14155550199', rank: 1 }] });
    const { id, batch, claimed } = await createAndClaim(followUp({ patientId: 'p-solo' }));
    channels.sms.willAnswer(refused);

    expect(await batch.finish()).toEqual([{ status: 'dead', channel: 'sms' }]);

    expect((await f.store.read.deliveries.list(id)).map((d) => d.status)).toEqual(['dead']);
    expect(auditOf(claimed[0].id).map((a) => a.event.action)).toEqual(['delivery.dead']);
  });
});

describe('DeliveryProcessor: cancellation and leases', () => {
  it('cancels, without sending, a due delivery whose notification is cancelled', async () => {
    const { id } = await notifications.create(f.ctx, followUp()).then((a) => a.body);
    // The notification's row says cancelled while its delivery still waits (a cancel racing the claim).
    await f.store.read.notifications.update(id, { cancelled_at: DAYTIME });
    const batch = await claim();

    expect(await batch.finish()).toEqual([{ status: 'cancelled', channel: 'sms' }]);

    expect(channels.sms.sent).toEqual([]);
    expect(row(batch.jobs[0].id)).toMatchObject({
      status: 'cancelled',
      cancelled_at: DAYTIME,
      lease_owner: null,
      link_ct: null,
    });
    expect(auditOf(batch.jobs[0].id).map((a) => a.event.action)).toEqual(['delivery.cancelled']);
    expect(f.store.tables.accessLinks.size).toBe(0);
  });

  it('never claims the deliveries of a notification cancelled through the service', async () => {
    const { id } = await notifications.create(f.ctx, followUp({ channels: ['sms', 'email'] })).then((a) => a.body);
    await notifications.cancel(f.ctx, id);

    expect((await claim()).jobs).toEqual([]);
    expect((await f.store.read.deliveries.list(id)).map((d) => d.status)).toEqual(['cancelled', 'cancelled']);
  });

  it('records nothing for a delivery cancelled through the service between its claim and its finish', async () => {
    const { id, batch } = await createAndClaim();
    await notifications.cancel(f.ctx, id);
    const before = f.store.dump();

    expect(await batch.finish()).toEqual([{ status: 'lost-lease', channel: 'sms' }]);

    expect(f.store.dump()).toEqual(before);
  });

  it('hands each due delivery to one worker only, so each is sent once, when two workers claim at once', async () => {
    for (const p of ['a', 'b', 'c']) {
      await f.addPatient(p);
      await notifications.create(f.ctx, followUp({ patientId: p }));
    }
    const otherChannels = fakeChannels();
    const other = new DeliveryProcessor(f.deps, otherChannels, 'worker-2');

    const batches = await Promise.all([claim(), claim(other)]);
    await Promise.all(batches.map((b) => b.finish()));

    const ids = batches.flatMap((b) => b.jobs.map((d) => d.id));
    expect(new Set(ids).size).toBe(3);
    expect(ids).toHaveLength(3);
    expect([...channels.sms.sent, ...otherChannels.sms.sent].map((m) => m.deliveryId).sort()).toEqual([...ids].sort());
  });

  it('records nothing when another worker took the lease before the finish', async () => {
    const { batch, claimed } = await createAndClaim();
    const theirs = await leaseTakenByAnotherWorker();
    expect(theirs.jobs.map((d) => d.id)).toEqual([claimed[0].id]);
    const before = f.store.dump();

    expect(await batch.finish()).toEqual([{ status: 'lost-lease', channel: 'sms' }]);

    expect(f.store.dump()).toEqual(before);
    expect(row(claimed[0].id)).toMatchObject({ status: 'sending', lease_owner: 'worker-2', sent_at: null });
  });

  it('records nothing when another worker took the lease during the send', async () => {
    const { batch, claimed } = await createAndClaim();
    channels.sms.willAnswer(async () => {
      await leaseTakenByAnotherWorker();
      return { status: 'sent', providerMessageId: 'pm-late' };
    });

    expect(await batch.finish()).toEqual([{ status: 'lost-lease', channel: 'sms' }]);

    expect(row(claimed[0].id)).toMatchObject({
      status: 'sending',
      lease_owner: 'worker-2',
      provider_message_id: null,
      sent_at: null,
    });
    expect(auditOf(claimed[0].id)).toEqual([]);
  });
});

describe('DeliveryProcessor: a batch', () => {
  it('writes each outcome of a batch of mixed outcomes once', async () => {
    const phones = { ok: '+14155550101', retry: '+14155550102', refused: '+14155550103', cancelled: '+14155550104' };
    for (const [who, phone] of Object.entries(phones)) {
      await f.addPatient(who, {
        telecom: [
          { system: 'sms', value: phone, rank: 1 },
          { system: 'email', value: `${who}@example.com`, rank: 2 },
        ],
      });
      const n = await notifications.create(f.ctx, followUp({ patientId: who }));
      if (who === 'cancelled') await f.store.read.notifications.update(n.body.id, { cancelled_at: DAYTIME });
    }
    channels.sms.willAnswerTo(phones.retry, timeout).willAnswerTo(phones.refused, refused);
    const batch = await claim();
    const claimed = batch.jobs;
    const deliveriesBefore = f.store.tables.deliveries.size;
    const auditBefore = f.store.audit.length;
    f.store.calls.length = 0;

    const outcomes = await batch.finish();

    const expected = {
      ok: ['sent', 'sent', 'delivery.sent'],
      retry: ['retry', 'queued', 'delivery.attempt_failed'],
      refused: ['failed', 'failed', 'delivery.failed_over'],
      cancelled: ['cancelled', 'cancelled', 'delivery.cancelled'],
    };
    expect(claimed.map((d) => d.patient_id).sort()).toEqual(Object.keys(expected).sort());
    claimed.forEach((d, i) => {
      const [outcome, status, action] = expected[d.patient_id as keyof typeof expected];
      expect([outcomes[i].status, row(d.id).status, auditOf(d.id).map((a) => a.event.action)]).toEqual([
        outcome,
        status,
        [action],
      ]);
    });
    expect(f.store.audit.length - auditBefore).toBe(4);
    expect(f.store.tables.deliveries.size - deliveriesBefore).toBe(1);
    const writes = f.store.calls.filter((c) =>
      ['queue.finish', 'deliveries.update', 'deliveries.insertMany'].includes(c.op),
    );
    const byPatient = (id: string) => claimed.find((d) => d.id === id)!.patient_id;
    const what = (c: RepositoryCall) =>
      c.op === 'queue.finish'
        ? (c.args[2] as JobOutcome[]).map((o) => byPatient(o.id)).sort()
        : c.op === 'deliveries.update'
          ? byPatient(c.args[0] as string)
          : (c.args[0] as DeliveryRow[]).map((d) => `${d.patient_id}:${d.channel}:${d.status}`);
    expect(writes.map((c) => [c.op, what(c)])).toEqual([
      ['queue.finish', ['cancelled', 'ok', 'retry']],
      ['deliveries.update', 'refused'],
      ['deliveries.insertMany', ['refused:email:queued']],
    ]);
  });
});
