import { SAMPLE_DATA } from '../../src/core/templates/sample-data.js';
import type { Person, StaffRole } from './hospital.js';
import type { PatientState, Simulation, SystemCredential } from './sim-core.js';

const PASSWORD_OF_DORMANT = (i: number) => `quiet meadow lantern ${i} locum`;

/** A patient body (invented, PHI-shaped) for PUT /v1/patients/{id}. */
export function patientBody(id: string, mrn: string, n: number) {
  return {
    name: { given: [`Given${n}`], family: `Family${n}` },
    birthDate: `19${40 + (n % 60)}-0${1 + (n % 9)}-1${n % 10}`,
    telecom: [{ system: 'sms', value: `+1415555${String(1000 + (n % 9000)).padStart(4, '0')}`, rank: 1 }],
    language: n % 5 === 0 ? 'es' : 'en',
    timeZone: 'America/New_York',
    identifiers: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: mrn }],
  };
}

let patientCounter = 0;

/** Registers a patient through the EHR integration key; answers its state (not yet admitted). */
export async function registerPatient(sim: Simulation, via: 'ehr-results' | 'ehr-adt'): Promise<PatientState> {
  const n = ++patientCounter;
  const id = `pt-${String(n).padStart(5, '0')}`;
  const mrn = `MRN${String(7_000_000 + n * 7)}`;
  const r = await sim.system(via, 'PUT', '/v1/patients/:id', `/v1/patients/${id}`, patientBody(id, mrn, n), id);
  if (r.status !== 201 && r.status !== 200)
    throw new Error(`registering a patient answered ${r.status}: ${JSON.stringify(r.body)}`);
  const pt: PatientState = { id, mrn, ward: -1, careTeam: new Set(), sensitive: null, erased: false, reserved: false };
  sim.patients.set(id, pt);
  return pt;
}

/** Invites, enrols (password) and enrols TOTP for one person, all through the API. */
export async function enrolPerson(sim: Simulation, p: Person, roles: string[]): Promise<void> {
  const invited = await sim.system('provisioning', 'POST', '/v1/users', '/v1/users', {
    email: p.email,
    displayName: `${p.role} ${p.rank + 1}`,
    roles,
  });
  if (invited.status !== 201)
    throw new Error(`inviting ${p.email} answered ${invited.status}: ${JSON.stringify(invited.body)}`);
  p.id = invited.body.user.id;
  const token = String(invited.body.enrolmentUrl).split('#')[1];
  const from = p.addresses[0];
  const enrol = await sim.anonymous(
    from,
    'POST',
    '/v1/auth/enrol',
    '/v1/auth/enrol',
    { token, password: p.password },
    `user:${p.id}`,
  );
  if (enrol.status !== 200) throw new Error(`enrolling ${p.email} answered ${enrol.status}`);
  const subject = `user:${p.id}`;
  const t = enrol.body.token as string;
  const s = await sim.request(subject, t, from, 'POST', '/v1/auth/mfa/totp/setup', '/v1/auth/mfa/totp/setup', {}, null);
  if (s.status !== 200) throw new Error(`TOTP setup answered ${s.status}`);
  p.totpSecret = s.body.secret;
  const confirm = await sim.request(
    subject,
    t,
    from,
    'POST',
    '/v1/auth/mfa/totp/confirm',
    '/v1/auth/mfa/totp/confirm',
    {
      code: await sim.totp(p),
    },
    null,
  );
  if (confirm.status !== 200) throw new Error(`TOTP confirm answered ${confirm.status}`);
}

/** Roles as the server knows them (the privacy officer role falls back to admin before it exists). */
export function serverRoles(role: StaffRole, privacyOfficerRole: boolean): string[] {
  if (role === 'privacy_officer') return privacyOfficerRole ? ['privacy_officer'] : ['admin'];
  return [role];
}

export async function createSystems(sim: Simulation): Promise<void> {
  const make = async (name: SystemCredential['name'], scopes: string[], addresses: string[]) => {
    const r = await sim.setup('POST', '/v1/api-keys', '/v1/api-keys', { name: `EHR ${name}`, scopes });
    if (r.status !== 201) throw new Error(`creating API key ${name} answered ${r.status}: ${JSON.stringify(r.body)}`);
    sim.systems.set(name, { name, id: r.body.apiKey.id, key: r.body.key, addresses });
  };
  // The results interface (notifications, reads, bookings) and the ADT feed (registrations, care
  // teams; care-team changes need the admin scope), each from its interface engine's two nodes.
  await make('ehr-results', [], ['10.0.0.11', '10.0.0.13']);
  await make('ehr-adt', ['admin'], ['10.0.0.12', '10.0.0.14']);
  // The identity provisioning system invites staff (the bootstrap key is used once, to make these).
  await make('provisioning', ['admin'], ['10.0.0.20']);
}

export function dormantPerson(i: number, n: number): Person {
  return {
    n,
    role: 'physician',
    rank: 1000 + i,
    pattern: 'office',
    ward: 1,
    email: `locum${i + 1}@hospital.example`,
    password: PASSWORD_OF_DORMANT(i),
    addresses: [`10.20.1.${90 + i}`],
    pace: 1,
    rota: [1, 2, 3, 4, 5],
    breaksGlass: false,
  };
}

export async function addToCareTeam(sim: Simulation, pt: PatientState, p: Person): Promise<void> {
  const r = await sim.system(
    'ehr-adt',
    'PUT',
    '/v1/patients/:id/care-team/:userId',
    `/v1/patients/${pt.id}/care-team/${p.id}`,
    undefined,
    pt.id,
  );
  if (r.status !== 201 && r.status !== 200) throw new Error(`care-team add answered ${r.status}`);
  pt.careTeam.add(p.n);
}

export async function removeFromCareTeam(sim: Simulation, pt: PatientState, p: Person): Promise<void> {
  await sim.system(
    'ehr-adt',
    'DELETE',
    '/v1/patients/:id/care-team/:userId',
    `/v1/patients/${pt.id}/care-team/${p.id}`,
    undefined,
    pt.id,
  );
  pt.careTeam.delete(p.n);
}

export const NOTIFICATION_DATA = SAMPLE_DATA;
