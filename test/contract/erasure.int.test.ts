import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Channel, OutboundMessage, SendResult } from '../../src/channels/channel.js';
import type { ChannelKind } from '../../src/core/domain.js';
import { AppError } from '../../src/core/errors.js';
import { patientDataKey, type CoreDeps } from '../../src/core/context.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';
import { eventually, samplePatient } from '../helpers/sealpost-harness.js';
import { replyAddressRef } from '../../src/core/patient-replies.js';
import { PARKED, enqueueEventInTx } from '../../src/core/event-webhooks.js';

/**
 * Crypto-shredding at the repository level, per backend: what an erasure deletes, cancels and keeps
 * as tombstones, and how it meets a delivery that a worker is sending at that very moment.
 */

/** A channel (our own port) whose sends wait until the test opens the gate, so an erasure can land mid-send. */
class GatedChannel implements Channel {
  readonly provider = 'gated';
  gate!: () => void;
  private opened = new Promise<void>((r) => (this.gate = r));
  private onStart!: (m: OutboundMessage) => void;
  readonly started = new Promise<OutboundMessage>((r) => (this.onStart = r));
  constructor(
    readonly kind: ChannelKind,
    private readonly beforeWait: (m: OutboundMessage) => Promise<void> = async () => {},
  ) {}
  async send(m: OutboundMessage): Promise<SendResult> {
    await this.beforeWait(m);
    this.onStart(m);
    await this.opened;
    return { status: 'delivered', providerMessageId: `gated-${m.deliveryId}` };
  }
}

const ctx = { tenantId: 'default', actor: 'test' };
const followUp = (patientId: string, extra: Record<string, unknown> = {}) => ({
  type: 'follow_up',
  patientId,
  data: { reason: 'check-up', dueDate: '2031-01-01' },
  ...extra,
});

