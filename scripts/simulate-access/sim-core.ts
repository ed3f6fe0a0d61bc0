import { randomUUID } from 'node:crypto';
import { totpCode } from '../../src/auth/totp.js';
import type { SimHttp, Answer } from './http-client.js';
import type { SimServer } from './sim-server.js';
import type { Hospital, Person } from './hospital.js';
import { Rng } from './rng.js';

/** A system credential of the EHR integration (an API key) and the addresses it calls from. */
export interface SystemCredential {
  name: 'ehr-results' | 'ehr-adt' | 'provisioning';
  id: string;
  key: string;
  addresses: string[];
}

export interface PatientState {
  id: string;
  mrn: string;
  /** Ward while admitted; -1 for an outpatient (or after discharge). */
  ward: number;
  careTeam: Set<number>;
  sensitive: 'staff' | 'vip' | 'flagged' | null;
  erased: boolean;
  /** Held back from ordinary work: the patients incidents are about. */
  reserved: boolean;
}

/** One request the simulator made: what the audit log must show, and whom it touched. */
export interface SimRequest {
  at: number;
  subject: string;
  method: string;
  route: string;
  status: number;
  requestId: string;
  /** The patient the request was about (the simulator knows; the log holds only a keyed reference). */
  patientId: string | null;
  /** The incident this request belongs to, if any. */
  incident: string | null;
}

interface PersonState {
  token: string | null;
  shift: number;
  signedInAt: number;
  lastUse: number;
  address: string;
  lastTotpStep: number;
}

interface QueuedEvent {
  at: number;
  seq: number;
  run: () => Promise<void>;
}

const STEP = 30_000;

/**
 * The simulation's state and its one way to the server: `call` (as a person, lazily signed in
 * through the real sign-in API with password and TOTP, or as a system credential), recording every
 * request. Events run one at a time in time order, the server's clock set to each event's time.
 */
export class Simulation {
  readonly requests: SimRequest[] = [];
  readonly patients = new Map<string, PatientState>();
  readonly systems = new Map<string, SystemCredential>();
  readonly dormant: Person[] = [];
  private readonly state = new Map<number, PersonState>();
  private readonly queue: QueuedEvent[] = [];
  private seq = 0;
  /** The incident whose requests are being made (set by the injector around its calls). */
  currentIncident: string | null = null;
  signIns = 0;
  skipped = 0;

  constructor(
    readonly server: SimServer,
    readonly http: SimHttp,
    readonly hospital: Hospital,
    readonly rng: Rng,
  ) {}

  now(): number {
    return this.server.clock.ms_;
  }

  // ---- the event queue (a binary heap on (at, seq)) ----

