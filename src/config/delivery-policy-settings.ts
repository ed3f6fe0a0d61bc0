import { parseDurationMinutes } from './time-settings.js';

/**
 * Frequency caps, deduplication and digests of routine deliveries (core/delivery-policy.ts):
 * SEALPOST_FREQUENCY_CAPS, SEALPOST_DEDUP_WINDOW, SEALPOST_DIGEST_WINDOW.
 */
export interface DeliveryPolicySettings {
  /**
   * Per channel kind (a channel not named has no cap): routine deliveries to one patient on that
   * channel at most `perDay` in any 24 hours and `perWeek` in any 7 days.
   */
  caps: Readonly<Record<string, { perDay: number; perWeek: number }>>;
  /** Identical routine notifications (same patient, type and content) within this many minutes go out once; 0: off. */
  dedupWindowMinutes: number;
  /** Routine deliveries to one patient and channel due within this many minutes go out as one nudge; 0: off. */
  digestWindowMinutes: number;
}

/** The defaults fit the HIPAA healthcare exemption of the TCPA for SMS: at most 1 a day and 3 a week. */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicySettings = {
  caps: { sms: { perDay: 1, perWeek: 3 } },
  dedupWindowMinutes: 24 * 60,
  digestWindowMinutes: 30,
};

/** Parses "sms:1/3,email:5/20" (per day / per week) or "off". Throws on anything else. */
export function parseFrequencyCaps(s: string): DeliveryPolicySettings['caps'] {
  if (s.trim() === 'off') return {};
  const out: Record<string, { perDay: number; perWeek: number }> = {};
  for (const item of s.split(',')) {
    const m = /^\s*([a-z]{1,16}):(\d{1,4})\/(\d{1,5})\s*$/.exec(item);
    if (!m || out[m[1]]) throw new Error('bad frequency caps');
    const perDay = Number(m[2]);
    const perWeek = Number(m[3]);
    if (perDay < 1 || perWeek < perDay) throw new Error('bad frequency caps');
    out[m[1]] = { perDay, perWeek };
  }
  return out;
}

export function deliveryPolicySettings(
  str: (name: string) => string | undefined,
  channelKinds: readonly string[],
  errors: string[],
): DeliveryPolicySettings {
  let caps = DEFAULT_DELIVERY_POLICY.caps;
  const rawCaps = str('FREQUENCY_CAPS');
  if (rawCaps !== undefined) {
    try {
      caps = parseFrequencyCaps(rawCaps);
      const unknown = Object.keys(caps).filter((k) => !channelKinds.includes(k));
      if (unknown.length) errors.push(`SEALPOST_FREQUENCY_CAPS: unknown channel ${unknown.join(', ')}`);
    } catch {
      errors.push('SEALPOST_FREQUENCY_CAPS: expected "channel:perDay/perWeek,…" (perWeek >= perDay >= 1) or "off"');
    }
  }
  const window = (name: string, fallback: number): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    if (raw === 'off') return 0;
    try {
      const m = parseDurationMinutes(raw);
      if (m <= 7 * 1440) return m;
    } catch {
      // reported below
    }
    errors.push(`SEALPOST_${name}: expected a duration like "30m" or "24h" (at most 7d), or "off"`);
    return fallback;
  };
  return {
    caps,
    dedupWindowMinutes: window('DEDUP_WINDOW', DEFAULT_DELIVERY_POLICY.dedupWindowMinutes),
    digestWindowMinutes: window('DIGEST_WINDOW', DEFAULT_DELIVERY_POLICY.digestWindowMinutes),
  };
}
