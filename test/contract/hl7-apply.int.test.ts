import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { parseHl7 } from '../../src/ehr/hl7/message.js';
import type { Hl7Origin } from '../../src/ehr/hl7-apply/hl7-service.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';

/**
 * What HL7 v2 messages do, per backend, through the service the MLLP listener calls: senders, the
 * store-then-acknowledge rule, duplicates, ACK codes by mode, the error queue and replay, and the
 * ADT/SIU/ORU mappings on the sample messages of test/fixtures/hl7v2 (each with its own MSH-10,
 * as they share control ids). The clock is 1 September 2020, before every sample's appointment.
 */

const FIXTURES = new URL('../fixtures/hl7v2/', import.meta.url);
const NOW = new Date('2020-09-01T00:00:00Z');
const ctx = { tenantId: 'default', actor: 'test' };
const operator: Hl7Origin = { remoteAddress: '127.0.0.1', tls: false };

let counter = 0;
/** A sample (or hand-made) message with `\r` segment ends and a fresh MSH-10 (unless `controlId` is given). */
function message(text: string, o: { controlId?: string; set?: Record<number, string> } = {}): string {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .filter((l) => l.trim());
  const msh = lines[0].split('|');
  msh[9] = o.controlId ?? `T${++counter}-${msh[9]}`.slice(0, 60);
  for (const [n, v] of Object.entries(o.set ?? {})) msh[Number(n) - 1] = v;
  lines[0] = msh.join('|');
  return lines.join('\r');
}
const fixture = (name: string, o?: Parameters<typeof message>[1]) =>
  message(readFileSync(new URL(name, FIXTURES), 'utf8'), o);

function ackOf(ack: string) {
  const m = parseHl7(ack);
  const msa = m.segment('MSA')!;
  const err = m.segment('ERR');
  return {
    code: msa.get(1),
    controlId: msa.get(2),
    error: err ? { code: err.get(3, 2), hl7: err.get(3, 1), segment: err.get(2, 1), field: err.get(2, 3) } : null,
  };
}

const PATIENT_SYSTEM = 'test1'; // PID-3 CX-4 of the sample SIU/ADT patient PATID1234 (their senders' authority)
/** The identifier system of the sender Ntierprise / Ntierprise Clinic (registered without an authority). */
const NTIERPRISE = 'urn:sealpost:hl7:Ntierprise|Ntierprise Clinic';