  at(at: number, run: () => Promise<void>): void {
    const e = { at, seq: this.seq++, run };
    const q = this.queue;
    q.push(e);
    let i = q.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(q[i], q[parent])) break;
      [q[i], q[parent]] = [q[parent], q[i]];
      i = parent;
    }
  }

  private before(a: QueuedEvent, b: QueuedEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private pop(): QueuedEvent | undefined {
    const q = this.queue;
    if (!q.length) return undefined;
    const top = q[0];
    const last = q.pop()!;
    if (q.length) {
      q[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < q.length && this.before(q[l], q[m])) m = l;
        if (r < q.length && this.before(q[r], q[m])) m = r;
        if (m === i) break;
        [q[i], q[m]] = [q[m], q[i]];
        i = m;
      }
    }
    return top;
  }

  /** Runs every queued event (and those they queue) up to `until`, in time order. */
  async runUntil(until: number, progress?: (at: number) => void): Promise<void> {
    for (;;) {
      const next = this.queue[0];
      if (!next || next.at > until) break;
      this.pop();
      this.server.clock.set(next.at);
      progress?.(next.at);
      await next.run();
    }
    this.server.clock.set(until);
  }

  // ---- requests ----

  /** Any request, recorded. */
  async request(
    subject: string,
    auth: string | undefined,
    from: string,
    method: string,
    route: string,
    path: string,
    body: unknown,
    patientId: string | null,
  ): Promise<Answer> {
    const requestId = `sim-${randomUUID()}`;
    const r = await this.http.call(method, path, { auth, from, body, requestId });
    this.requests.push({
      at: this.now(),
      subject,
      method,
      route,
      status: r.status,
      requestId,
      patientId,
      incident: this.currentIncident,
    });
    return r;
  }

  /** A request of a system credential from one of its usual addresses (or `from`). */
  system(
    name: SystemCredential['name'],
    method: string,
    route: string,
    path: string,
    body?: unknown,
    patientId: string | null = null,
    from?: string,
  ): Promise<Answer> {
    const s = this.systems.get(name)!;
    return this.request(
      `api-key:${s.id}`,
      s.key,
      from ?? this.rng.pick(s.addresses),
      method,
      route,
      path,
      body,
      patientId,
    );
  }

  /** A request with the bootstrap administrator key (setup only: the installation's own tooling). */
  setup(method: string, route: string, path: string, body?: unknown): Promise<Answer> {
    return this.request('api-key:bootstrap', this.server.adminKey, '10.0.0.2', method, route, path, body, null);
  }

  /** A request from nobody signed in (sign-in attempts). */
  anonymous(
    from: string,
    method: string,
    route: string,
    path: string,
    body?: unknown,
    subject = 'anonymous',
  ): Promise<Answer> {
    return this.request(subject, undefined, from, method, route, path, body, null);
  }

  /**
   * A request of a person in `shift` (a number naming the shift; a new one means a new sign-in).
   * Signs in first when the person has no live session for this shift. Answers null when the
   * person could not sign in (locked out by someone else's attempts): the work is skipped.
   */
  async person(
    p: Person,
    shift: number,
    method: string,
    route: string,
    path: string,
    body?: unknown,
    patientId: string | null = null,
  ): Promise<Answer | null> {
    const s = await this.session(p, shift);
    if (!s) {
      this.skipped++;
      return null;
    }
    s.lastUse = this.now();
    const r = await this.request(`user:${p.id}`, s.token!, s.address, method, route, path, body, patientId);
    if (r.status === 401) s.token = null;
    return r;
  }

  /** A fresh TOTP code for `p` at the current time, never the step their last code used (codes are single-use). */
  async totp(p: Person): Promise<string> {
    const st = this.stateOf(p);
    let step = Math.floor(this.now() / STEP);
    if (step <= st.lastTotpStep) {
      this.server.clock.set((st.lastTotpStep + 1) * STEP + 1_000);
      step = st.lastTotpStep + 1;
    }
    st.lastTotpStep = step;
    return totpCode(p.totpSecret!, this.now());
  }

  private stateOf(p: Person): PersonState {
    let s = this.state.get(p.n);
    if (!s) {
      s = { token: null, shift: -1, signedInAt: 0, lastUse: 0, address: p.addresses[0], lastTotpStep: 0 };
      this.state.set(p.n, s);
    }
    return s;
  }

  /** Drops the person's session (end of shift: the next shift signs in again). */
  endShift(p: Person): void {
    this.stateOf(p).token = null;
  }

  private async session(p: Person, shift: number): Promise<PersonState | null> {
    const s = this.stateOf(p);
    const now = this.now();
    const idle = now - s.lastUse > 230 * 60_000;
    const old = now - s.signedInAt > 12.5 * 3_600_000;
    // A negative shift takes whatever live session the person has (an incident in the middle of a shift).
    if (s.token && (s.shift === shift || shift < 0) && !idle && !old) return s;
    s.shift = shift;
    s.address = this.rng.pick(p.addresses);
    s.token = null;
    const subject = `user:${p.id}`;
    // Now and then a password is mistyped first (an ordinary failed sign-in).
    if (this.rng.chance(0.04))
      await this.request(
        subject,
        undefined,
        s.address,
        'POST',
        '/v1/auth/login',
        '/v1/auth/login',
        {
          email: p.email,
          password: `${p.password}x`,
          transport: 'bearer',
        },
        null,
      );
    const login = await this.request(
      subject,
      undefined,
      s.address,
      'POST',
      '/v1/auth/login',
      '/v1/auth/login',
      {
        email: p.email,
        password: p.password,
        transport: 'bearer',
      },
      null,
    );
    if (login.status !== 200) return null;
    const verify = await this.request(
      subject,
      login.body.token,
      s.address,
      'POST',
      '/v1/auth/mfa/totp/verify',
      '/v1/auth/mfa/totp/verify',
      {
        code: await this.totp(p),
      },
      null,
    );
    if (verify.status !== 200) return null;
    this.signIns++;
    s.token = verify.body.token;
    s.signedInAt = this.now();
    s.lastUse = this.now();
    return s;
  }

  // ---- patients ----

  patientsOf(p: Person): PatientState[] {
    const out: PatientState[] = [];
    for (const pt of this.patients.values()) if (!pt.erased && pt.ward >= 0 && pt.careTeam.has(p.n)) out.push(pt);
    return out;
  }

  inpatients(ward?: number): PatientState[] {
    const out: PatientState[] = [];
    for (const pt of this.patients.values())
      if (!pt.erased && pt.ward >= 0 && (ward === undefined || pt.ward === ward)) out.push(pt);
    return out;
  }

  outpatients(includeReserved = false): PatientState[] {
    const out: PatientState[] = [];
    for (const pt of this.patients.values())
      if (!pt.erased && pt.ward < 0 && (includeReserved || !pt.reserved)) out.push(pt);
    return out;
  }
}
