import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { tableSnapshot } from '../helpers/db-snapshot.js';

/**
 * Patient identifiers and merges over the REST API of a running server: identifiers in PUT and GET
 * bodies, the errors of bad ones (nothing written), and what a merged (retired) id answers.
 */

const MRN_VALUE = `MRN-${process.pid}-7731`;
const MRN = { system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: MRN_VALUE };
const ctx = { tenantId: 'default', actor: 'test' };

/**
 * The tables a patient write touches. The audit log, checkpoints and data keys are left out: the
 * server writes them in the background (checkpoints, the KEK rotation that completes an erasure).
 */
const DATA = ['patients', 'patient_identifiers', 'contact_points', 'appointments', 'notifications', 'deliveries'];
const dataSnapshot = (h: Harness) =>
  Object.fromEntries(Object.entries(tableSnapshot(h.dataDir)).filter(([t]) => DATA.includes(t)));

describe('patient identity over the REST API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost();
  });
  afterAll(async () => h?.close());

  it('takes identifiers in PUT, answers them in GET and keeps them when a later PUT omits them', async () => {
    const put = await h.request('PUT', '/v1/patients/p-ident-1', { ...samplePatient(), identifiers: [MRN] });
    expect(put.status).toBe(201);
    expect(put.body.identifiers).toEqual([MRN]);
    expect((await h.request('GET', '/v1/patients/p-ident-1')).body.identifiers).toEqual([MRN]);
    expect((await h.request('PUT', '/v1/patients/p-ident-1', samplePatient({ language: 'es' }))).status).toBe(200);
    const got = await h.request('GET', '/v1/patients/p-ident-1');
    expect(got.body.identifiers).toEqual([MRN]);
    expect(got.body.language).toBe('es');
    // The value is sealed: the database file never holds it in the clear.
    const files = readdirSync(h.dataDir).filter((f) => f.startsWith('sealpost.db'));
    for (const f of files) expect(readFileSync(join(h.dataDir, f)).includes(Buffer.from(MRN_VALUE))).toBe(false);
  });

  it('refuses an identifier another patient holds and malformed ones with a clear code, writing nothing', async () => {
    await h.request('PUT', '/v1/patients/p-ident-2', {
      ...samplePatient(),
      identifiers: [{ system: 'A', value: '2' }],
    });
    const before = dataSnapshot(h);
    const conflict = await h.request('PUT', '/v1/patients/p-ident-3', { ...samplePatient(), identifiers: [MRN] });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('SP_PATIENT_IDENTIFIER_CONFLICT');
    expect(conflict.text).not.toContain(MRN_VALUE);
    const steal = await h.request('PUT', '/v1/patients/p-ident-2', { ...samplePatient(), identifiers: [MRN] });
    expect(steal.body.code).toBe('SP_PATIENT_IDENTIFIER_CONFLICT');
    const control = await h.request('PUT', '/v1/patients/p-ident-3', {
      ...samplePatient(),
      identifiers: [{ system: 'HOSP', value: 'MRN\u0007X' }],
    });
    expect([control.status, control.body.code]).toEqual([400, 'SP_PATIENT_INVALID_IDENTIFIER']);
    expect(control.body.detail).toBe('identifiers[0].value: 1-128 characters, no control characters');
    for (const identifiers of [
      [{ system: 'HOSP', value: 'x'.repeat(129) }],
      [{ system: 'HOSP', value: '' }],
      [{ system: 'HOSP' }],
      [{ system: 'HOSP', value: '1', use: 'official' }],
    ]) {
      const bad = await h.request('PUT', '/v1/patients/p-ident-3', { ...samplePatient(), identifiers });
      expect([bad.status, bad.body.code]).toEqual([400, 'SP_REQ_VALIDATION']);
    }
    expect((await h.request('GET', '/v1/patients/p-ident-3')).status).toBe(404);
    expect(dataSnapshot(h)).toEqual(before);
  });

  it('keeps an erased patient identifier from being given to anyone else, without keeping its value', async () => {
    const gone = { system: 'HOSP', value: `ERASED-${process.pid}` };
    await h.request('PUT', '/v1/patients/p-erased', { ...samplePatient(), identifiers: [gone] });
    const erased = await h.request('DELETE', '/v1/patients/p-erased?erase=true');
    expect(erased.status).toBe(202);
    expect(erased.body.counts.identifiers).toBe(1);
    const before = dataSnapshot(h);
    const again = await h.request('PUT', '/v1/patients/p-new', { ...samplePatient(), identifiers: [gone] });
    expect([again.status, again.body.code]).toEqual([409, 'SP_PATIENT_IDENTIFIER_ERASED']);
    expect(again.text).not.toContain(gone.value);
    expect(dataSnapshot(h)).toEqual(before);
    expect(await h.app.services.patients.findByIdentifier(ctx, gone)).toEqual({ patientId: 'p-erased', erased: true });
  });

  it('answers a merged id with 410 SP_PATIENT_MERGED naming the survivor, and refuses writes, notifications and bookings for it', async () => {
    await h.request('PUT', '/v1/patients/p-retired', samplePatient());
    await h.request('PUT', '/v1/patients/p-survivor', samplePatient());
    await h.app.services.patients.merge(ctx, { survivorId: 'p-survivor', retiredId: 'p-retired' });
    const before = dataSnapshot(h);
    const got = await h.request('GET', '/v1/patients/p-retired');
    expect(got.status).toBe(410);
    expect(got.headers['content-type']).toContain('application/problem+json');
    expect(got.body).toMatchObject({ code: 'SP_PATIENT_MERGED', mergedInto: 'p-survivor' });
    const put = await h.request('PUT', '/v1/patients/p-retired', samplePatient());
    expect(put.status).toBe(410);
    expect(put.body).toMatchObject({ code: 'SP_PATIENT_MERGED', mergedInto: 'p-survivor' });
    const note = await h.request('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: 'p-retired',
      data: { reason: 'check-up', dueDate: '2031-01-01' },
    });
    expect([note.status, note.body.code]).toEqual([410, 'SP_PATIENT_MERGED']);
    const appt = await h.request('PUT', '/v1/appointments/appt-merged', {
      patientId: 'p-retired',
      start: new Date(Date.now() + 3 * 86_400_000).toISOString(),
    });
    expect([appt.status, appt.body.code]).toEqual([410, 'SP_PATIENT_MERGED']);
    expect(dataSnapshot(h)).toEqual(before);
    expect((await h.request('GET', '/v1/patients/p-survivor')).status).toBe(200);
  });
});
