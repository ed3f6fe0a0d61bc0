import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotificationService, type CreateNotificationInput } from './notification-service.js';
import type { Priority } from './domain.js';
import { DAYTIME, PHI_MARKER, coreFixture, refusal } from '../../test/helpers/in-memory-core.js';

let f: ReturnType<typeof coreFixture>;
let service: NotificationService;

beforeEach(async () => {
  f = coreFixture();
  service = new NotificationService(f.deps);
  await f.addPatient('p1');
});
afterEach(() => f.cleanup());

const followUp = (over: Partial<CreateNotificationInput> = {}): CreateNotificationInput => ({
  type: 'follow_up',
  patientId: 'p1',
  data: { reason: `Knee review ${PHI_MARKER}`, dueDate: '2030-02-01', clinicianName: `Dr. Rivera ${PHI_MARKER}` },
  ...over,
});

const deliveries = () => [...f.store.tables.deliveries.values()];
const contactPoints = (patientId: string) =>
  [...f.store.tables.contactPoints.values()].filter((c) => c.patient_id === patientId);

describe('NotificationService.create', () => {
  it('creates one queued delivery per requested channel, each to its contact point, with one audit entry', async () => {
    const auditBefore = f.store.audit.length;
    const answer = await service.create(f.ctx, followUp({ channels: ['email', 'sms'] }));

    expect(answer.status).toBe(202);
    expect(answer.body.deliveries.map((d) => [d.channel, d.status])).toEqual([
      ['email', 'queued'],
      ['sms', 'queued'],
    ]);
    const rows = deliveries();
    expect(rows).toHaveLength(2);
    for (const [i, d] of rows.entries()) {
      const cp = f.store.tables.contactPoints.get(d.contact_point_id)!;
      expect({
        channel: d.channel,
        seq: d.seq,
        status: d.status,
        runAt: d.run_at,
        notification: d.notification_id,
        maxAttempts: d.max_attempts,
      }).toEqual({
        channel: cp.system,
        seq: i + 1,
        status: 'queued',
        runAt: DAYTIME,
        notification: answer.body.id,
        maxAttempts: 3,
      });
    }
    const added = f.store.audit.slice(auditBefore);
    expect(added.map((a) => a.event.action)).toEqual(['notification.created']);
    expect(added[0].event.details?.deliveries).toEqual(rows.map((d) => `${d.id}:${d.channel}`));
    expect(f.store.tables.signatures.get(answer.body.id)).toMatchObject({
      tenant_id: 'default',
      alg: 'EdDSA',
      sender_signer_id: null,
    });
    expect(f.wakes()).toBe(1);
  });

  it('sends to the first contact point by rank, then id, when no channel is requested', async () => {
    await f.addPatient('p2', {
      telecom: [
        { system: 'sms', value: '+14155550100', rank: 2 },
        { system: 'email', value: 'second@example.com', rank: 1 },
        { system: 'email', value: 'third@example.com', rank: 1 },
      ],
    });
    const [first] = contactPoints('p2')
      .filter((c) => c.rank === 1)
      .sort((a, b) => (a.id < b.id ? -1 : 1));

    const answer = await service.create(f.ctx, followUp({ patientId: 'p2' }));

    expect(answer.body.deliveries.map((d) => d.channel)).toEqual(['email']);
    expect(deliveries().map((d) => d.contact_point_id)).toEqual([first.id]);
  });

  it('passes over an opted-out contact point when choosing by rank', async () => {
    const sms = contactPoints('p1').find((c) => c.system === 'sms')!;
    await f.store.read.contactPoints.update(sms.id, { opted_out_at: DAYTIME - 1 });

    await service.create(f.ctx, followUp());

    expect(deliveries().map((d) => d.channel)).toEqual(['email']);
  });

  it.each([
    ['an unknown type', 'SP_NOTIFICATION_UNKNOWN_TYPE', { type: 'gossip' }],
    [
      'a sendAt more than a few seconds in the past',
      'SP_NOTIFICATION_SEND_AT_PAST',
      { sendAt: new Date(DAYTIME - 60_000).toISOString() },
    ],
    ['a sendAt that is not a date-time', 'SP_REQ_VALIDATION', { sendAt: 'next tuesday' }],
    ['an unknown patient', 'SP_PATIENT_NOT_FOUND', { patientId: 'nobody' }],
    ['a channel the patient has no contact point for', 'SP_NOTIFICATION_NO_CHANNEL', { channels: ['webhook'] }],
  ] as const)('refuses %s with %s and writes nothing, not even an audit entry', async (_what, code, over) => {
    const before = f.store.dump();
    const e = await refusal(service.create(f.ctx, followUp(over as Partial<CreateNotificationInput>), 'key-1'));
    expect(e.code).toBe(code);
    expect(f.store.dump()).toEqual(before);
    expect(f.wakes()).toBe(0);
  });

  it('takes a sendAt a few seconds in the past (clock skew) as now', async () => {
    const answer = await service.create(f.ctx, followUp({ sendAt: new Date(DAYTIME - 3_000).toISOString() }));
    expect(answer.body.deliveries[0]).toMatchObject({ status: 'queued', runAt: new Date(DAYTIME).toISOString() });
  });
});

