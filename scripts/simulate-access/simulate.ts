import { buildHospital, DAY, HOUR, type Person } from './hospital.js';
import type { Profile } from './incidents.js';
import { Injector, type InjectedIncident } from './inject.js';
import { SimHttp } from './http-client.js';
import { Rng } from './rng.js';
import { Simulation, type PatientState } from './sim-core.js';
import { startSimServer, type SimServer } from './sim-server.js';
import { createSystems, dormantPerson, enrolPerson, addToCareTeam, registerPatient, serverRoles } from './setup.js';
import { Workload } from './workload.js';

/** The first simulated day: a Monday in January (flu season). */
export const MONTH_START = Date.UTC(2025, 0, 6);
/** Dormant accounts are created and last used this long before the month. */
const DORMANT_LEAD_DAYS = 130;

export interface SimulationRun {
  profile: Profile;
  server: SimServer;
  sim: Simulation;
  injected: InjectedIncident[];
  /** Staff accounts (the roster and the dormant accounts): user-days = people × days. */
  people: number;
  t0: number;
  t1: number;
  /** Whether B's sensitivity flags could be set (the route answered). */
  sensitivityFlags: 'set' | 'unavailable';
  privacyOfficerRole: boolean;
  seconds: number;
}

export interface RunOptions {
  out?: string;
  progress?: (line: string) => void;
}

/**
 * Runs a profile against a fresh server and leaves it running (the caller evaluates, then closes
 * `server`): the dormant accounts' early days, the installation's setup three days before the month,
 * then the month itself with the incidents injected.
 */
export async function simulate(profile: Profile, opts: RunOptions = {}): Promise<SimulationRun> {
  const started = Date.now();
  const say = opts.progress ?? (() => {});
  const rng = new Rng(profile.seed);
  const hospital = buildHospital(rng.fork(1), profile.people);
  const t0 = MONTH_START;
  const t1 = t0 + profile.days * DAY;
  const server = await startSimServer({ startMs: t0 - DORMANT_LEAD_DAYS * DAY, out: opts.out });
  const http = new SimHttp(server.url);
  const sim = new Simulation(server, http, hospital, rng.fork(2));
  const work = new Workload(sim, t0, profile.days);
  const injector = new Injector(sim, work, t0);

  // Long before the month: the integration keys, and locum physicians who work a few days and leave.
  await createSystems(sim);
  const dormantCount = Math.max(0, ...profile.incidents.map((i) => ('dormant' in i.who ? i.who.dormant + 1 : 0)));
  for (let i = 0; i < dormantCount; i++) {
    const p = dormantPerson(i, hospital.staff.length + i);
    await enrolPerson(sim, p, ['physician']);
    sim.dormant.push(p);
    const own: PatientState[] = [];
    for (let k = 0; k < 3; k++) {
      const pt = await registerPatient(sim, 'ehr-adt');
      await addToCareTeam(sim, pt, p);
      own.push(pt);
    }
    for (let d = 0; d < 4; d++) {
      const day = t0 - (DORMANT_LEAD_DAYS - 1 - d) * DAY;
      for (let k = 0; k < 6; k++)
        sim.at(day + 9 * HOUR + k * 40 * 60_000, async () => {
          const pt = own[k % own.length];
          await sim.person(p, 9000 + d, 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
        });
      sim.at(day + 17 * HOUR, async () => sim.endShift(p));
    }
  }
  // The installation was in use all along: the interfaces call every few days (a registration, a
  // read, an invitation never taken up), so none of their credentials looks dormant or new later.
  for (let d = 2; d < DORMANT_LEAD_DAYS - 3; d += 3) {
    sim.at(t0 - (DORMANT_LEAD_DAYS - d) * DAY + 11 * HOUR, async () => {
      const pt = await registerPatient(sim, 'ehr-adt');
      await sim.system('ehr-results', 'GET', '/v1/patients/:id', `/v1/patients/${pt.id}`, undefined, pt.id);
      if (d % 9 === 2)
        await sim.system('provisioning', 'POST', '/v1/users', '/v1/users', {
          email: `student${d}@hospital.example`,
          displayName: `Student ${d}`,
          roles: ['nurse'],
        });
    });
  }
  await sim.runUntil(t0 - 3 * DAY);
  say(`dormant accounts: ${dormantCount}`);

  // Three days before the month: staff, outpatients, the wards' census, sensitive patients.
  let privacyOfficerRole = true;
  for (const p of hospital.staff) {
    try {
      await enrolPerson(sim, p, serverRoles(p.role, privacyOfficerRole));
    } catch (e) {
      if (p.role !== 'privacy_officer' || !privacyOfficerRole) throw e;
      privacyOfficerRole = false;
      await enrolPerson(sim, p, serverRoles(p.role, false));
    }
  }
  say(`staff enrolled: ${hospital.staff.length}`);
  for (let i = 0; i < profile.people * 3; i++) await registerPatient(sim, 'ehr-results');
  for (const w of hospital.wards) {
    const census = Math.round(w.beds * 0.8);
    for (let i = 0; i < census; i++) await work.admit(w.n, 1 + (i % 7));
  }
  say(`patients: ${sim.patients.size}`);

  // Sensitive patients: staff members and VIPs among the outpatients, flagged by the privacy officer.
  const officer = hospital.byRole('privacy_officer')[0] as Person;
  let sensitivityFlags: SimulationRun['sensitivityFlags'] = 'set';
  const flag = async (
    pt: typeof sim.patients extends Map<string, infer V> ? V : never,
    kind: 'staff' | 'vip' | 'flagged',
  ) => {
    const r = await sim.person(
      officer,
      -3,
      'PUT',
      '/v1/patients/:id/sensitivity',
      `/v1/patients/${pt.id}/sensitivity`,
      { kind },
      pt.id,
    );
    if (r && r.status >= 200 && r.status < 300) pt.sensitive = kind;
    else sensitivityFlags = 'unavailable';
  };
  const outs = sim.outpatients();
  let o = 0;
  for (const spec of profile.incidents.filter((i) => i.kind === 'sensitive_patient')) {
    const targets = outs.slice(o, o + spec.size);
    o += spec.size;
    for (const t of targets) {
      t.reserved = true;
      await flag(t, o % 2 ? 'vip' : 'staff');
    }
    injector.vipTargets.set(spec.id, targets);
  }
  // A few sensitive patients whom ordinary work touches too (the detector's known false positives).
  for (const t of outs.slice(o, o + Math.max(1, Math.round(profile.people / 50)))) await flag(t, 'staff');
  sim.endShift(officer);

  for (const d of [8, 20]) if (d < profile.days) work.erasureDays.add(d);
  for (let d = 0; d < profile.days; d++) sim.at(t0 + d * DAY, async () => work.scheduleDay(d));
  for (const spec of profile.incidents) if (spec.day < profile.days) injector.schedule(spec);

  let lastDay = -1;
  await sim.runUntil(t1, (at) => {
    const d = Math.floor((at - t0) / DAY);
    if (d > lastDay && d >= 0) {
      lastDay = d;
      say(
        `day ${d + 1}/${profile.days}: ${sim.requests.length} requests, ${sim.signIns} sign-ins, ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
  });
  http.close();
  return {
    profile,
    server,
    sim,
    injected: injector.injected,
    people: hospital.staff.length + dormantCount,
    t0,
    t1,
    sensitivityFlags,
    privacyOfficerRole,
    seconds: (Date.now() - started) / 1000,
  };
}
