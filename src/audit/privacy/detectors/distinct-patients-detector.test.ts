import { describe, expect, it } from 'vitest';
import { DistinctPatientsDetector } from './distinct-patients-detector.js';
import { DAY, FactStream, HOUR, MINUTE, T0 } from './fact-builder.js';

const run = (s: FactStream) => {
  const d = new DistinctPatientsDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('distinct patients detector', () => {
  it('fires when one person touches many different patients in half an hour', () => {
    const s = new FactStream();
    for (let d = 0; d < 10; d++)
      for (let i = 0; i < 30; i++) s.read(T0 + d * DAY + 8 * HOUR + i * 8 * MINUTE, 'user:n', `p${i % 6}`);
    const at = T0 + 10 * DAY + 8 * HOUR;
    for (let i = 0; i < 40; i++) s.read(at + i * 30_000, 'user:n', `v${i}`);
    const found = run(s);
    expect(found.map((f) => f.reason.split(';')[0])).toEqual([
      '25 distinct patients in 30 min',
      '38 distinct patients in 30 min',
    ]);
    expect(found[0]).toMatchObject({ detector: 'distinct_patients', subject: 'user:n' });
    expect(found[0]!.reason).toMatch(/^25 distinct patients in 30 min; usual 6/);
  });

  it('fires on a slow snooper who stays under the half-hour bar but not the hour’s', () => {
    const s = new FactStream();
    for (let d = 0; d < 10; d++)
      for (const h of [9, 10, 11, 14])
        for (let i = 0; i < 5; i++) s.read(T0 + d * DAY + h * HOUR + i * 11 * MINUTE, 'user:rec', `p${d}-${h}-${i}`);
    // 35 different patients over an hour: about 18 in any half hour, 35 in the hour.
    const at = T0 + 10 * DAY + 10 * HOUR;
    for (let i = 0; i < 35; i++) s.read(at + i * 100_000, 'user:rec', `x${i}`);
    const found = run(s);
    expect(found.map((f) => f.reason)).toEqual(['30 distinct patients in 60 min; usual 5 per active hour']);
    expect(found[0]!.windowStart).toBe(at);
  });

  it('stays quiet for a receptionist’s busy hour of ordinary check-ins below the hour’s bar', () => {
    const s = new FactStream();
    for (let d = 0; d < 10; d++)
      for (const h of [9, 10, 11, 14])
        for (let i = 0; i < 8; i++) s.read(T0 + d * DAY + h * HOUR + i * 7 * MINUTE, 'user:rec', `p${d}-${h}-${i}`);
    // A Monday rush: 28 different patients in the hour, 14 in any half hour.
    const at = T0 + 10 * DAY + 9 * HOUR;
    for (let i = 0; i < 28; i++) s.read(at + i * 2 * MINUTE, 'user:rec', `m${i}`);
    expect(run(s)).toEqual([]);
  });

  it('stays quiet for a registration clerk whose usual hour has many patients', () => {
    const s = new FactStream();
    for (let d = 0; d < 10; d++)
      for (const h of [8, 9, 10, 11])
        for (let i = 0; i < 24; i++)
          s.read(T0 + d * DAY + h * HOUR + i * 2.5 * MINUTE, 'user:clerk', `p${d}-${h}-${i}`);
    // 50 different patients in 30 minutes: twice her usual rate, within 3×.
    const at = T0 + 10 * DAY + 8 * HOUR;
    for (let i = 0; i < 50; i++) s.read(at + i * 36_000, 'user:clerk', `q${i}`);
    expect(run(s)).toEqual([]);
  });

  it('stays quiet when the same few patients are read many times', () => {
    const s = new FactStream();
    for (let i = 0; i < 300; i++) s.read(T0 + i * 5_000, 'user:n', `p${i % 8}`);
    expect(run(s)).toEqual([]);
  });

  it('sends one burst once, with a repeat under the same key only as it grows by half', () => {
    const s = new FactStream();
    for (let i = 0; i < 60; i++) s.read(T0 + i * 20_000, 'user:n', `v${i}`);
    const found = run(s);
    expect(found.map((f) => f.reason.split(' ')[0])).toEqual(['25', '38', '57']);
    expect(new Set(found.map((f) => f.key)).size).toBe(1);
  });
});
