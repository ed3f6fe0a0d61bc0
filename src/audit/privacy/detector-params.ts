import type { DetectorId } from './detector.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/**
 * The fixed thresholds of the privacy detectors. The simulator's recall and false-alert table
 * (docs/privacy-monitoring-results.md) is measured with exactly these: change one, re-run
 * `npm run simulate:access` and commit the new table with it.
 */
export const PARAMS = Object.freeze({
  // ---- engine -------------------------------------------------------------------------------
  /** Combined score (0..100) below which a candidate is not raised: one weak finding is noise. */
  alertThreshold: 40,
  /** Findings of one subject within this span of the candidate's first merge into it. */
  mergeWindowMs: DAY,
  /** Per-detector weight wᵢ in 100 × (1 − Π(1 − wᵢ·sᵢ)): how much one finding alone is worth. */
  weights: Object.freeze({
    volume_self: 0.8,
    volume_role: 0.7,
    distinct_patients: 0.8,
    off_hours: 0.6,
    sensitive_patient: 0.9,
    refused_burst: 0.8,
    credential_stuffing: 1,
    account_many_addresses: 0.9,
    break_glass: 0.8,
    credential_new_origin: 0.7,
    mass_action: 1,
    dormant_account: 0.7,
  } satisfies Record<DetectorId, number>),

  /** Per-person state idle this long is dropped (a returning person warms up again). */
  stateTtlMs: 60 * DAY,

  // ---- volume_self / volume_role -------------------------------------------------------------
  /** Active hours (hours with ≥ 1 access) a person needs before their own baseline is trusted. */
  volumeWarmupHours: 24,
  /** Active hours kept per person (ring buffer): about a month of full-time shifts. */
  volumeHistoryHours: 160,
  /** EWMA weight of a new hour in the person's hour-of-week slot (168 slots). */
  volumeSlotAlpha: 0.3,
  /** Robust z: (count − expected) / max(1.4826·MAD, √expected, 1) must reach this. */
  volumeZ: 6,
  /** …and the count must be at least this many times the expected count. */
  volumeRatio: 3,
  /** …and at least this many accesses in the hour: below it, nothing is a volume incident. */
  volumeMinCount: 40,
  /** Active-hour samples a role needs (all its people together) before its baseline is used. */
  roleWarmupSamples: 100,
  /** Active-hour samples kept per role (ring buffer). */
  roleHistorySamples: 2000,
  /** Role robust z, against the role's median/MAD of people's active-hour counts. */
  roleZ: 8,
  /** …and at least this many times the role's 95th percentile hour. */
  roleRatio: 2,

  // ---- distinct_patients ---------------------------------------------------------------------
  /** The sliding window. */
  distinctWindowMs: 30 * MIN,
  /** Distinct patients in the window at which it fires, whatever the person's history. */
  distinctMin: 25,
  /** …and at least this many times the person's own usual (p90 of their active hours' distinct count). */
  distinctSelfRatio: 3,
  /**
   * The long window, for the slow snooper who keeps under `distinctMin` per half hour: distinct
   * patients in it at which it fires, again at least `distinctSelfRatio` × the person's usual hour.
   */
  distinctLongWindowMs: 60 * MIN,
  distinctLongMin: 30,
  /** Active hours of history kept per person for that usual. */
  distinctHistoryHours: 64,
  /** Most recent accesses kept per person for the windows (bounds memory under a flood). */
  distinctRing: 400,

  // ---- off_hours -----------------------------------------------------------------------------
  /** Distinct active days a person needs before their usual hours are known. */
  offHoursWarmupDays: 10,
  /** An hour of the day (UTC, with its two neighbours) is unusual below this share of active hours. */
  offHoursMaxShare: 0.02,
  /** Accesses in the unusual hour before it fires: one look while on call is not an incident. */
  offHoursMinCount: 3,
  /** The histogram halves when its total passes this, so old habits fade (bounded, adapts). */
  offHoursHistogramCap: 400,

  // ---- sensitive_patient ---------------------------------------------------------------------
  /** Roles whose access the server allows only on the care team or under break-glass (CLINICAL_ROLES). */
  clinicalRoles: Object.freeze(['physician', 'nurse']),
  /** Severity by kind of flag. */
  sensitiveScore: Object.freeze({ staff: 0.8, vip: 0.8, flagged: 0.7 }),
  /**
   * An access is explained by the person's own workflow with the patient this recently: they booked,
   * rescheduled or cancelled the patient's appointment, created a notification for them, or were added
   * to their care team.
   */
  sensitiveExplainMs: 30 * DAY,
  /** …or that workflow this soon after the access (the look-up before a booking): findings wait this long. */
  sensitiveGraceMs: 15 * MIN,
  /** …or the patient is on the schedule: an appointment of theirs booked or rescheduled (by anyone) this recently. */
  sensitiveScheduleMs: 21 * DAY,

  // ---- refused_burst -------------------------------------------------------------------------
  refusedWindowMs: 15 * MIN,
  /** Refusals (`access.denied`, refused break-glass) in the window at which it fires. */
  refusedMin: 5,

  // ---- credential_stuffing / account_many_addresses ------------------------------------------
  stuffingWindowMs: HOUR,
  /** Distinct accounts failing from one address in the window. */
  stuffingAccounts: 10,
  /** …and failures must be at least this share of that address's sign-in attempts (a shared NAT). */
  stuffingFailureShare: 0.5,
  manyAddressesWindowMs: HOUR,
  /** Distinct addresses failing on one account in the window. */
  manyAddresses: 5,
  /** Events kept per address / per account (ring buffers). */
  signInRing: 200,

  // ---- break_glass ---------------------------------------------------------------------------
  breakGlassWindowMs: DAY,
  /** Grants in 24 h at which it fires even for a person who has never used it. */
  breakGlassMin: 3,
  /** …and at least this many times the person's daily rate over the previous 30 days. */
  breakGlassRatio: 4,
  breakGlassNormMs: 30 * DAY,
  /** Grant times kept per person. */
  breakGlassRing: 128,

  // ---- credential_new_origin -----------------------------------------------------------------
  /** Every address and certificate seen in a credential's first week is learned, not alerted. */
  originLearnMs: 7 * DAY,
  /** Addresses are compared by prefix (IPv4 /24, IPv6 /64): a cloud client's pool is one origin. */
  originV4PrefixBits: 24,
  originV6PrefixHextets: 4,
  /** Origins remembered per credential (least recently seen forgotten first). */
  originMax: 64,

  // ---- mass_action ---------------------------------------------------------------------------
  massReadWindowMs: 10 * MIN,
  /** PHI accesses by one actor in 10 minutes: a script, not a person at a screen. */
  massReads: 150,
  massExportWindowMs: HOUR,
  /** Exports (archive exports, notification searches) by one actor in an hour. */
  massExports: 20,
  /** …or records disclosed by them (archive `records`, search `resultCount`) in an hour. */
  massExportRecords: 2000,
  massErasureWindowMs: DAY,
  /** Patient erasures by one actor in 24 h. */
  massErasures: 5,

  // ---- dormant_account -----------------------------------------------------------------------
  /** An account unseen this long that acts again. */
  dormantMs: 90 * DAY,
});

/** The shape of PARAMS with its numbers widened, so a test or the simulator can vary one. */
export type DetectorParams = {
  readonly [K in keyof typeof PARAMS]: (typeof PARAMS)[K] extends number ? number : (typeof PARAMS)[K];
};
