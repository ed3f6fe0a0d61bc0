import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PatientService, type PatientInput } from './patient-service.js';
import { AppointmentService } from './appointment-service.js';
import { NotificationService } from './notification-service.js';
import { DAYTIME, PHI_MARKER, coreFixture, refusal } from '../../test/helpers/in-memory-core.js';
import { samplePatient } from '../../test/helpers/sample-patient.js';

let f: ReturnType<typeof coreFixture>;
let patients: PatientService;
let appointments: AppointmentService;

beforeEach(() => {
  f = coreFixture();
  patients = new PatientService(f.deps);
  appointments = new AppointmentService(f.deps, new NotificationService(f.deps));
});
afterEach(() => f.cleanup());

const MRN = { system: 'HOSP', value: `MRN-${PHI_MARKER}` };
const body = (over: Record<string, unknown> = {}) =>
  samplePatient({ name: { given: ['Ana'], family: `Lopez ${PHI_MARKER}` }, ...over }) as PatientInput;
const DAY = 86_400_000;

describe('PatientService in the caller transaction', () => {
  it('commits two patients written in one transaction together, or neither when a later step fails', async () => {
    await f.store.transaction(async (tx) => {
      await patients.upsertInTx(tx, f.ctx, 'pa', { ...body(), identifiers: [MRN] });
      await patients.upsertInTx(tx, f.ctx, 'pb', body());
    });
    expect([...f.store.tables.patients.keys()].length).toBe(2);

    const before = f.store.dump();
    const e = await refusal(
      f.store.transaction(async (tx) => {
        await patients.upsertInTx(tx, f.ctx, 'pc', body());
        // The second patient claims pa's MRN: the whole transaction goes, pc included.
        await patients.upsertInTx(tx, f.ctx, 'pd', { ...body(), identifiers: [MRN] });
      }),
    );
    expect(e.code).toBe('SP_PATIENT_IDENTIFIER_CONFLICT');
    expect(e.message).not.toContain(PHI_MARKER);
    expect(f.store.dump()).toEqual(before);
  });

  it('finds a patient by identifier inside the transaction that created it', async () => {
    const found = await f.store.transaction(async (tx) => {
      await patients.upsertInTx(tx, f.ctx, 'pa', { ...body(), identifiers: [MRN] });
      return patients.findByIdentifierInTx(tx, f.ctx.tenantId, MRN);
    });
    expect(found).toEqual({ patientId: 'pa', erased: false });
    expect(await patients.findByIdentifier(f.ctx, { ...MRN, system: 'OTHER' })).toBeNull();
  });

  it('audits identifier changes as counts, never the values', async () => {
    await patients.upsert(f.ctx, 'pa', { ...body(), identifiers: [MRN, { system: 'B', value: '2' }] });
    await patients.upsert(f.ctx, 'pa', { ...body(), identifiers: [MRN] });
    const entries = f.store.audit.filter((a) => a.event.targetType === 'patient');
    expect(entries.map((a) => a.event.details)).toEqual([
      { contactPointsAdded: 2, contactPointsRemoved: 0, identifiersAdded: 2, identifiersRemoved: 0 },
      { contactPointsAdded: 0, contactPointsRemoved: 0, identifiersAdded: 0, identifiersRemoved: 1 },
    ]);
    for (const a of f.store.audit) expect(a.entry).not.toContain(PHI_MARKER);
    for (const r of f.store.tables.patientIdentifiers.values()) {
      expect(Buffer.from(r.value_ct!).toString('latin1')).not.toContain(PHI_MARKER);
      expect(r.lookup_bidx).not.toContain(PHI_MARKER);
    }
  });
});

describe('PatientService.merge', () => {
  it('moves the appointment and its reminders to the survivor in one transaction, audited without ids or PHI', async () => {
    await patients.upsert(f.ctx, 'old', { ...body(), identifiers: [MRN] });
    await patients.upsert(f.ctx, 'new', body({ telecom: [{ system: 'email', value: 'new@example.com' }] }));
    const booked = await appointments.upsert(f.ctx, 'appt-1', {
      patientId: 'old',
      start: new Date(DAYTIME + 10 * DAY).toISOString(),
      location: `Room ${PHI_MARKER}`,
    });
    const result = await patients.merge(f.ctx, { survivorId: 'new', retiredId: 'old' });
    expect(result).toEqual({
      notificationsMoved: booked.answer.reminders.length,
      notificationsDropped: 0,
      appointmentsMoved: 1,
      identifiersMoved: 1,
    });
    expect(f.store.tables.patients.get('default\u0000old')?.merged_into).toBe('new');
    const live = [...f.store.tables.notifications.values()].filter((n) => n.cancelled_at == null);
    expect(live.map((n) => n.patient_id)).toEqual(live.map(() => 'new'));
    const answer = await appointments.get(f.ctx, 'appt-1');
    expect(answer.reminders.filter((r) => r.status === 'scheduled')).toHaveLength(booked.answer.reminders.length);

    const merged = f.store.audit.filter((a) => a.event.action === 'patient.merged');
    expect(merged).toHaveLength(1);
    expect(merged[0]!.entry).not.toContain(PHI_MARKER);
    expect(merged[0]!.entry).not.toMatch(/"(old|new|appt-1)"/);
    expect(await refusal(patients.get(f.ctx, 'old'))).toMatchObject({
      code: 'SP_PATIENT_MERGED',
      detail: 'mergedInto: new',
    });
  });

  it('cancels without a replacement what the survivor has no contact point for, and says how many', async () => {
    await patients.upsert(f.ctx, 'old', body());
    await patients.upsert(f.ctx, 'new', body({ telecom: [] }));
    await new NotificationService(f.deps).create(f.ctx, {
      type: 'follow_up',
      patientId: 'old',
      data: { reason: 'review', dueDate: '2030-02-01' },
      sendAt: new Date(DAYTIME + DAY).toISOString(),
    });
    const result = await patients.merge(f.ctx, { survivorId: 'new', retiredId: 'old' });
    expect(result).toMatchObject({ notificationsMoved: 0, notificationsDropped: 1 });
    expect([...f.store.tables.notifications.values()].every((n) => n.cancelled_at != null)).toBe(true);
  });

  it('refuses a merge into itself and of an already merged patient, changing nothing', async () => {
    await patients.upsert(f.ctx, 'a', body());
    await patients.upsert(f.ctx, 'b', body());
    await patients.upsert(f.ctx, 'c', body());
    await patients.merge(f.ctx, { survivorId: 'b', retiredId: 'c' });
    const before = f.store.dump();
    expect((await refusal(patients.merge(f.ctx, { survivorId: 'a', retiredId: 'a' }))).code).toBe(
      'SP_PATIENT_MERGE_SELF',
    );
    expect((await refusal(patients.merge(f.ctx, { survivorId: 'a', retiredId: 'c' }))).code).toBe('SP_PATIENT_MERGED');
    expect((await refusal(patients.merge(f.ctx, { survivorId: 'c', retiredId: 'a' }))).code).toBe('SP_PATIENT_MERGED');
    expect((await refusal(patients.upsert(f.ctx, 'c', body()))).code).toBe('SP_PATIENT_MERGED');
    expect(f.store.dump()).toEqual(before);
  });
});
