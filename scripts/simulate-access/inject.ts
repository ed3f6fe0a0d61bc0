import { DAY, HOUR, type Person } from './hospital.js';
import type { IncidentSpec } from './incidents.js';
import { Rng } from './rng.js';
import type { PatientState, Simulation } from './sim-core.js';
import type { Workload } from './workload.js';

/** An incident as it happened: the subject the detectors should name and the window of its activity. */
export interface InjectedIncident {
  spec: IncidentSpec;
  subject: string;
  start: number;
  end: number;
  /** Patients the incident touched (for the report check). */
  patients: string[];
  /** Requests it made. */
  requests: number;
  /** Why it could not be injected as planned (none when it was). */
  problem: string | null;
}

const MINUTE = 60_000;

/**
 * Plays the incidents of incidents.ts into the month at their times, through the same API as the
 * ordinary work (and interleaved with it), tagging their requests so the ground truth knows them.
 */
export class Injector {
  readonly injected: InjectedIncident[] = [];
  /** Sensitive patients reserved for the sensitive_patient incidents, by incident id. */
  readonly vipTargets = new Map<string, PatientState[]>();

  constructor(
    private readonly sim: Simulation,
    private readonly work: Workload,
    private readonly t0: number,
  ) {}

  resolvePerson(spec: IncidentSpec): Person | null {
    const who = spec.who;
    if ('staff' in who) {
      const xs = this.sim.hospital.byRole(who.staff);
      return xs.length ? xs[who.rank % xs.length] : null;
    }
    if ('dormant' in who) return this.sim.dormant[who.dormant] ?? null;
    return null;
  }

  subjectOf(spec: IncidentSpec): string {
    const who = spec.who;
    if ('address' in who) return `ip:${who.address}`;
    if ('system' in who) return `api-key:${this.sim.systems.get(who.system)!.id}`;
    return `user:${this.resolvePerson(spec)!.id}`;
  }

  schedule(spec: IncidentSpec): void {
    const start = this.t0 + spec.day * DAY + spec.hour * HOUR;
    this.sim.at(start, () => this.play(spec, start));
  }

