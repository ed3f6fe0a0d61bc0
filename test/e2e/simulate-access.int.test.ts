import { afterAll, beforeAll, expect, it, describe } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROFILES } from '../../scripts/simulate-access/incidents.js';
import { simulate, type SimulationRun } from '../../scripts/simulate-access/simulate.js';
import { evaluate, expectsEntry, type Evaluation } from '../../scripts/simulate-access/evaluate.js';
import { verifyReportDir } from '../../src/audit/privacy/report-verify.js';

/**
 * The access simulator's small profile (4 days, 20 staff, a handful of incidents) through the real
 * server: the log it leaves is complete, the engine finds every injected incident, and a breach
 * report over a snooping incident names exactly the patients the simulator touched. SQLite only
 * (the simulator's own choice: a fresh data directory, as `npm run simulate:access` uses).
 */
describe('access simulator, small profile', () => {
  let run: SimulationRun;
  let evaluation: Evaluation;

  beforeAll(async () => {
    run = await simulate(PROFILES.small);
    evaluation = await evaluate(run);
  }, 120_000);

  afterAll(async () => {
    await run?.server.close();
  }, 60_000);

  it('leaves an audit entry for every simulated request that the server audits', () => {
    expect(evaluation.audited).toBeGreaterThan(1000);
    expect(evaluation.missing).toEqual({});
  });

  it('injects every incident of the profile and the engine alerts on each with its own detector', () => {
    expect(run.injected.map((i) => i.spec.id).sort()).toEqual(PROFILES.small.incidents.map((i) => i.id).sort());
    for (const i of run.injected) expect(i.problem, i.spec.id).toBeNull();
    expect(evaluation.incidents.filter((i) => !i.detected).map((i) => i.id)).toEqual([]);
  });

  it('reports, for the snooping user and window, exactly the patients the simulator touched, and the report verifies', async () => {
    const snoop = run.injected.find((i) => i.spec.kind === 'distinct_patients')!;
    const from = snoop.start;
    const to = snoop.end + 1_000;
    const truth = new Set(
      run.sim.requests
        // Reads of REST appointments leave no entry (the known gap in evaluate.ts): not in the log, not in a report.
        .filter((r) => r.subject === snoop.subject && r.at >= from && r.at < to && r.patientId && r.status < 300)
        .filter(expectsEntry)
        .map((r) => r.patientId!),
    );
    for (const p of snoop.patients) expect(truth.has(p)).toBe(true);

    const officer = run.sim.hospital.byRole('privacy_officer')[0];
    const r = await run.sim.person(officer, 77, 'POST', '/v1/privacy/reports', '/v1/privacy/reports', {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      user: snoop.subject.slice('user:'.length),
    });
    expect(r?.status).toBe(200);
    const report = JSON.parse(r!.body.reportJson);
    // Patients erased since (the small profile's mass erasure) are listed by reference only.
    const erased = [...truth].filter((id) => run.sim.patients.get(id)!.erased);
    expect([...report.patients.ids].sort()).toEqual([...truth].filter((id) => !erased.includes(id)).sort());
    expect(report.patients.erasedRefs ?? []).toHaveLength(erased.length);
    expect(report.patients.count).toBe(truth.size);

    const dir = mkdtempSync(join(tmpdir(), 'sim-report-'));
    try {
      writeFileSync(join(dir, 'report.json'), r!.body.reportJson);
      writeFileSync(join(dir, 'report.sig.json'), JSON.stringify(r!.body.signature));
      const v = verifyReportDir(dir);
      expect(v.problems).toEqual([]);
      expect(v).toMatchObject({ consistent: true, pinned: false, ok: false });
      // Pinned to the key set the server publishes, the keys are the installation's. The simulated month
      // lies before the keyring was made (real time), so the signing time precedes the key's notBefore.
      const keys = await (await fetch(`${run.server.url}/.well-known/sealpost-keys.json`)).json();
      const signedAt = Date.parse(r!.body.signature.header.signedAt);
      const notBefore = Date.parse(keys.keys.find((k: { kid: string }) => k.kid === r!.body.signature.keyId).notBefore);
      expect(verifyReportDir(dir, keys).problems).toEqual(
        signedAt < notBefore ? ['the report was signed before the key was valid'] : [],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
