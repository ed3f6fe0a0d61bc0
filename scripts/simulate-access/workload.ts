import { DAY, HOUR, dayLoad, shiftOn, type Person } from './hospital.js';
import type { PatientState, Simulation } from './sim-core.js';
import { NOTIFICATION_DATA, addToCareTeam, registerPatient, removeFromCareTeam } from './setup.js';

/**
 * The ordinary work of the hospital, scheduled a day at a time: admissions and discharges through
 * the ADT feed (care teams follow them), nurses and physicians reading their own patients,
 * receptionists booking outpatients, billing sending statements, the results interface sending
 * "your results are ready", administrators and the auditor doing their rounds, emergency physicians
 * breaking the glass about once a week, a mistyped password now and then.
 */
export class Workload {
  private shiftSeq = 0;
  private apptSeq = 0;
  readonly appointments: { id: string; patientId: string; at: number }[] = [];
  /** Days on which an administrator handles a patient's erasure request (legitimate, single). */
  erasureDays = new Set<number>();

  constructor(
    private readonly sim: Simulation,
    private readonly t0: number,
    private readonly days: number,
  ) {}

  /** Admits a patient to `ward` now: registration, care team (attending, two day and two night nurses, a weekend nurse), discharge planned. */
  async admit(ward: number, stayDays?: number): Promise<PatientState> {
    const { sim } = this;
    const rng = sim.rng;
    const pt = await registerPatient(sim, 'ehr-adt');
    pt.ward = ward;
    const staff = sim.hospital.staff.filter((p) => p.ward === ward);
    const team = [
      ...rng.sample(
        staff.filter((p) => p.role === 'physician'),
        1,
      ),
      ...rng.sample(
        staff.filter((p) => p.pattern === 'day'),
        2,
      ),
      ...rng.sample(
        staff.filter((p) => p.pattern === 'night'),
        2,
      ),
      ...rng.sample(
        staff.filter((p) => p.pattern === 'weekend'),
        1,
      ),
    ];
    for (const p of team) await addToCareTeam(sim, pt, p);
    const stay = stayDays ?? rng.int(2, 8);
    const dischargeDay = Math.floor((sim.now() - this.t0) / DAY) + stay;
    sim.at(this.t0 + dischargeDay * DAY + rng.int(10, 16) * HOUR + rng.int(0, 59) * 60_000, () => this.discharge(pt));
    return pt;
  }

  /** Discharge: the nurses leave the care team, the attending stays for the follow-up. */
  async discharge(pt: PatientState): Promise<void> {
    if (pt.erased || pt.ward < 0 || pt.reserved) return;
    for (const n of [...pt.careTeam]) {
      const p = this.sim.hospital.staff[n];
      if (p?.role === 'nurse') await removeFromCareTeam(this.sim, pt, p);
    }
    pt.ward = -1;
  }

  /** Queues day `d`'s work (called at the day's midnight). */
  scheduleDay(d: number): void {
    const { sim } = this;
    const rng = sim.rng;
    const start = this.t0 + d * DAY;
    const dow = new Date(start).getUTCDay();
    const load = dayLoad(dow, d, this.days);
    const rand = (fromH: number, toH: number) => start + Math.floor((fromH + rng.next() * (toH - fromH)) * HOUR);

    for (const w of sim.hospital.wards) {
      const admissions = rng.poisson(2.6 * load * (w.beds / 18));
      for (let i = 0; i < admissions; i++)
        sim.at(rng.chance(0.75) ? rand(8, 20) : rand(0, 24), async () => void (await this.admit(w.n)));
    }
    for (const p of sim.hospital.staff) {
      const s = shiftOn(p, dow, rng);
      if (!s) continue;
      const shift = ++this.shiftSeq;
      sim.at(start + Math.floor(s.start * HOUR), () =>
        this.startShift(p, shift, start + s.start * HOUR, start + s.end * HOUR, load),
      );
    }
    // The results interface: results for inpatients, bookings for outpatients.
    for (const pt of sim.inpatients()) if (rng.chance(0.5)) sim.at(rand(6, 22), () => this.resultReady(pt));
    const bookings = dow === 0 || dow === 6 ? 0 : rng.poisson(10 * load);
    for (let i = 0; i < bookings; i++) sim.at(rand(7, 19), () => this.book(null));
    if (this.erasureDays.has(d)) sim.at(rand(10, 16), () => this.legitimateErasure());
  }

