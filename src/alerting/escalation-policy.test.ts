import { describe, expect, it } from 'vitest';
import { BUILT_IN_POLICY, nextAfter, parsePolicyBody, policyTargets, stepsFor } from './escalation-policy.js';

const step = { targets: ['target'], channels: ['sms'], waitSeconds: 60 };
const fails = (body: Record<string, unknown>) => {
  try {
    parsePolicyBody(body);
    return null;
  } catch (e) {
    return (e as { detail?: string }).detail;
  }
};

describe('escalation policies', () => {
  it('validates steps, channels, waits, repeats and targets, naming the field', () => {
    expect(fails({ steps: [] })).toBe('steps');
    expect(fails({ steps: [{ ...step, channels: ['fax'] }] })).toBe('steps[0].channels');
    expect(fails({ steps: [step, { ...step, waitSeconds: -1 }] })).toBe('steps[1].waitSeconds');
    expect(fails({ steps: [{ ...step, waitSeconds: 1.5 }] })).toBe('steps[0].waitSeconds');
    expect(fails({ steps: [{ ...step, repeat: { times: -1, everySeconds: 5 } }] })).toBe('steps[0].repeat.times');
    expect(fails({ steps: [{ ...step, targets: ['nurse'] }] })).toBe('steps[0].targets[0]');
    expect(fails({ steps: [step], fallbackTargets: ['target'] })).toBe('fallbackTargets[0]');
    expect(fails({ steps: [step], highSteps: [] })).toBe('highSteps');
    expect(fails({ steps: [{ ...step, targets: ['charge_nurse@4-west', 'group:icu'] }] })).toBeNull();
  });

  it('high priority uses its own rule set when there is one', () => {
    const p = parsePolicyBody({ steps: [step], highSteps: [{ ...step, channels: ['paging'] }] });
    expect(stepsFor(p, 'high')[0]!.channels).toEqual(['paging']);
    expect(stepsFor(p, 'medium')[0]!.channels).toEqual(['sms']);
    expect(stepsFor(BUILT_IN_POLICY, 'high')).toBe(BUILT_IN_POLICY.steps);
  });

  it('walks repeats, then the wait, then the next step; past the final step is expiry', () => {
    const steps = BUILT_IN_POLICY.steps;
    expect(nextAfter(steps, 0, 0)).toEqual({ step: 0, repeat: 1, delayMs: 120_000 });
    expect(nextAfter(steps, 0, 1)).toEqual({ step: 0, repeat: 2, delayMs: 120_000 });
    expect(nextAfter(steps, 0, 2)).toEqual({ step: 1, repeat: 0, delayMs: 300_000 });
    expect(steps).toHaveLength(1); // step 1 of 1 = expired
  });

  it('lists the targets to check, without the alert-own literal', () => {
    const p = parsePolicyBody({ steps: [{ ...step, targets: ['target', 'group:a'] }], fallbackTargets: ['user:x'] });
    expect(policyTargets(p)).toEqual(['group:a', 'user:x']);
  });
});
