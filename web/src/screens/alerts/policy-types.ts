export const CHANNELS = ['sms', 'email', 'webhook', 'paging'] as const;

export interface Step {
  targets: string[];
  channels: string[];
  waitSeconds: number;
  repeat?: { times: number; everySeconds: number };
}

export interface Policy {
  id: string;
  name: string;
  isDefault: boolean;
  steps: Step[];
  highSteps?: Step[];
  fallbackTargets?: string[];
  createdAt: string;
  updatedAt: string;
}

/** A step as the editor holds it: texts the person types, turned into the API's body on save. */
export interface StepDraft {
  targets: string;
  channels: string[];
  waitMinutes: string;
  repeatTimes: string;
  repeatMinutes: string;
}

export const draftOf = (s: Step): StepDraft => ({
  targets: s.targets.join(', '),
  channels: [...s.channels],
  waitMinutes: String(s.waitSeconds / 60),
  repeatTimes: String(s.repeat?.times ?? 0),
  repeatMinutes: String((s.repeat?.everySeconds ?? 120) / 60),
});

export const emptyStep = (): StepDraft => ({
  targets: 'target',
  channels: ['sms'],
  waitMinutes: '5',
  repeatTimes: '0',
  repeatMinutes: '2',
});

const split = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * The API's step from a draft. Numbers are passed as typed (a text that is no number becomes NaN,
 * which JSON sends as null): the API validates and names the field it refuses.
 */
export function stepOf(d: StepDraft): Step {
  const minutes = (v: string) => (v.trim() === '' ? NaN : Math.round(Number(v) * 60));
  const times = Number(d.repeatTimes || '0');
  return {
    targets: split(d.targets),
    channels: d.channels,
    waitSeconds: minutes(d.waitMinutes),
    ...(times > 0 ? { repeat: { times, everySeconds: minutes(d.repeatMinutes) } } : {}),
  };
}

export { split as splitList };