  private async play(spec: IncidentSpec, start: number): Promise<void> {
    const { sim } = this;
    const rng = new Rng(spec.seed);
    const inc: InjectedIncident = {
      spec,
      subject: this.subjectOf(spec),
      start,
      end: start,
      patients: [],
      requests: 0,
      problem: null,
    };
    this.injected.push(inc);
    const before = sim.requests.length;
    const touched = new Set<string>();
    const person = this.resolvePerson(spec);
    const shift = -1; // the person's live session if they have one, else a sign-in
    const span = spec.minutes * MINUTE;
    /** Runs `n` steps spread over the incident's span, each at its own time (ordinary work interleaves). */
    const spread = async (n: number, step: (i: number) => Promise<void>) => {
      for (let i = 0; i < n; i++) {
        const at = start + Math.floor(((i + rng.next() * 0.9) / n) * span);
        await sim.runUntil(at);
        sim.currentIncident = spec.id;
        try {
          await step(i);
        } finally {
          sim.currentIncident = null;
        }
      }
    };
    const read = async (p: Person, pt: PatientState, what: 'patient' | 'contacts' = 'patient') => {
      touched.add(pt.id);
      const path = what === 'patient' ? `/v1/patients/${pt.id}` : `/v1/patients/${pt.id}/contact-points`;
      return sim.person(
        p,
        shift,
        'GET',
        what === 'patient' ? '/v1/patients/:id' : '/v1/patients/:id/contact-points',
        path,
        undefined,
        pt.id,
      );
    };
    const all = () => [...sim.patients.values()].filter((x) => !x.erased && !x.reserved);

    switch (spec.kind) {
      case 'distinct_patients': {
        const targets = rng.sample(all(), spec.size);
        await spread(
          targets.length,
          async (i) => void (await read(person!, targets[i], i % 4 === 3 ? 'contacts' : 'patient')),
        );
        break;
      }
      case 'sensitive_patient': {
        const targets = this.vipTargets.get(spec.id) ?? [];
        if (!targets.length) inc.problem = 'no sensitive patient reserved';
        await spread(targets.length, async (i) => {
          touched.add(targets[i].id);
          await this.work.lookup(person!, shift, targets[i]);
          await read(person!, targets[i]);
          await read(person!, targets[i], 'contacts');
        });
        break;
      }
      case 'volume_self':
      case 'volume_role': {
        let own = sim.patientsOf(person!);
        if (!own.length)
          own = rng.sample(spec.kind === 'volume_role' ? sim.outpatients() : sim.inpatients(person!.ward), 6);
        const few = rng.sample(own, spec.kind === 'volume_role' ? 8 : 10);
        await spread(
          spec.size,
          async (i) => void (await read(person!, few[i % few.length], i % 5 === 4 ? 'contacts' : 'patient')),
        );
        break;
      }
      case 'off_hours': {
        let own = sim.patientsOf(person!);
        if (!own.length) own = rng.sample(sim.outpatients(), 8);
        await spread(spec.size, async (i) => void (await read(person!, own[i % own.length])));
        break;
      }
      case 'refused_burst': {
        const others = rng.sample(
          sim.inpatients().filter((x) => !x.careTeam.has(person!.n)),
          spec.size,
        );
        await spread(others.length, async (i) => void (await read(person!, others[i])));
        break;
      }
      case 'credential_stuffing': {
        const address = (spec.who as { address: string }).address;
        const staff = sim.hospital.staff;
        await spread(spec.size, async (i) => {
          const email = rng.chance(0.35) ? rng.pick(staff).email : `user${rng.int(1000, 99999)}@hospital.example`;
          await sim.anonymous(
            address,
            'POST',
            '/v1/auth/login',
            '/v1/auth/login',
            { email, password: `Summer2024!${i}`, transport: 'bearer' },
            `ip:${address}`,
          );
        });
        break;
      }
      case 'account_many_addresses': {
        await spread(spec.size, async (i) => {
          const address = `45.${rng.int(10, 250)}.${rng.int(0, 255)}.${((i * 37) % 250) + 1}`;
          await sim.anonymous(
            address,
            'POST',
            '/v1/auth/login',
            '/v1/auth/login',
            { email: person!.email, password: `Winter2025!${i}`, transport: 'bearer' },
            inc.subject,
          );
        });
        break;
      }
      case 'break_glass': {
        const others = rng.sample(
          sim.inpatients().filter((x) => x.ward !== person!.ward && !x.careTeam.has(person!.n)),
          spec.size,
        );
        await spread(others.length, async (i) => {
          touched.add(others[i].id);
          await this.work.breakGlass(person!, shift, others[i]);
        });
        break;
      }
      case 'credential_new_origin': {
        const name = (spec.who as { system: 'ehr-results' | 'ehr-adt' }).system;
        const address = `185.220.${rng.int(100, 200)}.${rng.int(1, 250)}`;
        const targets = rng.sample(all(), spec.size);
        await spread(targets.length, async (i) => {
          touched.add(targets[i].id);
          await sim.system(
            name,
            'GET',
            '/v1/patients/:id',
            `/v1/patients/${targets[i].id}`,
            undefined,
            targets[i].id,
            address,
          );
        });
        break;
      }
      case 'mass_action': {
        if (spec.variant === 'erase') {
          const targets = rng.sample(sim.outpatients(), spec.size);
          await spread(targets.length, async (i) => {
            touched.add(targets[i].id);
            const r = await sim.person(
              person!,
              shift,
              'DELETE',
              '/v1/patients/:id',
              `/v1/patients/${targets[i].id}?erase=true`,
              undefined,
              targets[i].id,
            );
            if (r?.status === 202) targets[i].erased = true;
          });
        } else if (spec.variant === 'export') {
          await spread(spec.size, async (i) => {
            const from = new Date(start - (i + 1) * 7 * DAY).toISOString();
            const to = new Date(start - i * 7 * DAY).toISOString();
            await sim.person(
              person!,
              shift,
              'GET',
              '/v1/notifications',
              `/v1/notifications?type=billing_statement&limit=100&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
            );
          });
        } else {
          const targets = rng.sample(all(), spec.size);
          await spread(targets.length, async (i) => {
            touched.add(targets[i].id);
            await sim.system(
              'ehr-results',
              'GET',
              '/v1/patients/:id',
              `/v1/patients/${targets[i].id}`,
              undefined,
              targets[i].id,
            );
          });
        }
        break;
      }
      case 'dormant_account': {
        const own = [...sim.patients.values()].filter((x) => x.careTeam.has(person!.n) && !x.erased);
        await spread(spec.size, async (i) => {
          const pt = own[i % Math.max(1, own.length)];
          if (!pt) return;
          if (i % 3 === 0) await this.work.lookup(person!, shift, pt);
          await read(person!, pt);
        });
        break;
      }
    }
    const mine = sim.requests.slice(before).filter((r) => r.incident === spec.id);
    inc.requests = mine.length;
    if (mine.length) {
      inc.start = mine[0].at;
      inc.end = mine[mine.length - 1].at;
    } else inc.problem ??= 'no request was made';
    inc.patients = [...touched].sort();
  }
}
