import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

/** A clock the test moves by hand, so scheduling is checked without waiting or timing. */
function manualClock(startIso: string) {
  let now = new Date(startIso).getTime();
  return { now: () => new Date(now), set: (iso: string) => void (now = new Date(iso).getTime()) };
}

describe('appointment reminder series', () => {
  // 2026-03-01 15:00 New York (EST); the appointment 10 days later is after the DST change of 8 March.
  const clock = manualClock('2026-03-01T20:00:00Z');
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_QUIET_HOURS: '21:00-08:00' }, { clock: clock.now });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());

  it('schedules reminders 7 days, 1 day and 2 hours before the start in the patient time zone', async () => {
    const res = await h.request('PUT', '/v1/appointments/appt-1', {
      patientId: 'p1',
      start: '2026-03-11T14:30:00Z',
      location: 'Clinic B, room 4',
    });
    expect(res.status).toBe(201);
    // 10:30 EDT on 11 March; 7 days before is 10:30 EST on 4 March (15:30Z): wall time kept across DST.
    expect(res.body.reminders.map((r: { runAt: string }) => r.runAt)).toEqual([
      '2026-03-04T15:30:00.000Z',
      '2026-03-10T14:30:00.000Z',
      '2026-03-11T12:30:00.000Z',
    ]);
    expect(res.body.reminders.every((r: { status: string }) => r.status === 'scheduled')).toBe(true);
  });

  it('replays an identical PUT without touching the reminders', async () => {
    const before = (await h.request('GET', '/v1/appointments/appt-1')).body;
    const again = await h.request('PUT', '/v1/appointments/appt-1', {
      patientId: 'p1',
      start: '2026-03-11T14:30:00Z',
      location: 'Clinic B, room 4',
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(before);
  });

  it('reschedules pending reminders in one step and skips a reminder whose time has passed', async () => {
    const res = await h.request('PUT', '/v1/appointments/appt-1', { patientId: 'p1', start: '2026-03-04T16:00:00Z' });
    expect(res.status).toBe(200);
    const live = res.body.reminders.filter((r: { status: string }) => r.status !== 'cancelled');
    const cancelled = res.body.reminders.filter((r: { status: string }) => r.status === 'cancelled');
    expect(cancelled).toHaveLength(3);
    // The 7-day reminder (25 Feb) is in the past: not created. 2 hours before 11:00 EST is 09:00 EST.
    expect(live.map((r: { runAt: string }) => r.runAt)).toEqual([
      '2026-03-03T16:00:00.000Z',
      '2026-03-04T14:00:00.000Z',
    ]);
  });

  it('cancels every pending reminder when the appointment is deleted', async () => {
    const res = await h.request('DELETE', '/v1/appointments/appt-1');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('cancelled');
    expect(res.body.reminders.every((r: { status: string }) => r.status === 'cancelled')).toBe(true);
    expect((await h.request('DELETE', '/v1/appointments/nope')).body.code).toBe('SP_APPOINTMENT_NOT_FOUND');
  });

  it('sends a due reminder, with the appointment details only behind the portal', async () => {
    clock.set('2026-03-20T15:00:00Z');
    const res = await h.request('PUT', '/v1/appointments/appt-2', {
      patientId: 'p1',
      start: '2026-03-20T19:00:00Z',
      location: 'Clinic B, room 4',
    });
    expect(res.body.reminders).toHaveLength(1); // only the 2-hour reminder is still ahead
    const reminder = (await h.request('GET', `/v1/notifications/${res.body.reminders[0].notificationId}`)).body;
    const deliveryIds = reminder.deliveries.map((d: { id: string }) => d.id);
    expect(deliveryIds.length).toBeGreaterThan(0);
    clock.set('2026-03-20T17:00:00Z');
    h.app.worker.wake();
    // This reminder's own message, found by its delivery id (not whatever the outbox holds last).
    const out = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items.find((i: { deliveryId: string }) =>
          deliveryIds.includes(i.deliveryId),
        ),
      'reminder sent',
    );
    expect(out.body).not.toContain('Clinic B');
  });

  it('does not send a reminder once the appointment has started', async () => {
    clock.set('2026-04-01T12:00:00Z');
    const res = await h.request('PUT', '/v1/appointments/appt-3', { patientId: 'p1', start: '2026-04-01T17:00:00Z' });
    const id = res.body.reminders[0].notificationId;
    clock.set('2026-04-01T18:00:00Z'); // the worker was down until after the start
    h.app.worker.wake();
    const n = await eventually(async () => {
      const b = (await h.request('GET', `/v1/notifications/${id}`)).body;
      return b.deliveries[0].status === 'suppressed' ? b : null;
    }, 'suppressed');
    expect(n.deliveries[0].sentAt).toBeNull();
  });
});

describe('quiet hours and priority', () => {
  // 23:30 in New York: inside the default 21:00-08:00 window.
  const clock = manualClock('2026-06-02T03:30:00Z');
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_QUIET_HOURS: '21:00-08:00', SEALPOST_WORKER: 'false' }, { clock: clock.now });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());
  const data = { medicationName: 'Metformin', dosage: '500 mg' };

  it('defers a routine message to the end of quiet hours in the patient zone', async () => {
    const res = await h.request('POST', '/v1/notifications', { type: 'medication_reminder', patientId: 'p1', data });
    expect(res.body.deliveries[0]).toMatchObject({ status: 'scheduled', runAt: '2026-06-02T12:00:00.000Z' });
  });

  for (const priority of ['urgent', 'asap', 'stat']) {
    it(`sends a ${priority} message at once, through quiet hours`, async () => {
      const res = await h.request('POST', '/v1/notifications', {
        type: 'medication_reminder',
        patientId: 'p1',
        data,
        priority,
      });
      expect(res.body.deliveries[0]).toMatchObject({ status: 'queued', runAt: clock.now().toISOString() });
    });
  }

  it('honours sendAt in the future and lets a scheduled message be cancelled', async () => {
    const res = await h.request('POST', '/v1/notifications', {
      type: 'medication_reminder',
      patientId: 'p1',
      data,
      sendAt: '2026-06-05T15:00:00Z',
    });
    expect(res.body.deliveries[0]).toMatchObject({ status: 'scheduled', runAt: '2026-06-05T15:00:00.000Z' });
    const cancelled = await h.request('POST', `/v1/notifications/${res.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.deliveries[0].status).toBe('cancelled');
    expect(cancelled.body.deliveries[0].cancelledAt).toBeTruthy();
    expect((await h.request('POST', '/v1/notifications/unknown-id/cancel')).status).toBe(404);
  });
});
