import type { StaffRole } from './hospital.js';

/**
 * The injected incidents: the ground truth the evaluation scores the detectors against. Fixed here,
 * with the profiles' seeds, so anyone can reproduce docs/privacy-monitoring-results.md.
 *
 * `day` counts from the first simulated day (0); `hour` is UTC. `who` names a member of staff by
 * role and rank (the roster is deterministic), or a system credential, or an outside address.
 * The subject the detectors should name is resolved at run time (`user:<id>`, `api-key:<id>`,
 * `ip:<address>`), and the window is where the injected activity happened.
 */
export type IncidentKind =
  | 'volume_self'
  | 'volume_role'
  | 'distinct_patients'
  | 'off_hours'
  | 'sensitive_patient'
  | 'refused_burst'
  | 'credential_stuffing'
  | 'account_many_addresses'
  | 'break_glass'
  | 'credential_new_origin'
  | 'mass_action'
  | 'dormant_account';

export type Who =
  | { staff: StaffRole; rank: number }
  | { system: 'ehr-results' | 'ehr-adt' }
  | { address: string }
  /** The account created 90+ days before the month that comes back to life. */
  | { dormant: number };

export interface IncidentSpec {
  id: string;
  kind: IncidentKind;
  who: Who;
  day: number;
  hour: number;
  /** How long the injected activity lasts. */
  minutes: number;
  /** Seed of the incident's own draws (which patients, which addresses). */
  seed: number;
  /** Kind-specific size: patients, accesses, accounts, addresses, grants, erasures… */
  size: number;
  /** mass_action only: what is done in bulk. */
  variant?: 'erase' | 'export' | 'read';
}

/** The default month (30 days, seed 1): at least three of every kind, after a learning week and a half. */
// prettier-ignore
export const MONTH_INCIDENTS: readonly IncidentSpec[] = [
  // Snooping: a receptionist (no relationship needed) opening far more patients than a shift's work.
  { id: 'snoop-1', kind: 'distinct_patients', who: { staff: 'receptionist', rank: 1 }, day: 11, hour: 14, minutes: 40, seed: 101, size: 45 },
  { id: 'snoop-2', kind: 'distinct_patients', who: { staff: 'receptionist', rank: 4 }, day: 17, hour: 10, minutes: 60, seed: 102, size: 35 },
  { id: 'snoop-3', kind: 'distinct_patients', who: { staff: 'receptionist', rank: 7 }, day: 24, hour: 15, minutes: 45, seed: 103, size: 60 },
  // A VIP or a member of staff admitted as a patient, looked at by someone with no reason to.
  { id: 'vip-1', kind: 'sensitive_patient', who: { staff: 'receptionist', rank: 2 }, day: 12, hour: 11, minutes: 10, seed: 201, size: 1 },
  { id: 'vip-2', kind: 'sensitive_patient', who: { staff: 'receptionist', rank: 5 }, day: 19, hour: 16, minutes: 10, seed: 202, size: 2 },
  { id: 'vip-3', kind: 'sensitive_patient', who: { staff: 'receptionist', rank: 8 }, day: 26, hour: 9, minutes: 10, seed: 203, size: 1 },
  // A person's own volume jumps (a script re-reading their own patients).
  { id: 'volume-1', kind: 'volume_self', who: { staff: 'nurse', rank: 3 }, day: 13, hour: 10, minutes: 60, seed: 301, size: 160 },
  { id: 'volume-2', kind: 'volume_self', who: { staff: 'physician', rank: 5 }, day: 20, hour: 14, minutes: 60, seed: 302, size: 200 },
  { id: 'volume-3', kind: 'volume_self', who: { staff: 'nurse', rank: 21 }, day: 27, hour: 9, minutes: 60, seed: 303, size: 180 },
  // Volume far above the role's: a receptionist's refresh script re-reading the same few records.
  { id: 'role-1', kind: 'volume_role', who: { staff: 'receptionist', rank: 10 }, day: 14, hour: 11, minutes: 60, seed: 401, size: 150 },
  { id: 'role-2', kind: 'volume_role', who: { staff: 'receptionist', rank: 11 }, day: 21, hour: 15, minutes: 60, seed: 402, size: 180 },
  { id: 'role-3', kind: 'volume_role', who: { staff: 'receptionist', rank: 9 }, day: 25, hour: 10, minutes: 60, seed: 403, size: 250 },
  // A day-shift person reading their patients in the middle of the night.
  { id: 'night-1', kind: 'off_hours', who: { staff: 'nurse', rank: 0 }, day: 27, hour: 2, minutes: 45, seed: 501, size: 14 },
  { id: 'night-2', kind: 'off_hours', who: { staff: 'physician', rank: 2 }, day: 18, hour: 3, minutes: 40, seed: 502, size: 12 },
  { id: 'night-3', kind: 'off_hours', who: { staff: 'receptionist', rank: 3 }, day: 23, hour: 1, minutes: 50, seed: 503, size: 15 },
  // A clinician trying patient after patient outside their care team.
  { id: 'refused-1', kind: 'refused_burst', who: { staff: 'nurse', rank: 6 }, day: 11, hour: 15, minutes: 20, seed: 601, size: 18 },
  { id: 'refused-2', kind: 'refused_burst', who: { staff: 'physician', rank: 7 }, day: 16, hour: 11, minutes: 25, seed: 602, size: 22 },
  { id: 'refused-3', kind: 'refused_burst', who: { staff: 'nurse', rank: 30 }, day: 22, hour: 9, minutes: 15, seed: 603, size: 15 },
  // Credential stuffing: one outside address, many accounts (real and unknown).
  { id: 'stuffing-1', kind: 'credential_stuffing', who: { address: '203.0.113.17' }, day: 10, hour: 3, minutes: 15, seed: 701, size: 40 },
  { id: 'stuffing-2', kind: 'credential_stuffing', who: { address: '198.51.100.200' }, day: 18, hour: 22, minutes: 20, seed: 702, size: 60 },
  { id: 'stuffing-3', kind: 'credential_stuffing', who: { address: '203.0.113.99' }, day: 27, hour: 13, minutes: 10, seed: 703, size: 30 },
  // One account attacked from many addresses (failed sign-ins).
  { id: 'spray-1', kind: 'account_many_addresses', who: { staff: 'physician', rank: 9 }, day: 12, hour: 23, minutes: 30, seed: 801, size: 12 },
  { id: 'spray-2', kind: 'account_many_addresses', who: { staff: 'admin', rank: 0 }, day: 20, hour: 21, minutes: 40, seed: 802, size: 15 },
  { id: 'spray-3', kind: 'account_many_addresses', who: { staff: 'nurse', rank: 12 }, day: 26, hour: 20, minutes: 25, seed: 803, size: 10 },
  // Break-glass far beyond the person's norm (they never used it, or the ED's weekly one).
  { id: 'glass-1', kind: 'break_glass', who: { staff: 'nurse', rank: 9 }, day: 13, hour: 14, minutes: 60, seed: 901, size: 5 },
  { id: 'glass-2', kind: 'break_glass', who: { staff: 'physician', rank: 3 }, day: 19, hour: 10, minutes: 90, seed: 902, size: 6 },
  { id: 'glass-3', kind: 'break_glass', who: { staff: 'physician', rank: 0 }, day: 24, hour: 13, minutes: 60, seed: 903, size: 7 },
  // A system credential used from an address it never used.
  { id: 'origin-1', kind: 'credential_new_origin', who: { system: 'ehr-results' }, day: 11, hour: 4, minutes: 10, seed: 1001, size: 6 },
  { id: 'origin-2', kind: 'credential_new_origin', who: { system: 'ehr-adt' }, day: 17, hour: 2, minutes: 10, seed: 1002, size: 4 },
  { id: 'origin-3', kind: 'credential_new_origin', who: { system: 'ehr-results' }, day: 25, hour: 23, minutes: 10, seed: 1003, size: 8 },
  // Mass erasures, exports (searches) and reads.
  { id: 'mass-1', kind: 'mass_action', who: { staff: 'admin', rank: 1 }, day: 15, hour: 16, minutes: 30, seed: 1101, size: 25, variant: 'erase' },
  { id: 'mass-2', kind: 'mass_action', who: { staff: 'billing', rank: 4 }, day: 21, hour: 10, minutes: 40, seed: 1102, size: 80, variant: 'export' },
  { id: 'mass-3', kind: 'mass_action', who: { system: 'ehr-results' }, day: 28, hour: 1, minutes: 30, seed: 1103, size: 600, variant: 'read' },
  // Accounts silent for 90+ days that come back.
  { id: 'dormant-1', kind: 'dormant_account', who: { dormant: 0 }, day: 12, hour: 9, minutes: 60, seed: 1201, size: 6 },
  { id: 'dormant-2', kind: 'dormant_account', who: { dormant: 1 }, day: 20, hour: 13, minutes: 60, seed: 1202, size: 8 },
  { id: 'dormant-3', kind: 'dormant_account', who: { dormant: 2 }, day: 26, hour: 16, minutes: 60, seed: 1203, size: 5 },
];