describe('NotificationService.createMany', () => {
  const batch = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ input: followUp(), idempotencyKey: `batch-${i}` }));

  it('creates every item of a valid batch, each with its audit entry', async () => {
    const answers = await service.createMany(f.ctx, batch(3));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(3);
    expect(f.store.tables.notifications.size).toBe(3);
    expect(f.store.tables.idempotency.size).toBe(3);
    expect(f.store.audit.filter((a) => a.event.action === 'notification.created')).toHaveLength(3);
  });

  it('writes nothing when item 3 of a batch is invalid, and names items[3]', async () => {
    const items = batch(5);
    items[3].input = followUp({ type: 'gossip' });
    const before = f.store.dump();

    const e = await refusal(service.createMany(f.ctx, items));

    expect(e.code).toBe('SP_NOTIFICATION_UNKNOWN_TYPE');
    expect(e.detail).toBe('items[3]: type');
    expect(f.store.dump()).toEqual(before);
  });
});

describe('idempotency', () => {
  it('answers a replay of the same key and body with the first answer and writes nothing', async () => {
    const first = await service.create(f.ctx, followUp(), 'key-1');
    const before = f.store.dump();

    const again = await service.create(f.ctx, followUp(), 'key-1');

    expect(again).toEqual(first);
    expect(f.store.dump()).toEqual(before);
  });

  it('refuses the same key with another body with SP_IDEMPOTENCY_KEY_REUSED and writes nothing', async () => {
    await service.create(f.ctx, followUp(), 'key-1');
    const before = f.store.dump();

    const e = await refusal(service.create(f.ctx, followUp({ priority: 'urgent' }), 'key-1'));

    expect(e.code).toBe('SP_IDEMPOTENCY_KEY_REUSED');
    expect(f.store.dump()).toEqual(before);
  });

  it('creates once for the same key twice in one batch: the second item replays the first', async () => {
    const [a, b] = await service.createMany(f.ctx, [
      { input: followUp(), idempotencyKey: 'key-1' },
      { input: followUp(), idempotencyKey: 'key-1' },
    ]);
    expect(b).toEqual(a);
    expect(f.store.tables.notifications.size).toBe(1);
    expect(f.store.tables.idempotency.size).toBe(1);
  });

  it('refuses the same key with two bodies in one batch, naming items[1], and writes nothing', async () => {
    const before = f.store.dump();
    const e = await refusal(
      service.createMany(f.ctx, [
        { input: followUp(), idempotencyKey: 'key-1' },
        { input: followUp({ priority: 'urgent' }), idempotencyKey: 'key-1' },
      ]),
    );
    expect([e.code, e.detail]).toEqual(['SP_IDEMPOTENCY_KEY_REUSED', 'items[1]']);
    expect(f.store.dump()).toEqual(before);
  });
});

describe('quiet hours', () => {
  /** 02:00 in New York, inside the 21:00-08:00 window; it ends at 08:00 local, 13:00 UTC. */
  const NIGHT = Date.parse('2030-01-15T07:00:00Z');
  const MORNING = Date.parse('2030-01-15T13:00:00Z');

  it('defers a routine notification to the end of the patient’s quiet hours, and wakes no worker', async () => {
    f.setNow(NIGHT);
    const answer = await service.create(f.ctx, followUp());
    expect(answer.body.deliveries[0]).toMatchObject({ status: 'scheduled', runAt: new Date(MORNING).toISOString() });
    expect(deliveries()[0]).toMatchObject({ status: 'scheduled', run_at: MORNING });
    expect(f.wakes()).toBe(0);
  });

  it('defers a routine sendAt that falls in the patient’s quiet hours to their end', async () => {
    // 22:30 in New York on the 15th: the window ends at 08:00 on the 16th.
    const answer = await service.create(f.ctx, followUp({ sendAt: '2030-01-16T03:30:00Z' }));
    expect(answer.body.deliveries[0]).toMatchObject({ status: 'scheduled', runAt: '2030-01-16T13:00:00.000Z' });
  });

  it.each(['urgent', 'asap', 'stat'] satisfies Priority[])(
    'sends a notification of %s priority in quiet hours at once',
    async (priority) => {
      f.setNow(NIGHT);
      const answer = await service.create(f.ctx, followUp({ priority }));
      expect(answer.body.deliveries[0]).toMatchObject({ status: 'queued', runAt: new Date(NIGHT).toISOString() });
      expect(f.wakes()).toBe(1);
    },
  );
});

describe('PHI', () => {
  it('keeps the data’s PHI out of every audit entry and every plaintext column, and seals it', async () => {
    await f.addPatient('MRN-88213');
    const answer = await service.create(
      f.ctx,
      followUp({ patientId: 'MRN-88213', channels: ['sms', 'email'] }),
      'key-1',
    );

    // The marker did reach the store, sealed under the patient's data key.
    const n = f.store.tables.notifications.get(answer.body.id)!;
    const k = f.store.tables.dataKeys.get(`default\u0000MRN-88213`)!;
    const key = await f.deps.cipher.dataKey('default', 'MRN-88213', {
      keyId: k.key_id,
      wrapped: Buffer.from(k.wrapped),
    });
    const data = f.deps.cipher.decryptJson<{ reason: string }>(
      key,
      { tenantId: 'default', table: 'notifications', rowId: n.id, field: 'data' },
      n.data_ct,
    );
    expect(data.reason).toContain(PHI_MARKER);

    const { tables, audit } = f.store.dump();
    expect(audit.length).toBeGreaterThan(0);
    for (const a of audit) {
      expect(a.entry).not.toContain(PHI_MARKER);
      // The audit log names patients by keyed pseudonym only, never by the caller's id.
      expect(a.entry).not.toContain('MRN-88213');
    }
    for (const [table, rows] of Object.entries(tables)) {
      for (const row of rows as Record<string, unknown>[]) {
        for (const [column, v] of Object.entries(row)) {
          const text = v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v);
          expect(text, `${table}.${column}`).not.toContain(PHI_MARKER);
        }
      }
    }
    expect(JSON.stringify(answer)).not.toContain(PHI_MARKER);
  });
});