describeEachBackend('crypto-shredding of a patient', (backend) => {
  const fresh = freshDatabases(backend);
  const apps: App[] = [];

  async function start(channels: Partial<Record<ChannelKind, Channel>> = {}): Promise<{ db: TestDatabase; app: App }> {
    const db = await fresh({ prefix: 'sealpost-erasure-' });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), channels });
    apps.push(app);
    return { db, app };
  }

  /** Claims every due delivery as this app's worker would and processes the batch. */
  async function work(app: App) {
    const now = Date.now();
    const batch = await app.processor.claim(50, now, now + 60_000);
    return batch.finish();
  }

  it('deletes the data key and everything derived from PHI, cancels pending deliveries and keeps content-free tombstones', async () => {
    const { db, app } = await start();
    try {
      const { patients, notifications, appointments } = app.services;
      await patients.upsert(ctx, 'pa', samplePatient() as never);
      await patients.upsert(ctx, 'pb', samplePatient({ telecom: [{ system: 'sms', value: '+14155550100' }] }) as never);
      const sent = await notifications.create(ctx, followUp('pa') as never, 'idem-a');
      const sentB = await notifications.create(ctx, followUp('pb') as never, 'idem-b');
      expect((await work(app)).map((o) => o.status)).toEqual(['delivered', 'delivered']); // to the dev outbox, with portal links
      const later = await notifications.create(
        ctx,
        followUp('pa', { sendAt: new Date(Date.now() + 86_400_000).toISOString() }) as never,
      );
      await appointments.upsert(ctx, 'appt-a', {
        patientId: 'pa',
        start: new Date(Date.now() + 7 * 86_400_000).toISOString(),
        end: new Date(Date.now() + 7 * 86_400_000 + 1_800_000).toISOString(),
        location: 'Room 1',
        clinicianName: 'Clinician',
      } as never);
      const q = (sql: string) =>
        db.query<Record<string, unknown>>(backend === 'postgres' ? sql.replace(/\?/g, (_, i) => `$${i}`) : sql);
      // Reply data keyed to the patients: the once-a-day HELP turn of each number (by its blind
      // index) and EHR events about their appointments (one pending, one parked for pa).
      const deps = (app.services.patients as unknown as { deps: CoreDeps }).deps;
      const refA = replyAddressRef(deps, 'default', '+14155552671');
      const refB = replyAddressRef(deps, 'default', '+14155550100');
      const now = Date.now();
      await app.store.transaction(async (tx) => {
        for (const ref of [refA, refB])
          expect(await tx.patientReplies.takeHelpTurn('default', ref, now, now)).toBe(true);
        for (const [id, patientId] of [
          ['ev-a1', 'pa'],
          ['ev-a2', 'pa'],
          ['ev-b1', 'pb'],
        ])
          await enqueueEventInTx(tx, {
            id,
            tenantId: 'default',
            type: 'appointment.response',
            at: now,
            data: { appointmentId: `appt-${patientId}`, response: 'confirmed', channel: 'sms' },
            patientId,
          });
      });
      await q(
        `update event_webhook_events set run_at = ${PARKED}, last_error_code = 'SP_WEBHOOK_REFUSED' where id = 'ev-a2'`,
      );
      const pbBefore = await db.rowCounts();

      const r = await patients.erase(ctx, 'pa');
      expect(await q(`select address_ref from inbound_help_answers where address_ref = '${refA}'`)).toEqual([]);
      expect(await q(`select address_ref from inbound_help_answers where address_ref = '${refB}'`)).toHaveLength(1);
      expect((await q(`select id from event_webhook_events order by id`)).map((e) => e.id)).toEqual(['ev-b1']);

      expect(r.shredding).toBe('pending');
      expect(r.counts.deliveriesCancelled).toBeGreaterThanOrEqual(1);
      expect(await q(`select * from data_keys where patient_id = 'pa'`)).toEqual([]);
      expect(await q(`select * from patients where id = 'pa'`)).toEqual([]);
      expect(await q(`select * from contact_points where patient_id = 'pa'`)).toEqual([]);
      expect(await q(`select * from appointments where patient_id = 'pa'`)).toEqual([]);
      // Keys are stored hashed: a record is found by the answer it holds.
      const recordOf = (id: string) => q(`select key from idempotency_keys where response like '{"id":"${id}",%'`);
      expect(await recordOf(sent.body.id)).toEqual([]);
      expect(await recordOf(sentB.body.id)).toHaveLength(1);
      const aDeliveries = (await q(`select id from deliveries where patient_id = 'pa'`)).map((d) => d.id as string);
      expect(aDeliveries.length).toBeGreaterThanOrEqual(2);
      for (const id of aDeliveries) expect(await q(`select * from dev_outbox where delivery_id = '${id}'`)).toEqual([]);
      expect((await q(`select count(*) as n from dev_outbox`))[0].n).toEqual(backend === 'postgres' ? '1' : 1); // B's stays
      // Tombstones: rows stay with ids, type, times and statuses; their content is gone.
      const ns = await q(
        `select id, type, data_ct, cancelled_at from notifications where patient_id = 'pa' order by id`,
      );
      expect(ns.map((n) => n.id)).toEqual(expect.arrayContaining([sent.body.id, later.body.id])); // and the appointment's reminders
      for (const n of ns) expect(Buffer.from(n.data_ct as Uint8Array).length).toBe(0);
      const ds = await q(
        `select status, link_ct, last_error_code from deliveries where patient_id = 'pa' order by created_at`,
      );
      expect(ds.map((d) => d.status)).toEqual(expect.arrayContaining(['delivered', 'cancelled']));
      for (const d of ds) expect(d.link_ct).toBeNull();
      expect(ds.filter((d) => d.status === 'cancelled').every((d) => d.last_error_code === 'SP_PATIENT_ERASED')).toBe(
        true,
      );
      const links = await q(`select burned_at, otp_hash from access_links where patient_id = 'pa'`);
      expect(links.length).toBeGreaterThan(0);
      for (const l of links) expect(l.burned_at).not.toBeNull();
      // B is untouched.
      expect(await patients.get(ctx, 'pb')).toMatchObject({ id: 'pb' });
      const after = await db.rowCounts();
      expect(after.erasures).toBe(1);
      expect(after.data_keys).toBe(pbBefore.data_keys - 1);
      // The erasure is on the record with the pseudonymous reference only.
      const entry = (await q(`select entry, patient_ref from audit_entries where action = 'patient.erased'`))[0];
      expect(entry.patient_ref).toMatch(/^[0-9a-f]{32}$/);
      expect(String(entry.entry)).not.toContain('"pa"');
    } finally {
      await closeAll();
    }
  });

  it("deletes the dev-outbox copies of one-time codes sent for the erased patient's links, and only those", async () => {
    const { db, app } = await start();
    try {
      const { patients, notifications } = app.services;
      await patients.upsert(ctx, 'pa', samplePatient() as never);
      await patients.upsert(ctx, 'pb', samplePatient({ telecom: [{ system: 'sms', value: '+14155550100' }] }) as never);
      const a = await notifications.create(ctx, followUp('pa') as never);
      const b = await notifications.create(ctx, followUp('pb') as never);
      // The copy a one-time code request leaves in the dev outbox is named after the delivery whose link asked.
      const otp = (deliveryId: string) => ({
        delivery_id: `otp-${deliveryId}-1`,
        tenant_id: 'default',
        channel: 'sms',
        recipient_ct: new Uint8Array([1]),
        subject: null,
        body_ct: new Uint8Array([1]),
        created_at: Date.now(),
      });
      await app.store.transaction(async (tx) => {
        await tx.outbox.recordMany([otp(a.body.deliveries[0].id)]);
        await tx.outbox.recordMany([otp(b.body.deliveries[0].id)]);
      });
      await patients.erase(ctx, 'pa');
      const left = await db.query<{ delivery_id: string }>(`select delivery_id from dev_outbox`);
      expect(left.map((r) => r.delivery_id)).toEqual([`otp-${b.body.deliveries[0].id}-1`]);
    } finally {
      await closeAll();
    }
  });

  it('answers gone for the erased patient and its notifications, unknown for an id never seen, and changes nothing on a second erasure', async () => {
    const { db, app } = await start();
    try {
      const { patients, notifications } = app.services;
      await patients.upsert(ctx, 'pa', samplePatient() as never);
      const n = await notifications.create(ctx, followUp('pa') as never);
      await patients.erase(ctx, 'pa');
      await expect(patients.get(ctx, 'pa')).rejects.toMatchObject({ code: 'SP_PATIENT_ERASED', status: 410 });
      await expect(notifications.get(ctx, n.body.id)).rejects.toMatchObject({ code: 'SP_PATIENT_ERASED' });
      await expect(patients.erase(ctx, 'nobody')).rejects.toMatchObject({ code: 'SP_PATIENT_NOT_FOUND' });
      await expect(patients.erase(ctx, 'bad id!')).rejects.toMatchObject({ code: 'SP_PATIENT_INVALID_ID' });
      // The first erasure's key rotation runs in the background and writes its own rows: let it finish first.
      await eventually(
        async () => (await patients.erasureStatus(ctx, 'pa'))?.shredding === 'complete',
        'the erasure to complete',
      );
      const before = await db.rowCounts();
      await expect(patients.erase(ctx, 'pa')).rejects.toBeInstanceOf(AppError);
      await expect(patients.erase(ctx, 'pa')).rejects.toMatchObject({ code: 'SP_PATIENT_ERASED' });
      expect(await db.rowCounts()).toEqual(before);
      expect((await patients.erasureStatus(ctx, 'pa'))?.shredding).toBe('complete');
    } finally {
      await closeAll();
    }
  });

  it('re-creating an erased id gets a new data key, and content sealed under the old one stays unreadable', async () => {
    const { db, app } = await start();
    try {
      const { patients } = app.services;
      await patients.upsert(ctx, 'pa', samplePatient() as never);
      const old = (await db.query<{ wrapped: Uint8Array }>(`select wrapped from data_keys where patient_id = 'pa'`))[0]
        .wrapped;
      const oldName = (await db.query<{ name_ct: Uint8Array }>(`select name_ct from patients where id = 'pa'`))[0]
        .name_ct;
      await patients.erase(ctx, 'pa');
      await patients.upsert(ctx, 'pa', samplePatient({ name: { given: ['Other'] } }) as never);
      const fresh = (
        await db.query<{ key_id: string; wrapped: Uint8Array }>(
          `select key_id, wrapped from data_keys where patient_id = 'pa'`,
        )
      )[0];
      expect(Buffer.from(fresh.wrapped).equals(Buffer.from(old))).toBe(false);
      expect((await patients.get(ctx, 'pa')).name).toEqual({ given: ['Other'] });
      // The old name ciphertext (as a pre-erasure copy would hold it) does not open under the new key.
      const deps = (app.services.patients as unknown as { deps: CoreDeps }).deps;
      const key = await patientDataKey(deps, app.store.read, 'default', 'pa');
      expect(() =>
        deps.cipher.decrypt(key!, { tenantId: 'default', table: 'patients', rowId: 'pa', field: 'name' }, oldName),
      ).toThrow(expect.objectContaining({ code: 'SP_CRYPTO_DECRYPT_FAILED' }));
    } finally {
      await closeAll();
    }
  });

  it('a delivery being sent while its patient is erased is recorded as cancelled, never as sent, and its outbox copy does not survive', async () => {
    let app!: App;
    const gated = new GatedChannel('sms', async (m) => {
      // What the dev outbox does during a send: write its sealed copy before the provider answers.
      await app.store.read.outbox.recordMany([
        {
          delivery_id: m.deliveryId,
          tenant_id: m.tenantId,
          channel: 'sms',
          recipient_ct: new Uint8Array([1]),
          subject: null,
          body_ct: new Uint8Array([1]),
          created_at: Date.now(),
        },
      ]);
    });
    const started = await start({ sms: gated });
    app = started.app;
    const { db } = started;
    try {
      const { patients, notifications } = app.services;
      await patients.upsert(ctx, 'pa', samplePatient() as never);
      const n = await notifications.create(ctx, followUp('pa', { channels: ['sms'] }) as never);
      const processing = work(app);
      const m = await gated.started;
      await patients.erase(ctx, 'pa');
      gated.gate();
      const outcomes = await processing;
      expect(outcomes.map((o) => o.status)).toEqual(['lost-lease']);
      const d = (
        await db.query<{ status: string; sent_at: unknown }>(
          `select status, sent_at from deliveries where id = '${m.deliveryId}'`,
        )
      )[0];
      expect(d).toMatchObject({ status: 'cancelled', sent_at: null });
      expect(await db.query(`select * from dev_outbox where delivery_id = '${m.deliveryId}'`)).toEqual([]);
      expect(await db.query(`select * from audit_entries where action = 'delivery.sent'`)).toEqual([]);
      await expect(notifications.get(ctx, n.body.id)).rejects.toMatchObject({ code: 'SP_PATIENT_ERASED' });
    } finally {
      await closeAll();
    }
  });

  async function closeAll() {
    for (const a of apps.splice(0)) await a.close();
  }
});