/** The small profile (4 days, 20 people) the end-to-end test runs: a handful of incidents on the last days. */
// prettier-ignore
export const SMALL_INCIDENTS: readonly IncidentSpec[] = [
  { id: 'small-snoop', kind: 'distinct_patients', who: { staff: 'receptionist', rank: 0 }, day: 2, hour: 14, minutes: 30, seed: 11, size: 40 },
  { id: 'small-stuffing', kind: 'credential_stuffing', who: { address: '203.0.113.50' }, day: 2, hour: 3, minutes: 10, seed: 12, size: 30 },
  { id: 'small-erase', kind: 'mass_action', who: { staff: 'admin', rank: 0 }, day: 3, hour: 15, minutes: 20, seed: 13, size: 20, variant: 'erase' },
  { id: 'small-dormant', kind: 'dormant_account', who: { dormant: 0 }, day: 3, hour: 10, minutes: 45, seed: 14, size: 5 },
  { id: 'small-origin', kind: 'credential_new_origin', who: { system: 'ehr-results' }, day: 3, hour: 4, minutes: 10, seed: 15, size: 5 },
];

export interface Profile {
  name: string;
  days: number;
  people: number;
  seed: number;
  incidents: readonly IncidentSpec[];
}

export const PROFILES: Record<'month' | 'small', Profile> = {
  month: { name: 'month', days: 30, people: 150, seed: 1, incidents: MONTH_INCIDENTS },
  small: { name: 'small', days: 4, people: 20, seed: 7, incidents: SMALL_INCIDENTS },
};

/** The tolerance around an incident's window inside which an alert counts as finding it. */
export const MATCH_TOLERANCE_MS = 2 * 3_600_000;