  private async startShift(p: Person, shift: number, from: number, to: number, load: number): Promise<void> {
    const { sim } = this;
    const rng = sim.rng;
    const own = sim.patientsOf(p).length;
    const base: Record<Person['role'], number> = {
      nurse: 4 + 2.2 * Math.min(own, 8),
      physician: 6 + 2 * Math.min(own, 10),
      receptionist: 20 * Math.sqrt(load),
      billing: 8,
      admin: 3,
      auditor: 3,
      privacy_officer: 2,
    };
    const count = Math.round(base[p.role] * p.pace * Math.sqrt(load));
    for (let i = 0; i < count; i++) {
      const at = Math.floor(from + rng.next() * (to - from));
      sim.at(at, () => this.work(p, shift));
    }
    if (p.breaksGlass && rng.chance(0.25))
      sim.at(Math.floor(from + rng.next() * (to - from)), () => this.emergency(p, shift));
    // A physician checking on a patient in the evening, now and then.
    if (p.role === 'physician' && rng.chance(0.05))
      sim.at(Math.floor(to + (2 + rng.next() * 3) * HOUR), () => this.work(p, shift + 1e6));
    sim.at(Math.floor(to) + 60_000, async () => sim.endShift(p));
  }

  /** One piece of a person's work. */
  async work(p: Person, shift: number): Promise<void> {
    const { sim } = this;
    const rng = sim.rng;
    const r = rng.next();
    switch (p.role) {
      case 'nurse':
      case 'physician': {
        const own = sim.patientsOf(p);
        if (r < 0.025 || !own.length) {
          // A click on the wrong row: a patient of the ward who is not theirs (refused).
          const other = sim.inpatients(p.ward).filter((x) => !x.careTeam.has(p.n) && !x.reserved);
          if (other.length && (r < 0.025 || rng.chance(0.1))) {
            const x = rng.pick(other);
            await sim.person(p, shift, 'GET', '/v1/patients/:id', `/v1/patients/${x.id}`, undefined, x.id);
          }
          return;
        }
        const pt = rng.pick(own);
        if (p.role === 'physician' && r < 0.15) {
          await this.lookup(p, shift, pt);
          return;
        }
        if (r < 0.22)
          await sim.person(
            p,
            shift,
            'GET',
            '/v1/patients/:id/contact-points',
            `/v1/patients/${pt.id}/contact-points`,
            undefined,
            pt.id,
          );
        else if (r < 0.27)
          await sim.person(
            p,
            shift,
            'GET',
            '/v1/notifications',
            `/v1/notifications?patientId=${pt.id}&limit=20`,
            undefined,
            pt.id,
          );
        else await sim.person(p, shift, 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
        return;
      }
      case 'receptionist': {
        // Front-desk work follows the schedule: checking in a patient who has an appointment, a caller
        // found and booked, a reminder call to a booked patient; now and then a walk-in with nothing
        // booked (the sensitive-patient detector's known false positive when the walk-in is flagged).
        const pts = sim.outpatients();
        if (!pts.length) return;
        const booked = this.bookedOutpatient();
        const pt = (r < 0.35 || r >= 0.85) && booked && rng.chance(0.85) ? booked : rng.pick(pts);
        if (r < 0.35) {
          if (await this.lookup(p, shift, pt))
            await sim.person(p, shift, 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
        } else if (r < 0.65) {
          if (rng.chance(0.5) && (await this.lookup(p, shift, pt)))
            await sim.person(p, shift, 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
          await this.book(p, shift, pt);
        } else if (r < 0.85 && this.appointments.length) {
          const a = rng.pick(this.appointments);
          await sim.person(
            p,
            shift,
            'GET',
            '/v1/appointments/:externalId',
            `/v1/appointments/${a.id}`,
            undefined,
            a.patientId,
          );
        } else
          await sim.person(
            p,
            shift,
            'GET',
            '/v1/patients/:id/contact-points',
            `/v1/patients/${pt.id}/contact-points`,
            undefined,
            pt.id,
          );
        return;
      }
      case 'billing': {
        if (r < 0.3) {
          await sim.person(p, shift, 'GET', '/v1/notifications', '/v1/notifications?type=billing_statement&limit=20');
          return;
        }
        const pts = sim.outpatients();
        if (!pts.length) return;
        const pt = rng.pick(pts);
        await sim.person(
          p,
          shift,
          'POST',
          '/v1/notifications',
          '/v1/notifications',
          {
            type: 'billing_statement',
            patientId: pt.id,
            data: NOTIFICATION_DATA.billing_statement,
          },
          pt.id,
        );
        return;
      }
      case 'admin':
        await sim.person(p, shift, 'GET', '/v1/users', '/v1/users?limit=20');
        return;
      case 'auditor':
        await sim.person(p, shift, 'GET', '/v1/audit/events', '/v1/audit/events?limit=50');
        return;
      case 'privacy_officer':
        await sim.person(p, shift, 'GET', '/v1/privacy/alerts', '/v1/privacy/alerts?limit=20');
        return;
    }
  }

  /** An outpatient with an appointment booked in the last three weeks (the desk's schedule), or null. */
  private bookedOutpatient(): PatientState | null {
    const { sim } = this;
    const since = sim.now() - 21 * DAY;
    const recent: PatientState[] = [];
    for (let i = this.appointments.length - 1; i >= 0 && recent.length < 200; i--) {
      const a = this.appointments[i]!;
      if (a.at < since) break;
      const pt = sim.patients.get(a.patientId);
      if (pt && !pt.erased && pt.ward < 0 && !pt.reserved) recent.push(pt);
    }
    return recent.length ? sim.rng.pick(recent) : null;
  }

  /** Finds a patient by MRN (identifiers travel in the body); true when found. */
  async lookup(p: Person, shift: number, pt: PatientState): Promise<boolean> {
    const r = await this.sim.person(
      p,
      shift,
      'POST',
      '/v1/patients/lookup',
      '/v1/patients/lookup',
      {
        system: 'urn:oid:2.16.840.1.113883.19.5',
        value: pt.mrn,
      },
      pt.id,
    );
    return r?.status === 200;
  }

  /** Books an appointment for an outpatient (by a receptionist, or by the results interface when `p` is null). */
  async book(p: Person | null, shift = 0, pt?: PatientState): Promise<void> {
    const { sim } = this;
    const rng = sim.rng;
    const patient = pt ?? rng.pick(sim.outpatients());
    if (!patient) return;
    const id = `appt-${++this.apptSeq}`;
    const startAt = new Date(sim.now() + rng.int(2, 20) * DAY + rng.int(8, 16) * HOUR)
      .toISOString()
      .replace(/:\d\d\.\d+Z$/, ':00Z');
    const body = { patientId: patient.id, start: startAt, location: 'Outpatient clinic', clinicianName: 'Dr. Example' };
    const r = p
      ? await sim.person(p, shift, 'PUT', '/v1/appointments/:externalId', `/v1/appointments/${id}`, body, patient.id)
      : await sim.system(
          'ehr-results',
          'PUT',
          '/v1/appointments/:externalId',
          `/v1/appointments/${id}`,
          body,
          patient.id,
        );
    if (r && (r.status === 201 || r.status === 200))
      this.appointments.push({ id, patientId: patient.id, at: sim.now() });
  }

  private async resultReady(pt: PatientState): Promise<void> {
    if (pt.erased) return;
    const { sim } = this;
    await sim.system('ehr-results', 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
    await sim.system(
      'ehr-results',
      'POST',
      '/v1/notifications',
      '/v1/notifications',
      {
        type: 'test_result_ready',
        patientId: pt.id,
        data: NOTIFICATION_DATA.test_result_ready,
      },
      pt.id,
    );
  }

  /** An emergency: break-glass on a patient of another ward (reason, fresh TOTP), then the chart. */
  async emergency(p: Person, shift: number, ward?: number): Promise<void> {
    const { sim } = this;
    const rng = sim.rng;
    const others = sim.inpatients(ward).filter((x) => x.ward !== p.ward && !x.careTeam.has(p.n) && !x.reserved);
    if (!others.length) return;
    const pt = rng.pick(others);
    await this.breakGlass(p, shift, pt);
  }

  async breakGlass(p: Person, shift: number, pt: PatientState): Promise<void> {
    const { sim } = this;
    // Sign in first (the break-glass code must not be the sign-in's).
    const first = await sim.person(p, shift, 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
    if (!first) return;
    sim.server.clock.set(sim.now() + 40_000);
    const g = await sim.person(
      p,
      shift,
      'POST',
      '/v1/patients/:id/break-glass',
      `/v1/patients/${pt.id}/break-glass`,
      {
        reason: 'Emergency: patient deteriorating, attending unavailable',
        totp: await sim.totp(p),
      },
      pt.id,
    );
    if (g?.status !== 201) return;
    for (let i = 0; i < 2; i++) {
      sim.server.clock.set(sim.now() + 60_000 * (1 + sim.rng.int(0, 4)));
      await sim.person(p, shift, 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
    }
  }

  private async legitimateErasure(): Promise<void> {
    const { sim } = this;
    const admin = sim.hospital.byRole('admin')[0];
    const pts = sim.outpatients();
    if (!admin || !pts.length) return;
    const pt = sim.rng.pick(pts);
    const r = await sim.person(
      admin,
      -7,
      'DELETE',
      '/v1/patients/:id',
      `/v1/patients/${pt.id}?erase=true`,
      undefined,
      pt.id,
    );
    if (r?.status === 202) pt.erased = true;
  }
}
