import type { Rng } from './rng.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export type StaffRole = 'physician' | 'nurse' | 'receptionist' | 'billing' | 'admin' | 'auditor' | 'privacy_officer';
/** day 07–19 weekdays-ish, night 19–07, weekend 07–19 Sat/Sun, office 08–17 weekdays. */
export type ShiftPattern = 'day' | 'night' | 'weekend' | 'office';

export interface Person {
  /** Stable index in the roster (the incidents name people by role and rank). */
  n: number;
  role: StaffRole;
  /** Rank within the role (0-based): incidents.ts picks people as `{ role, rank }`. */
  rank: number;
  pattern: ShiftPattern;
  ward: number;
  email: string;
  password: string;
  /** The workstations this person signs in from (the ward's, or the office's). */
  addresses: string[];
  /** Personal pace: how much more or less than the role's norm this person works. */
  pace: number;
  /** Weekdays (0 = Sunday) of the person's rota. */
  rota: number[];
  /** Emergency-department physicians break the glass now and then (their norm). */
  breaksGlass: boolean;
  // Filled in by the simulator:
  id?: string;
  totpSecret?: string;
}

export interface Ward {
  n: number;
  name: string;
  beds: number;
}

export interface Hospital {
  staff: Person[];
  wards: Ward[];
  byRole(role: StaffRole): Person[];
}

const WARD_NAMES = [
  'Emergency',
  'Medicine A',
  'Medicine B',
  'Surgery',
  'Cardiology',
  'Oncology',
  'Paediatrics',
  'Orthopaedics',
  'Neurology',
  'Maternity',
  'Renal',
  'Respiratory',
];

/**
 * The roster: about 20% physicians, half nurses (day, night and weekend rotas), receptionists,
 * billing, a few administrators, one auditor and one privacy officer, spread over wards of ~20 staff.
 */
export function buildHospital(rng: Rng, people: number): Hospital {
  const wardCount = Math.max(2, Math.min(WARD_NAMES.length, Math.round(people / 19)));
  const wards: Ward[] = WARD_NAMES.slice(0, wardCount).map((name, n) => ({ n, name, beds: n === 0 ? 14 : 18 }));
  const fixed = { admin: Math.max(1, Math.round(people * 0.03)), auditor: 1, privacy_officer: 1 };
  const rest = people - fixed.admin - fixed.auditor - fixed.privacy_officer;
  const counts: Record<StaffRole, number> = {
    physician: Math.max(wardCount, Math.round(rest * 0.21)),
    receptionist: Math.max(1, Math.round(rest * 0.1)),
    billing: Math.max(1, Math.round(rest * 0.06)),
    nurse: 0,
    ...fixed,
  };
  counts.nurse = people - Object.values(counts).reduce((a, b) => a + b, 0);
  const staff: Person[] = [];
  const add = (
    role: StaffRole,
    rank: number,
    p: Omit<Person, 'n' | 'role' | 'rank' | 'email' | 'password' | 'pace'>,
  ) => {
    const n = staff.length;
    staff.push({
      n,
      role,
      rank,
      email: `${role.replace('_', '.')}${rank + 1}@hospital.example`,
      password: `violet harbour lantern ${n} ${role}`,
      pace: rng.pace(0.25),
      ...p,
    });
  };
  const wardAddresses = (w: number) => [`10.20.${w}.${rng.int(1, 40)}`, `10.20.${w}.${rng.int(41, 80)}`];
  const office = (net: number) => [`10.${net}.0.${rng.int(1, 200)}`];
  for (let i = 0; i < counts.physician; i++) {
    const ward = i % wardCount;
    add('physician', i, {
      pattern: 'office',
      ward,
      addresses: [...wardAddresses(ward), `10.21.0.${rng.int(1, 200)}`],
      rota: [1, 2, 3, 4, 5],
      breaksGlass: ward === 0,
    });
  }
  for (let i = 0; i < counts.nurse; i++) {
    const ward = i % wardCount;
    const k = Math.floor(i / wardCount);
    const pattern: ShiftPattern = k % 5 === 4 ? 'weekend' : k % 5 === 1 || k % 5 === 3 ? 'night' : 'day';
    // Three or four shifts a week on a rota that differs from nurse to nurse.
    const offset = rng.int(0, 6);
    const rota =
      pattern === 'weekend' ? [0, 6] : [0, 1, 2, 3].slice(0, rng.chance(0.5) ? 4 : 3).map((d) => (d * 2 + offset) % 7);
    add('nurse', i, { pattern, ward, addresses: wardAddresses(ward), rota, breaksGlass: false });
  }
  for (const role of ['receptionist', 'billing', 'admin', 'auditor', 'privacy_officer'] as const) {
    const net = { receptionist: 30, billing: 40, admin: 50, auditor: 60, privacy_officer: 60 }[role];
    for (let i = 0; i < counts[role]; i++)
      add(role, i, { pattern: 'office', ward: -1, addresses: office(net), rota: [1, 2, 3, 4, 5], breaksGlass: false });
  }
  return { staff, wards, byRole: (role) => staff.filter((p) => p.role === role) };
}

/** The person's shift starting on `day` (days since the month began, `dow` its weekday), or null. */
export function shiftOn(p: Person, dow: number, rng: Rng): { start: number; end: number } | null {
  if (!p.rota.includes(dow)) return null;
  const jitter = rng.int(-20, 20) / 60;
  switch (p.pattern) {
    case 'day':
    case 'weekend':
      return { start: 7 + jitter, end: 19 + rng.int(0, 30) / 60 };
    case 'night':
      return { start: 19 + jitter, end: 31 + rng.int(0, 30) / 60 };
    case 'office':
      return { start: 8 + rng.int(-30, 45) / 60, end: 17 + rng.int(-30, 60) / 60 };
  }
}

/** The day's load: Mondays busier, weekends lighter, and a flu season building over the month. */
export function dayLoad(dow: number, day: number, days: number): number {
  const weekly = [0.65, 1.25, 1.05, 1.0, 1.0, 0.95, 0.7][dow];
  return weekly * (1 + 0.25 * (day / Math.max(1, days)));
}