describeEachBackend('HL7 v2 messages applied', (backend) => {
  const fresh = freshDatabases(backend);
  const apps: App[] = [];

  async function start(): Promise<{ db: TestDatabase; app: App }> {
    const db = await fresh({ prefix: 'sealpost-hl7-', migrated: true });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), clock: () => NOW });
    apps.push(app);
    return { db, app };
  }
  const close = async () => {
    for (const a of apps.splice(0)) await a.close();
  };

  const senders = (app: App) => app.services.hl7.senders;
  const receive = (app: App, raw: string, origin: Hl7Origin = operator) => app.services.hl7.receive(raw, origin);
  const patientOf = async (app: App, value: string, system = PATIENT_SYSTEM) =>
    app.services.patients.findByIdentifier(ctx, { system, value });

  it('refuses unknown senders (AR, MSH-3), stores nothing, and answers enhanced mode with CR', async () => {
    const { db, app } = await start();
    try {
      const before = await db.rowCounts();
      const r = await receive(app, fixture('SIU-S12-01.hl7'));
      expect(r.status).toBe('rejected');
      const ack = ackOf(r.ack);
      expect(ack.code).toBe('AR');
      expect(ack.error).toMatchObject({ code: 'SP_HL7_UNKNOWN_SENDER', hl7: '103', segment: 'MSH', field: '3' });
      const enhanced = await receive(app, fixture('SIU-S12-01.hl7', { set: { 15: 'AL', 16: 'NE' } }));
      expect(ackOf(enhanced.ack).code).toBe('CR');
      const after = await db.rowCounts();
      expect({ ...after, audit_entries: 0 }).toEqual({ ...before, audit_entries: 0 });
      expect(after.hl7_messages).toBe(0);
    } finally {
      await close();
    }
  });

  /** The sample SIU patient, registered (with a mobile number) before its appointments arrive. */
  const registerSiuPatient = (app: App) =>
    app.services.patients.upsert(ctx, 'everyman', {
      name: { family: 'EVERYMAN', given: ['ADAM'] },
      birthDate: '1988-08-18',
      telecom: [{ system: 'sms', value: '+14155550142' }],
      timeZone: 'America/Chicago',
      identifiers: [{ system: PATIENT_SYSTEM, value: 'PATID1234' }],
    });

  const appointmentIds = async (db: TestDatabase) =>
    (await db.query<{ external_id: string }>('select external_id from appointments order by created_at')).map(
      (r) => r.external_id,
    );
  const ph = (db: TestDatabase, n: number) => (db.backend === 'postgres' ? `$${n}` : '?');

  it('books, reschedules, updates and cancels an appointment from the sample SIU messages, with the REST reminder series', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, {
        app: 'SCHApp',
        facility: 'GHHSFacility',
        patientIdAuthority: PATIENT_SYSTEM,
        timeZone: 'America/Chicago',
      });
      // A new patient without any contact point cannot be reminded: the booking waits in the error queue
      // (and creates nobody) until the patient has one.
      const noChannel = await receive(app, fixture('SIU-S12-01.hl7'));
      expect(ackOf(noChannel.ack)).toMatchObject({
        code: 'AE',
        error: { code: 'SP_NOTIFICATION_NO_CHANNEL', segment: 'PID', field: '13' },
      });
      expect(await patientOf(app, 'PATID1234')).toBeNull();
      await registerSiuPatient(app);
      expect(await app.services.hl7.replay(ctx, noChannel.messageId!)).toMatchObject({ status: 'replayed' });
      expect(await appointmentIds(db)).toHaveLength(1);

      const book = await receive(app, fixture('SIU-S12-01.hl7'));
      expect(ackOf(book.ack)).toMatchObject({ code: 'AA', controlId: book.controlId, error: null });
      expect(book.status).toBe('applied');
      const found = await patientOf(app, 'PATID1234');
      expect(found).toEqual({ patientId: 'everyman', erased: false });

      // The appointment's id is opaque too; the reminders are the tenant's series (T-7d, T-1d, T-2h).
      const [appointmentId, ...more] = await appointmentIds(db);
      expect(more).toEqual([]);
      expect(appointmentId).toMatch(/^hl7-/);
      expect(appointmentId).not.toContain('36996');
      const booked = await app.services.appointments.get(ctx, appointmentId);
      expect(booked.start).toBe('2021-09-24T07:15:00.000Z'); // 09:30 at +02:15 (TQ1-7)
      expect(booked.reminders.map((r) => r.runAt)).toEqual([
        '2021-09-17T07:15:00.000Z',
        '2021-09-23T07:15:00.000Z',
        '2021-09-24T05:15:00.000Z',
      ]);
      const row = (await app.store.read.hl7Messages.get('default', book.messageId!))!;
      expect(row).toMatchObject({ status: 'applied', ack_code: 'AA', patient_id: found!.patientId });

      const moved = await receive(app, fixture('SIU-S13-02.hl7'));
      expect(ackOf(moved.ack).code).toBe('AA');
      const rescheduled = await app.services.appointments.get(ctx, appointmentId);
      expect(rescheduled.start).toBe('2021-08-20T09:15:00.000Z'); // 11:30 at +02:15
      expect(rescheduled.reminders.filter((r) => r.status === 'scheduled')).toHaveLength(3);
      expect(rescheduled.reminders.filter((r) => r.status === 'cancelled')).toHaveLength(3);

      expect(ackOf((await receive(app, fixture('SIU-S14-01.hl7'))).ack).code).toBe('AA');
      expect((await app.services.appointments.get(ctx, appointmentId)).start).toBe('2021-09-24T07:15:00.000Z');

      for (const cancel of ['SIU-S15-01.hl7', 'SIU-S16-01.hl7', 'SIU-S17-01.hl7', 'SIU-S26-01.hl7']) {
        expect(ackOf((await receive(app, fixture('SIU-S12-02.hl7'))).ack).code).toBe('AA');
        expect((await app.services.appointments.get(ctx, appointmentId)).status).toBe('booked');
        const r = await receive(app, fixture(cancel));
        expect([cancel, ackOf(r.ack).code]).toEqual([cancel, 'AA']);
        const a = await app.services.appointments.get(ctx, appointmentId);
        expect(a.status).toBe('cancelled');
        expect(a.reminders.filter((x) => x.status === 'scheduled')).toEqual([]);
      }
      for (const other of ['SIU-S13-01.hl7', 'SIU-S14-02.hl7', 'SIU-S15-02.hl7', 'SIU-S16-02.hl7', 'SIU-S17-02.hl7']) {
        expect(ackOf((await receive(app, fixture('SIU-S12-01.hl7'))).ack).code).toBe('AA');
        expect([other, ackOf((await receive(app, fixture(other))).ack).code]).toEqual([other, 'AA']);
      }
      expect(ackOf((await receive(app, fixture('SIU-S26-02.hl7'))).ack).code).toBe('AA');
      // One appointment for the sender's placer/filler pair throughout, one patient.
      expect(await appointmentIds(db)).toEqual([appointmentId]);
      expect((await db.query('select id from patients')).length).toBe(1);

      // Another sender's SCH-1/SCH-2 of the same values is another appointment (SIU-S12_1 is ADTApp's).
      await senders(app).add(ctx, {
        app: 'ADTApp',
        facility: 'GHHSFacility',
        patientIdAuthority: PATIENT_SYSTEM,
        timeZone: 'UTC',
      });
      expect(ackOf((await receive(app, fixture('SIU-S12_1.hl7'))).ack).code).toBe('AA');
      expect((await db.query('select id from patients')).length).toBe(1);
      expect(await appointmentIds(db)).toHaveLength(2);
    } finally {
      await close();
    }
  });

  it('registers, updates, ignores and merges patients from the sample ADT messages', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, {
        app: 'ADTApp',
        facility: 'GHHSFacility',
        patientIdAuthority: PATIENT_SYSTEM,
        timeZone: 'Europe/Berlin',
      });
      await senders(app).add(ctx, { app: 'ADT1', facility: 'GHHSFacility' });
      await senders(app).add(ctx, { app: 'NES', facility: 'NINTENDO' });
      await senders(app).add(ctx, { app: 'REDOX', facility: 'RDX' });
      await senders(app).add(ctx, { app: 'Ntierprise', facility: 'Ntierprise Clinic' });
      const statuses: Record<string, string> = {};
      for (const f of [
        'ADT-A01-01.hl7',
        'ADT-A01-02.hl7',
        'ADT-A04-01.hl7',
        'ADT-A04-02.hl7',
        'ADT-A05-01.hl7',
        'ADT-A05-02.hl7',
        'ADT-A08-01.hl7',
        'ADT-A08-02.hl7',
        'ADT-A28-01.hl7',
        'ADT-A28-02.hl7',
        'ADT-A31-01.hl7',
        'ADT-A31-02.hl7',
        'ADT-A02-01.hl7',
        'ADT-A02-02.hl7',
        'ADT-A03-01.hl7',
        'ADT-A03-02.hl7',
        'ADT-A06-01.hl7',
        'ADT-A06-02.hl7',
        'ADT-A07-01.hl7',
        'ADT-A07-02.hl7',
        'SIU_12.hl7',
        'ADT04-23.hl7',
        'ADT04-251.hl7',
        'ADT04-28.hl7',
      ]) {
        const r = await receive(app, fixture(f));
        statuses[f] = `${ackOf(r.ack).code} ${r.status}`;
      }
      expect(statuses).toEqual({
        'ADT-A01-01.hl7': 'AA applied',
        'ADT-A01-02.hl7': 'AA applied',
        'ADT-A04-01.hl7': 'AA applied',
        'ADT-A04-02.hl7': 'AA applied',
        'ADT-A05-01.hl7': 'AA applied',
        'ADT-A05-02.hl7': 'AA applied',
        'ADT-A08-01.hl7': 'AA applied',
        'ADT-A08-02.hl7': 'AA applied',
        'ADT-A28-01.hl7': 'AA applied',
        'ADT-A28-02.hl7': 'AA applied',
        'ADT-A31-01.hl7': 'AA applied',
        'ADT-A31-02.hl7': 'AA applied',
        'ADT-A02-01.hl7': 'AA ignored',
        'ADT-A02-02.hl7': 'AA ignored',
        'ADT-A03-01.hl7': 'AA ignored',
        'ADT-A03-02.hl7': 'AA ignored',
        'ADT-A06-01.hl7': 'AA ignored',
        'ADT-A06-02.hl7': 'AA ignored',
        'ADT-A07-01.hl7': 'AA ignored',
        'ADT-A07-02.hl7': 'AA ignored',
        'SIU_12.hl7': 'AA ignored', // MSH-9 says ADT^A60
        'ADT04-23.hl7': 'AA applied',
        'ADT04-251.hl7': 'AA applied',
        'ADT04-28.hl7': 'AA applied',
      });
      const everyman = await patientOf(app, 'PATID1234');
      const p = await app.services.patients.get(ctx, everyman!.patientId);
      expect(p.timeZone).toBe('Europe/Berlin');
      expect(p.identifiers).toEqual([{ system: PATIENT_SYSTEM, value: 'PATID1234' }]);
      const mario = await patientOf(app, '123456789', 'urn:sealpost:hl7:NES|NINTENDO');
      expect((await app.services.patients.get(ctx, mario!.patientId)).birthDate).toBe('1985-01-01');
      expect(await patientOf(app, '0000000001', 'urn:sealpost:hl7:REDOX|RDX')).toMatchObject({ erased: false });

      // A40: the retired patient's pending reminders follow the survivor; the retired id answers as merged.
      const retiredId = 'retired-bcbs-56789';
      await app.services.patients.upsert(ctx, retiredId, {
        name: { family: 'Test', given: ['Old'] },
        birthDate: '2018-02-05',
        telecom: [{ system: 'sms', value: '+14155550100' }],
        timeZone: 'UTC',
        identifiers: [{ system: NTIERPRISE, value: '56789' }],
      });
      await app.services.appointments.upsert(ctx, 'appt-merge-1', {
        patientId: retiredId,
        start: '2021-03-01T10:00:00Z',
      });
      // The survivor (PID-3) is known with a mobile number, so the reminders have somewhere to go.
      await app.services.patients.upsert(ctx, 'survivor-12345', {
        name: { family: 'Test', given: ['Test'] },
        birthDate: '2018-02-05',
        telecom: [{ system: 'sms', value: '+14155550101' }],
        timeZone: 'UTC',
        identifiers: [{ system: NTIERPRISE, value: '12345' }],
      });
      const merge = await receive(app, fixture('ADT-A40-01.hl7'));
      // MSH-15/16 are NE: no acknowledgement is sent.
      expect(merge).toMatchObject({ ack: '', code: null, status: 'applied' });
      // MRG-1/PID-3 name BCBS, but a sender without an authority reads and writes its own system only.
      const survivor = await patientOf(app, '12345', NTIERPRISE);
      expect(await patientOf(app, '56789', NTIERPRISE)).toEqual(survivor);
      expect(await app.services.patients.mergedInto('default', retiredId)).toBe(survivor!.patientId);
      const pending = await db.query<{ patient_id: string }>(
        `select patient_id from notifications where appointment_id = ${ph(db, 1)} and cancelled_at is null`,
        ['appt-merge-1'],
      );
      expect(pending.map((m) => m.patient_id)).toEqual([survivor!.patientId, survivor!.patientId, survivor!.patientId]);
      // Two patient groups, neither retired patient known: survivors created, nothing merged.
      expect(await receive(app, fixture('ADT-A40-02.hl7'))).toMatchObject({ code: null, status: 'applied' });
    } finally {
      await close();
    }
  });

  const register = (app: App, id: string, system: string, value: string) =>
    app.services.patients.upsert(ctx, id, {
      name: { family: 'Known', given: ['Patient'] },
      birthDate: '1960-01-01',
      telecom: [{ system: 'sms', value: '+14155550111' }],
      timeZone: 'UTC',
      identifiers: [{ system, value }],
    });

  it('announces final and corrected results once per order, never preliminary ones, and queues results for unknown patients until replayed', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, {
        app: 'SomeSystem',
        facility: '',
        patientIdAuthority: '1',
        timeZone: 'America/Los_Angeles',
      });
      await senders(app).add(ctx, {
        app: 'IA PHIMS Stage',
        facility: 'IA Public Health Lab',
        patientIdAuthority: 'IA PHIMS Stage',
        resultHolds: ['625-4=48h'],
      });
      await senders(app).add(ctx, { app: 'GHH LAB', facility: 'ELAB-3' });

      // Unknown patient: AE with ERR PID-3, the message waits in the error queue, nothing else changes.
      const before = await db.rowCounts();
      const first = await receive(app, fixture('LAB-ORU-1.hl7'));
      expect(first.status).toBe('error');
      expect(ackOf(first.ack)).toMatchObject({
        code: 'AE',
        error: { code: 'SP_HL7_UNKNOWN_PATIENT', hl7: '204', segment: 'PID', field: '3' },
      });
      const after = await db.rowCounts();
      expect(after.notifications).toBe(before.notifications);
      expect(after.patients).toBe(before.patients);
      const queue = await app.services.hl7.listErrors(ctx);
      expect(queue.items.map((m) => [m.id, m.type, m.errorCode, m.segment, m.field])).toEqual([
        [first.messageId, 'ORU^R01', 'SP_HL7_UNKNOWN_PATIENT', 'PID', 3],
      ]);

      // Register the patient (identifier 1/10006579), replay: one notification for the final order only.
      const { patient } = await register(app, 'duck', '1', '10006579');
      const replayed = await app.services.hl7.replay(ctx, first.messageId!);
      expect(replayed).toMatchObject({ status: 'replayed', errorCode: null });
      const results = await db.query<{ id: string; type: string }>(
        `select id, type from notifications where patient_id = ${ph(db, 1)}`,
        [patient.id],
      );
      expect(results.map((r) => r.type)).toEqual(['test_result_ready']);
      expect((await app.services.hl7.listErrors(ctx)).items).toEqual([]);
      await expect(app.services.hl7.replay(ctx, first.messageId!)).rejects.toMatchObject({ code: 'SP_HL7_NOT_QUEUED' });
      // Sent again after the replay: acknowledged AA, applied once.
      const resent = await receive(app, fixture('LAB-ORU-1.hl7', { controlId: first.controlId }));
      expect(resent).toMatchObject({ status: 'duplicate', messageId: first.messageId });
      expect(ackOf(resent.ack)).toMatchObject({ code: 'AA', error: null });

      // The second sample has the same orders without a final status: nothing more is sent.
      expect(await receive(app, fixture('LAB-ORU-2.hl7'))).toMatchObject({ status: 'ignored' });
      // A corrected result of the order already announced does not notify again.
      const corrected = fixture('LAB-ORU-1.hl7').replace(/^(OBR\|2\|88502218\|82503246\|(?:[^|]*\|){21})F\|/m, '$1C|');
      expect(corrected).not.toBe(fixture('LAB-ORU-1.hl7'));
      expect(await receive(app, corrected)).toMatchObject({ status: 'ignored' });
      expect(
        (await db.query(`select id from notifications where patient_id = ${ph(db, 1)}`, [patient.id])).length,
      ).toBe(1);

      // Enhanced mode (MSH-15 AL): the accept ACK CA; a held test code waits 48 hours.
      await register(app, 'finn', 'IA PHIMS Stage', '14');
      const lab = await receive(app, fixture('ORU-R01-01.hl7'));
      expect(ackOf(lab.ack).code).toBe('CA');
      const held = await db.query<{ send_at: number | string }>(
        `select send_at from notifications where patient_id = ${ph(db, 1)}`,
        ['finn'],
      );
      expect(held.map((h) => Number(h.send_at))).toEqual([NOW.getTime() + 48 * 3_600_000]);

      // A bare single PID-3 identifier is the sender's patient id.
      await register(app, 'eve', 'urn:sealpost:hl7:GHH LAB|ELAB-3', '555-44-4444');
      expect(ackOf((await receive(app, fixture('ORU-R01-RMGEAD.hl7'))).ack).code).toBe('AA');
      expect((await db.query(`select id from notifications where patient_id = ${ph(db, 1)}`, ['eve'])).length).toBe(1);
    } finally {
      await close();
    }
  });

  it('acknowledges a message sent again with its first code and applies it once', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, { app: 'SCHApp', facility: 'GHHSFacility', patientIdAuthority: PATIENT_SYSTEM });
      await registerSiuPatient(app);
      const raw = fixture('SIU-S12-01.hl7', { controlId: 'DUP-1' });
      const first = await receive(app, raw);
      expect(ackOf(first.ack).code).toBe('AA');
      const counts = await db.rowCounts();
      const again = await receive(app, raw);
      expect(again).toMatchObject({ status: 'duplicate', messageId: first.messageId });
      expect(ackOf(again.ack)).toMatchObject({ code: 'AA', controlId: 'DUP-1' });
      const now = await db.rowCounts();
      // Only the audit entry of the duplicate is new.
      expect({ ...now, audit_entries: 0 }).toEqual({ ...counts, audit_entries: 0 });

      // A queued error is answered AE again with the same ERR.
      const noStart = fixture('SIU-S12-01.hl7', { controlId: 'DUP-2' })
        .replace(/^TQ1\|.*$/m, 'TQ1|')
        .replace(/^SCH\|([^|]*)\|([^|]*)\|((?:[^|]*\|){8})[^|]*/m, 'SCH|$1|$2|$3')
        .replace(/^(AIS\|[^|]*\|[^|]*\|[^|]*\|)[^|]*/m, '$1');
      const e1 = await receive(app, noStart);
      expect(ackOf(e1.ack)).toMatchObject({
        code: 'AE',
        error: { code: 'SP_HL7_MISSING_FIELD', segment: 'TQ1', field: '7' },
      });
      const e2 = await receive(app, noStart);
      expect(e2.status).toBe('duplicate');
      expect(ackOf(e2.ack)).toEqual(ackOf(e1.ack));
      expect((await app.services.hl7.listErrors(ctx)).items).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it('answers AE naming the segment to a message that does not parse, AR 200/201/203 to what it does not process, and stores none of them', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, { app: 'SCHApp', facility: 'GHHSFacility', patientIdAuthority: PATIENT_SYSTEM });
      const before = await db.rowCounts();
      const garbage = await receive(
        app,
        'MSH|^~\\&|SCHApp|GHHSFacility|||20210101||SIU^S12|G1|P|2.5\rPID|1\rbad segment',
      );
      expect(garbage.status).toBe('rejected');
      expect(ackOf(garbage.ack)).toMatchObject({ code: 'AE', error: { code: 'SP_HL7_MALFORMED' } });
      const noControlId = await receive(app, 'MSH|^~\\&|SCHApp|GHHSFacility|||20210101||SIU^S12||P|2.5');
      expect(ackOf(noControlId.ack)).toMatchObject({
        code: 'AE',
        error: { code: 'SP_HL7_MISSING_FIELD', field: '10' },
      });
      const mdm = await receive(app, fixture('SIU-S12-01.hl7', { set: { 9: 'MDM^T02' } }));
      expect(ackOf(mdm.ack)).toMatchObject({ code: 'AR', error: { code: 'SP_HL7_UNSUPPORTED_TYPE', hl7: '200' } });
      const s18 = await receive(app, fixture('SIU-S12-01.hl7', { set: { 9: 'SIU^S18' } }));
      expect(ackOf(s18.ack)).toMatchObject({ code: 'AR', error: { code: 'SP_HL7_UNSUPPORTED_EVENT', hl7: '201' } });
      const v22 = await receive(app, fixture('SIU-S12-01.hl7', { set: { 12: '2.2' } }));
      expect(ackOf(v22.ack)).toMatchObject({ code: 'AR', error: { code: 'SP_HL7_UNSUPPORTED_VERSION', hl7: '203' } });
      const after = await db.rowCounts();
      expect({ ...after, audit_entries: 0 }).toEqual({ ...before, audit_entries: 0 });
    } finally {
      await close();
    }
  });

  it('refuses a certificate-bound sender over a connection without its certificate (unknown sender: routing is by certificate)', async () => {
    const { app } = await start();
    try {
      const pem = readFileSync(new URL('../fixtures/hl7-client-cert.pem', import.meta.url), 'utf8');
      const s = await senders(app).add(ctx, {
        app: 'SCHApp',
        facility: 'GHHSFacility',
        patientIdAuthority: PATIENT_SYSTEM,
        certPem: pem,
      });
      await registerSiuPatient(app);
      expect(s.certSha256).toMatch(/^[0-9a-f]{64}$/);
      for (const origin of [
        { remoteAddress: '127.0.0.1', tls: false },
        { remoteAddress: '127.0.0.1', tls: true, clientCertSha256: 'ab'.repeat(32) },
      ]) {
        const r = await receive(app, fixture('SIU-S12-01.hl7'), origin);
        expect(ackOf(r.ack)).toMatchObject({ code: 'AR', error: { code: 'SP_HL7_UNKNOWN_SENDER' } });
      }
      const ok = await receive(app, fixture('SIU-S12-01.hl7'), {
        remoteAddress: '127.0.0.1',
        tls: true,
        clientCertSha256: s.certSha256!,
      });
      expect(ackOf(ok.ack).code).toBe('AA');
      await expect(
        senders(app).add(ctx, { app: 'SCHApp', facility: 'GHHSFacility', patientIdAuthority: PATIENT_SYSTEM }),
      ).rejects.toMatchObject({
        code: 'SP_HL7_SENDER_EXISTS',
      });
      await expect(senders(app).add(ctx, { app: 'X', facility: 'Y', timeZone: 'Mars/Base' })).rejects.toMatchObject({
        code: 'SP_HL7_SENDER_INVALID',
      });
      await expect(
        senders(app).add(ctx, { app: 'X', facility: 'Y', resultHolds: ['HIV=forever'] }),
      ).rejects.toMatchObject({
        code: 'SP_HL7_SENDER_INVALID',
      });
      await senders(app).remove(ctx, s.id);
      expect(ackOf((await receive(app, fixture('SIU-S12-01.hl7'))).ack).error?.code).toBe('SP_HL7_UNKNOWN_SENDER');
      await expect(senders(app).remove(ctx, s.id)).rejects.toMatchObject({ code: 'SP_HL7_SENDER_NOT_FOUND' });
    } finally {
      await close();
    }
  });

  it('queues a booking for an erased patient instead of re-creating them, and forgets the raw messages on erasure', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, { app: 'SCHApp', facility: 'GHHSFacility', patientIdAuthority: PATIENT_SYSTEM });
      await registerSiuPatient(app);
      const book = await receive(app, fixture('SIU-S12-01.hl7'));
      expect(book.status).toBe('applied');
      const { patientId } = (await patientOf(app, 'PATID1234'))!;
      await app.services.patients.erase(ctx, patientId, { shredInBackground: false });
      const sealed = await db.query<{ raw_ct: unknown }>(`select raw_ct from hl7_messages where id = ${ph(db, 1)}`, [
        book.messageId,
      ]);
      expect(sealed[0].raw_ct).toBeNull();
      expect(
        await db.query(`select * from data_keys where patient_id = ${ph(db, 1)}`, [`hl7:${book.messageId}`]),
      ).toEqual([]);
      const patients = (await db.rowCounts()).patients;
      const again = await receive(app, fixture('SIU-S12-01.hl7'));
      expect(ackOf(again.ack)).toMatchObject({ code: 'AE', error: { code: 'SP_HL7_PATIENT_ERASED', segment: 'PID' } });
      expect((await db.rowCounts()).patients).toBe(patients);
      // Nothing to replay from: discard it (its sealed text goes too).
      const discarded = await app.services.hl7.discard(ctx, again.messageId!);
      expect(discarded.status).toBe('discarded');
      await expect(app.services.hl7.discard(ctx, again.messageId!)).rejects.toMatchObject({
        code: 'SP_HL7_NOT_QUEUED',
      });
    } finally {
      await close();
    }
  });

  it("replays a sender's queued messages about one patient in arrival order", async () => {
    const { app } = await start();
    try {
      await senders(app).add(ctx, { app: 'SomeSystem', facility: '', patientIdAuthority: '1' });
      const a = await receive(app, fixture('LAB-ORU-1.hl7'));
      const b = await receive(app, fixture('LAB-ORU-1.hl7'));
      expect([a.status, b.status]).toEqual(['error', 'error']);
      await register(app, 'duck', '1', '10006579');
      await expect(app.services.hl7.replay(ctx, b.messageId!)).rejects.toMatchObject({ code: 'SP_HL7_REPLAY_ORDER' });
      expect((await app.services.hl7.replay(ctx, a.messageId!)).status).toBe('replayed');
      expect((await app.services.hl7.replay(ctx, b.messageId!)).status).toBe('replayed');
    } finally {
      await close();
    }
  });

  it('keeps planted PHI out of acknowledgements, audit entries, the error queue and the database in clear', async () => {
    const { db, app } = await start();
    try {
      await senders(app).add(ctx, { app: 'SomeSystem', facility: '', patientIdAuthority: '1' });
      const name = 'Zqxphimarkername';
      const value = 'Zqxphimarkervalue';
      const raw = fixture('LAB-ORU-1.hl7').replace('DUCK^DONALD', `${name}^DONALD`).replace('|4.06|', `|${value}|`);
      const queued = await receive(app, raw);
      expect(queued.status).toBe('error');
      await register(app, 'duck', '1', '10006579');
      await app.services.hl7.replay(ctx, queued.messageId!);
      const applied = await receive(app, raw.replace(/\|182\|/, '|183|'));
      const texts = [
        queued.ack,
        applied.ack,
        JSON.stringify(await app.services.hl7.listErrors(ctx, { status: 'replayed' })),
        JSON.stringify(await db.query('select * from audit_entries')),
        JSON.stringify(await db.query('select * from hl7_messages')),
      ];
      for (const t of texts) {
        expect(t).not.toContain(name);
        expect(t).not.toContain(value);
      }
      if (db.backend === 'sqlite') {
        await app.close();
        apps.splice(0);
        const { readdirSync } = await import('node:fs');
        for (const f of readdirSync(db.dataDir).filter((n) => n.startsWith('sealpost.db'))) {
          const bytes = readFileSync(`${db.dataDir}/${f}`);
          expect(bytes.includes(Buffer.from(name))).toBe(false);
          expect(bytes.includes(Buffer.from(value))).toBe(false);
        }
      }
    } finally {
      await close();
    }
  });
});
