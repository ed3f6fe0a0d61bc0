import { ALERT_CHANNELS, parseTarget, type AlertChannel, type AlertPriority } from './alert-types.js';
import { AppError } from '../core/errors.js';

/** One step: notify `targets` on `channels`, repeat, then wait and fall through to the next step. */
export interface PolicyStep {
  /** Target strings; the literal `target` stands for the alert's own target. */
  targets: string[];
  channels: AlertChannel[];
  /** After the step's last notification, how long to wait before the next step (or expiry). */
  waitSeconds: number;
  /** Re-notify the same targets `times` more times, every `everySeconds`. */
  repeat?: { times: number; everySeconds: number };
}

export interface PolicyBody {
  steps: PolicyStep[];
  /** The rule set for priority high (which always bypasses quiet hours and do-not-disturb). */
  highSteps?: PolicyStep[];
  /** Whom to notify when a step's targets name nobody (a schedule gap, an empty group). */
  fallbackTargets?: string[];
}

/** The literal that stands for the alert's own target in a step. */
export const ALERT_OWN_TARGET = 'target';

/** The built-in policy of a tenant without a default: the alert's target, twice more every 2 min, 5 min wait. */
export const BUILT_IN_POLICY: PolicyBody = {
  steps: [
    {
      targets: [ALERT_OWN_TARGET],
      channels: ['sms', 'email', 'paging', 'webhook'],
      waitSeconds: 300,
      repeat: { times: 2, everySeconds: 120 },
    },
  ],
};

const MAX_STEPS = 20;
const MAX_TARGETS = 20;
const MAX_WAIT = 7 * 86_400;
const MAX_REPEATS = 20;

/** The steps in force for a priority. */
export function stepsFor(p: PolicyBody, priority: AlertPriority): PolicyStep[] {
  return priority === 'high' && p.highSteps?.length ? p.highSteps : p.steps;
}

/** Every target string a policy names (except the `target` literal), for existence checks. */
export function policyTargets(p: PolicyBody): string[] {
  const all = [...p.steps, ...(p.highSteps ?? [])].flatMap((s) => s.targets);
  return [...new Set([...all, ...(p.fallbackTargets ?? [])].filter((t) => t !== ALERT_OWN_TARGET))];
}

const invalid = (field: string): never => {
  throw new AppError('SP_ALERT_POLICY_INVALID', field);
};

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function targetsOf(v: unknown, field: string, allowOwn: boolean): string[] {
  if (!Array.isArray(v) || v.length > MAX_TARGETS) invalid(field);
  const out: string[] = [];
  for (const [i, t] of (v as unknown[]).entries()) {
    if (typeof t !== 'string') invalid(`${field}[${i}]`);
    if (!(allowOwn && t === ALERT_OWN_TARGET)) {
      try {
        parseTarget(t as string);
      } catch {
        invalid(`${field}[${i}]`);
      }
    }
    out.push(t as string);
  }
  return out;
}

function stepsOf(v: unknown, field: string): PolicyStep[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_STEPS) invalid(field);
  return (v as unknown[]).map((raw, i) => {
    const f = `${field}[${i}]`;
    if (typeof raw !== 'object' || raw === null) invalid(f);
    const s = raw as Record<string, unknown>;
    const targets = targetsOf(s.targets, `${f}.targets`, true);
    if (!targets.length) invalid(`${f}.targets`);
    if (!Array.isArray(s.channels) || !s.channels.length) invalid(`${f}.channels`);
    const channels = [...new Set(s.channels as unknown[])];
    for (const c of channels) if (!ALERT_CHANNELS.includes(c as AlertChannel)) invalid(`${f}.channels`);
    if (!isInt(s.waitSeconds, 0, MAX_WAIT)) invalid(`${f}.waitSeconds`);
    const step: PolicyStep = { targets, channels: channels as AlertChannel[], waitSeconds: s.waitSeconds as number };
    if (s.repeat !== undefined) {
      const r = s.repeat as Record<string, unknown>;
      if (typeof r !== 'object' || r === null) invalid(`${f}.repeat`);
      if (!isInt(r.times, 0, MAX_REPEATS)) invalid(`${f}.repeat.times`);
      if (!isInt(r.everySeconds, 1, MAX_WAIT)) invalid(`${f}.repeat.everySeconds`);
      if ((r.times as number) > 0) step.repeat = { times: r.times as number, everySeconds: r.everySeconds as number };
    }
    return step;
  });
}

/** Validates a policy body (400 SP_ALERT_POLICY_INVALID naming the field); target existence is checked by the caller. */
export function parsePolicyBody(v: { steps?: unknown; highSteps?: unknown; fallbackTargets?: unknown }): PolicyBody {
  const body: PolicyBody = { steps: stepsOf(v.steps, 'steps') };
  if (v.highSteps !== undefined) body.highSteps = stepsOf(v.highSteps, 'highSteps');
  if (v.fallbackTargets !== undefined) body.fallbackTargets = targetsOf(v.fallbackTargets, 'fallbackTargets', false);
  return body;
}

/** Where step `s` repeat `r` leads: the next repeat, the next step, or expiry, with the delay. */
export function nextAfter(
  steps: readonly PolicyStep[],
  s: number,
  r: number,
): { step: number; repeat: number; delayMs: number } {
  const cur = steps[s]!;
  if (cur.repeat && r < cur.repeat.times) return { step: s, repeat: r + 1, delayMs: cur.repeat.everySeconds * 1000 };
  // steps.length as the step number means "the final step passed unanswered": expiry.
  return { step: s + 1, repeat: 0, delayMs: cur.waitSeconds * 1000 };
}
