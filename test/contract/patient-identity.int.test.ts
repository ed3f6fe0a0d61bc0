import { afterEach, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { PATIENT_ID_PATTERN } from '../../src/core/patient-service.js';
import { rotateBlindIndexKey } from '../../src/core/key-rotation.js';
import { openKeyProvider } from '../../src/crypto/open-key-provider.js';
import type { Channel, OutboundMessage, SendResult } from '../../src/channels/channel.js';
import type { ChannelKind } from '../../src/core/domain.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

/**
 * Patient identity per backend: identifiers (sealed, blind-indexed, one patient each), their
 * erasure tombstones and re-indexing at a blind-index rotation, and merges (HL7 A40): what moves to
 * the survivor, what the retired id answers, and bad requests that change nothing.
 */

const ctx = { tenantId: 'default', actor: 'test' };

/** A channel (our own port) that records whom it was asked to reach. */
class RecordingChannel implements Channel {
  readonly provider = 'recording';
  readonly to: string[] = [];
  constructor(readonly kind: ChannelKind) {}
  async send(m: OutboundMessage): Promise<SendResult> {
    this.to.push(m.to);
    return { status: 'delivered', providerMessageId: `rec-${m.deliveryId}` };
  }
}
const MRN = { system: 'HOSP-MRN', value: 'MRN-000123' };
const DAY = 86_400_000;

/** The tables identity touches, row by row (a digest of each), plus the audit log's length. */
async function snapshot(db: TestDatabase): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of [
    'patients',
    'patient_identifiers',
    'contact_points',
    'data_keys',
    'appointments',
    'notifications',
    'deliveries',
    'erasures',
  ]) {
    const rows = await db.query(`select * from ${t}`);
    const text = rows
      .map((r) =>
        JSON.stringify(r, (_k, v) =>
          typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
        ),
      )
      .sort();
    out[t] = text.join('\n');
  }
  out.audit = String((await db.rowCounts()).audit_entries);
  return out;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'resolved';
}

describeEachBackend('patient identity', (backend) => {
  const fresh = freshDatabases(backend);
  const apps: App[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });

  async function start(
    db?: TestDatabase,
    channels: Partial<Record<ChannelKind, Channel>> = {},
  ): Promise<{ db: TestDatabase; app: App }> {
    db ??= await fresh({ prefix: 'sealpost-identity-' });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), channels });
    await app.connect?.();
    apps.push(app);
    return { db, app };
  }

  it('stores identifiers sealed, answers them on read, finds the patient by them and replaces the set only when given', async () => {
    const { db, app } = await start();
    const { patients } = app.services;
    const put = await patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [MRN] } as never);
    expect(put.patient.identifiers).toEqual([MRN]);
    expect((await patients.get(ctx, 'pa')).identifiers).toEqual([MRN]);
    const rows = await db.query<{ system: string; value_ct: Uint8Array; lookup_bidx: string }>(
      'select system, value_ct, lookup_bidx from patient_identifiers',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.system).toBe('HOSP-MRN');
    expect(Buffer.from(rows[0]!.value_ct).includes(Buffer.from(MRN.value))).toBe(false);
    expect(rows[0]!.lookup_bidx).not.toContain(MRN.value);

    expect(await patients.findByIdentifier(ctx, MRN)).toEqual({ patientId: 'pa', erased: false });
    // Same value under another system is another identifier.
    expect(await patients.findByIdentifier(ctx, { system: 'OTHER', value: MRN.value })).toBeNull();

    // Omitted: the stored set stays; given: it replaces the set.
    await patients.upsert(ctx, 'pa', samplePatient({ language: 'es' }) as never);
    expect((await patients.get(ctx, 'pa')).identifiers).toEqual([MRN]);
    const other = { system: 'urn:oid:2.16.840.1.113883.19.5', value: '998877' };
    await patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [other] } as never);
    expect((await patients.get(ctx, 'pa')).identifiers).toEqual([other]);
    expect(await patients.findByIdentifier(ctx, MRN)).toBeNull();
    await patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [] } as never);
    expect((await patients.get(ctx, 'pa')).identifiers).toEqual([]);
  });

  it('gives patients created from HL7 or FHIR distinct opaque ids that are valid patient ids', async () => {
    const { app } = await start();
    const ids = new Set(Array.from({ length: 50 }, () => app.services.patients.newPatientId()));
    expect(ids.size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(PATIENT_ID_PATTERN);
      expect(id).toMatch(/^[A-Za-z0-9.-]{1,64}$/); // a FHIR id too
    }
  });

  it('refuses an identifier another patient holds, and malformed identifiers, changing nothing', async () => {
    const { db, app } = await start();
    const { patients } = app.services;
    await patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [MRN] } as never);
    await patients.upsert(ctx, 'pb', samplePatient() as never);
    const before = await snapshot(db);
    expect(await code(patients.upsert(ctx, 'pb', { ...samplePatient(), identifiers: [MRN] } as never))).toBe(
      'SP_PATIENT_IDENTIFIER_CONFLICT',
    );
    expect(await code(patients.upsert(ctx, 'pc', { ...samplePatient(), identifiers: [MRN] } as never))).toBe(
      'SP_PATIENT_IDENTIFIER_CONFLICT',
    );
    for (const bad of [
      { system: 'HOSP', value: 'MRN\u0000X' },
      { system: 'HOSP', value: 'MRN\nX' },
      { system: 'HO\u0085SP', value: '1' },
      { system: 'HOSP', value: '' },
      { system: '', value: '1' },
      { system: 'HOSP', value: 'x'.repeat(129) },
      { system: 's'.repeat(257), value: '1' },
    ]) {
      expect(await code(patients.upsert(ctx, 'pb', { ...samplePatient(), identifiers: [bad] } as never))).toBe(
        'SP_PATIENT_INVALID_IDENTIFIER',
      );
      expect(await code(patients.findByIdentifier(ctx, bad))).toBe('SP_PATIENT_INVALID_IDENTIFIER');
    }
    const many = Array.from({ length: 21 }, (_, i) => ({ system: 'HOSP', value: `V${i}` }));
    expect(await code(patients.upsert(ctx, 'pb', { ...samplePatient(), identifiers: many } as never))).toBe(
      'SP_PATIENT_INVALID_IDENTIFIER',
    );
    expect(await snapshot(db)).toEqual(before);
  });

  it('gives an identifier claimed by several patients at once to exactly one of them', async () => {
    const { db, app } = await start();
    const { patients } = app.services;
    const ids = ['r1', 'r2', 'r3', 'r4'];
    const results = await Promise.allSettled(
      ids.map((id) => patients.upsert(ctx, id, { ...samplePatient(), identifiers: [MRN] } as never)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: string }).code] : []));
    expect(won).toHaveLength(1);
    expect(lost).toEqual([
      'SP_PATIENT_IDENTIFIER_CONFLICT',
      'SP_PATIENT_IDENTIFIER_CONFLICT',
      'SP_PATIENT_IDENTIFIER_CONFLICT',
    ]);
    const rows = await db.query<{ patient_id: string }>('select patient_id from patient_identifiers');
    expect(rows).toHaveLength(1);
    // The losers wrote nothing at all: their transactions rolled back whole.
    const created = await db.query<{ id: string }>('select id from patients');
    expect(created.map((p) => p.id)).toEqual([rows[0]!.patient_id]);
  });

  it('keeps an erased patient identifiers as tombstones: found as erased, never given to anyone again', async () => {
    const { db, app } = await start();
    const { patients } = app.services;
    await patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [MRN] } as never);
    const erased = await patients.erase(ctx, 'pa', { shredInBackground: false });
    expect(erased.counts.identifiers).toBe(1);
    const rows = await db.query<{ value_ct: unknown; erased_at: unknown; patient_id: string }>(
      'select value_ct, erased_at, patient_id from patient_identifiers',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.value_ct).toBeNull();
    expect(rows[0]!.erased_at).not.toBeNull();
    expect(await patients.findByIdentifier(ctx, MRN)).toEqual({ patientId: 'pa', erased: true });
    const before = await snapshot(db);
    expect(await code(patients.upsert(ctx, 'pz', { ...samplePatient(), identifiers: [MRN] } as never))).toBe(
      'SP_PATIENT_IDENTIFIER_ERASED',
    );
    expect(await snapshot(db)).toEqual(before);
  });

  it('re-indexes identifiers at a blind-index key rotation, and lookups keep working', async () => {
    const first = await start();
    await first.app.services.patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [MRN] } as never);
    await first.app.services.patients.upsert(ctx, 'pb', {
      ...samplePatient(),
      identifiers: [{ system: 'X', value: '1' }],
    } as never);
    await first.app.services.patients.erase(ctx, 'pb', { shredInBackground: false });
    await first.app.close();
    apps.splice(0);
    const store = first.db.open();
    const { provider } = await openKeyProvider(first.app.config.keys);
    const r = await rotateBlindIndexKey(store, provider, { createVersion: true });
    await store.close();
    expect(r.version).toBe(2);
    const rows = await first.db.query<{ lookup_bidx: string; erased_at: unknown }>(
      'select lookup_bidx, erased_at from patient_identifiers order by erased_at',
    );
    const live = rows.filter((x) => x.erased_at === null);
    expect(live.map((x) => x.lookup_bidx.startsWith('v2:'))).toEqual([true]);
    // The tombstone keeps its reference-key index.
    expect(rows.filter((x) => x.erased_at !== null).map((x) => x.lookup_bidx.startsWith('t:'))).toEqual([true]);
    const { app } = await start(first.db);
    expect(await app.services.patients.findByIdentifier(ctx, MRN)).toEqual({ patientId: 'pa', erased: false });
    expect(await app.services.patients.findByIdentifier(ctx, { system: 'X', value: '1' })).toEqual({
      patientId: 'pb',
      erased: true,
    });
  });

  it('finds and keeps identifiers still in the old index form while a blind-index rotation has not reached them', async () => {
    const first = await start();
    await first.app.services.patients.upsert(ctx, 'pa', { ...samplePatient(), identifiers: [MRN] } as never);
    await first.app.close();
    apps.splice(0);
    // A new current version, nothing re-indexed yet: what every node sees mid-rotation.
    const { provider } = await openKeyProvider(first.app.config.keys);
    await provider.createKeyVersion('blind-index', null);
    const { app, db } = await start(first.db);
    const { patients } = app.services;
    expect(await patients.findByIdentifier(ctx, MRN)).toEqual({ patientId: 'pa', erased: false });
    expect(await code(patients.upsert(ctx, 'pb', { ...samplePatient(), identifiers: [MRN] } as never))).toBe(
      'SP_PATIENT_IDENTIFIER_CONFLICT',
    );
    // Its holder writing it again keeps the row and moves it to the current form.
    const [row] = await db.query<{ id: string; lookup_bidx: string }>(
      'select id, lookup_bidx from patient_identifiers',
    );
    expect(row!.lookup_bidx.startsWith('v2:')).toBe(false);
    await patients.upsert(ctx, 'pa', { ...samplePatient({ language: 'es' }), identifiers: [MRN] } as never);
    const after = await db.query<{ id: string; lookup_bidx: string }>(
      'select id, lookup_bidx from patient_identifiers',
    );
    expect(after.map((r) => [r.id, r.lookup_bidx.startsWith('v2:')])).toEqual([[row!.id, true]]);
  });

  it('merges a patient with two pending reminders into another: identifiers, appointment and reminders follow the survivor and its contact points', async () => {
    const sms = new RecordingChannel('sms');
    const email = new RecordingChannel('email');
    const { db, app } = await start(undefined, { sms, email });
    const { patients, appointments, notifications } = app.services;
    // The retired record: an opted-in phone, its MRN, an appointment with reminders at T-1d and T-2h.
    await patients.upsert(ctx, 'old', {
      ...samplePatient({ telecom: [{ system: 'sms', value: '+14155550101' }] }),
      identifiers: [{ system: 'HOSP-MRN', value: 'OLD-1' }],
    } as never);
    await patients.upsert(ctx, 'new', {
      ...samplePatient({ telecom: [{ system: 'email', value: 'survivor@example.com' }], timeZone: 'Europe/Paris' }),
      identifiers: [MRN],
    } as never);
    const start2 = new Date(Date.now() + 3 * DAY).toISOString();
    const booked = await appointments.upsert(ctx, 'appt-1', { patientId: 'old', start: start2, location: 'Room 4' });
    const pending = booked.answer.reminders.filter((x) => x.status === 'scheduled');
    expect(pending.length).toBeGreaterThanOrEqual(2);
    const later = await notifications.create(ctx, {
      type: 'follow_up',
      patientId: 'old',
      data: { reason: 'check-up', dueDate: '2031-01-01' },
      sendAt: new Date(Date.now() + 2 * DAY).toISOString(),
    } as never);

    // Due now (queued, not yet claimed by a worker): it moves too, and goes out at once.
    const due = await notifications.create(ctx, {
      type: 'follow_up',
      patientId: 'old',
      data: { reason: 'check-up', dueDate: '2031-01-01' },
    } as never);
    expect(due.body.deliveries.map((d) => d.status)).toEqual(['queued']);

    const merged = await patients.merge(ctx, { survivorId: 'new', retiredId: 'old' });
    expect(merged).toMatchObject({
      appointmentsMoved: 1,
      identifiersMoved: 1,
      notificationsMoved: pending.length + 2,
      notificationsDropped: 0,
    });
    const now = Date.now();
    const batch = await app.processor.claim(50, now, now + 60_000);
    expect((await batch.finish()).map((o) => o.status)).toEqual(['delivered']);
    expect([sms.to, email.to]).toEqual([[], ['survivor@example.com']]);

    // The retired id answers as merged; its MRN now finds the survivor, who holds both identifiers.
    expect(await code(patients.get(ctx, 'old'))).toBe('SP_PATIENT_MERGED');
    expect(await patients.mergedInto('default', 'old')).toBe('new');
    expect(await patients.mergedInto('default', 'new')).toBeNull();
    expect(await patients.findByIdentifier(ctx, { system: 'HOSP-MRN', value: 'OLD-1' })).toEqual({
      patientId: 'new',
      erased: false,
    });
    expect((await patients.get(ctx, 'new')).identifiers).toEqual([MRN, { system: 'HOSP-MRN', value: 'OLD-1' }]);

    // The old reminders and the follow-up are cancelled; new ones go to the survivor's e-mail.
    expect((await notifications.get(ctx, later.body.id)).status).toBe('cancelled');
    const survivorContacts = await db.query<{ id: string }>("select id from contact_points where patient_id = 'new'");
    const live = await db.query<{ id: string; patient_id: string; appointment_id: string | null; type: string }>(
      'select id, patient_id, appointment_id, type from notifications where cancelled_at is null',
    );
    expect(live.every((n) => n.patient_id === 'new')).toBe(true);
    expect(live.filter((n) => n.appointment_id === 'appt-1')).toHaveLength(pending.length);
    expect(live.filter((n) => n.type === 'follow_up')).toHaveLength(2);
    const deliveries = await db.query<{ contact_point_id: string; status: string; channel: string }>(
      `select contact_point_id, status, channel from deliveries where notification_id in (${live.map((n) => `'${n.id}'`).join(',')})`,
    );
    expect(deliveries.length).toBe(live.length);
    for (const d of deliveries) {
      expect(survivorContacts.map((c) => c.id)).toContain(d.contact_point_id);
      expect(d.channel).toBe('email');
    }
    expect(deliveries.map((d) => d.status).sort()).toEqual([
      'delivered',
      ...Array.from({ length: pending.length + 1 }, () => 'scheduled'),
    ]);
    const oldPending = await db.query(
      "select id from deliveries where patient_id = 'old' and status in ('scheduled', 'queued', 'sending')",
    );
    expect(oldPending).toEqual([]);

    // The appointment belongs to the survivor, its details re-sealed under the survivor's key.
    const appt = await appointments.get(ctx, 'appt-1');
    expect(appt.status).toBe('booked');
    expect(appt.reminders.filter((x) => x.status === 'scheduled')).toHaveLength(pending.length);
    const moved = await appointments.upsert(ctx, 'appt-1', {
      patientId: 'new',
      start: new Date(Date.now() + 4 * DAY).toISOString(),
      location: 'Room 4',
    });
    expect(moved.created).toBe(false);
    // Still named by the retired id (an EHR that missed the merge): the answer says where it went.
    expect(
      await code(
        appointments.upsert(ctx, 'appt-1', { patientId: 'old', start: new Date(Date.now() + 5 * DAY).toISOString() }),
      ),
    ).toBe('SP_PATIENT_MERGED');

    // Audited once, by pseudonymous references: no patient id in the entry.
    const entries = await db.query<{ entry: string }>(
      "select entry from audit_entries where entry like '%patient.merged%'",
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]!.entry).not.toMatch(/"(old|new)"/);
    expect(entries[0]!.entry).not.toContain('OLD-1');
  });

  it('refuses to write to, notify or book for a merged id, and changes nothing', async () => {
    const { db, app } = await start();
    const { patients, appointments, notifications } = app.services;
    await patients.upsert(ctx, 'old', samplePatient() as never);
    await patients.upsert(ctx, 'new', samplePatient() as never);
    await patients.merge(ctx, { survivorId: 'new', retiredId: 'old' });
    const before = await snapshot(db);
    expect(await code(patients.upsert(ctx, 'old', samplePatient() as never))).toBe('SP_PATIENT_MERGED');
    expect(
      await code(
        appointments.upsert(ctx, 'appt-x', { patientId: 'old', start: new Date(Date.now() + 3 * DAY).toISOString() }),
      ),
    ).toBe('SP_PATIENT_MERGED');
    expect(
      await code(
        notifications.create(ctx, {
          type: 'follow_up',
          patientId: 'old',
          data: { reason: 'check-up', dueDate: '2031-01-01' },
        } as never),
      ),
    ).toBe('SP_PATIENT_MERGED');
    expect(await snapshot(db)).toEqual(before);
  });

  it('lets concurrent merges of the same patients commit only in an order that could have run one by one, so no merge cycle can form', async () => {
    const { db, app } = await start();
    const { patients } = app.services;
    for (const id of ['a', 'b', 'c']) await patients.upsert(ctx, id, samplePatient() as never);
    let committed = 0;
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled([
        patients.merge(ctx, { survivorId: 'b', retiredId: 'a' }),
        patients.merge(ctx, { survivorId: 'a', retiredId: 'b' }),
        patients.merge(ctx, { survivorId: 'c', retiredId: 'a' }),
      ]);
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: string }).code] : []));
      expect(lost).toEqual(lost.map(() => 'SP_PATIENT_MERGED'));
      committed += results.length - lost.length;
      // One by one, the first merge always commits; b into a and then a into c also may (a chain, b → a → c).
      if (round === 0) expect([1, 2]).toContain(committed);
      else expect(lost).toHaveLength(3);
      const merged = await db.query<{ id: string; merged_into: string }>(
        'select id, merged_into from patients where merged_into is not null',
      );
      expect(merged).toHaveLength(committed);
      // Following merged_into from any patient ends at one that is not merged: no cycle.
      const next = new Map(merged.map((m) => [m.id, m.merged_into]));
      for (const start of next.keys()) {
        let at: string | undefined = start;
        for (let hops = 0; at && hops <= next.size; hops++) at = next.get(at);
        expect(at).toBeUndefined();
      }
    }
  });

  it('refuses merges into self, of unknown, erased or already merged patients, changing nothing', async () => {
    const { db, app } = await start();
    const { patients } = app.services;
    await patients.upsert(ctx, 'a', { ...samplePatient(), identifiers: [MRN] } as never);
    await patients.upsert(ctx, 'b', samplePatient() as never);
    await patients.upsert(ctx, 'c', samplePatient() as never);
    await patients.upsert(ctx, 'gone', samplePatient() as never);
    await patients.erase(ctx, 'gone', { shredInBackground: false });
    await patients.merge(ctx, { survivorId: 'b', retiredId: 'c' });
    const before = await snapshot(db);
    const cases: [string, string, string][] = [
      ['a', 'a', 'SP_PATIENT_MERGE_SELF'],
      ['a', 'nobody', 'SP_PATIENT_NOT_FOUND'],
      ['nobody', 'a', 'SP_PATIENT_NOT_FOUND'],
      ['a', 'gone', 'SP_PATIENT_ERASED'],
      ['gone', 'a', 'SP_PATIENT_ERASED'],
      ['a', 'c', 'SP_PATIENT_MERGED'],
      ['c', 'a', 'SP_PATIENT_MERGED'],
      ['a', '../x', 'SP_PATIENT_INVALID_ID'],
    ];
    for (const [survivorId, retiredId, expected] of cases)
      expect([survivorId, retiredId, await code(patients.merge(ctx, { survivorId, retiredId }))]).toEqual([
        survivorId,
        retiredId,
        expected,
      ]);
    expect(await snapshot(db)).toEqual(before);
  });
});
