import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Client } from 'fhir-kit-client';
import { Agent, setGlobalDispatcher } from 'undici';
import { httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';

const tag = randomBytes(4).toString('hex');
/** Planted in names: must never show up in a log line or an error. */
const MARKER = `PHIMARKER${tag}`;
const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.3.999.1';
const APPT_SYSTEM = 'urn:oid:2.16.840.1.113883.3.999.2';
const TZ = 'http://hl7.org/fhir/StructureDefinition/timezone';
const DAY = 86_400_000;

const fhirPatient = (mrn: string, over: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: MRN_SYSTEM, value: mrn }],
  name: [{ use: 'official', family: `Lopez${MARKER}`, given: ['Ana'] }],
  birthDate: '1980-04-02',
  gender: 'female',
  telecom: [
    { system: 'phone', use: 'home', value: '+14155550000' },
    { system: 'phone', use: 'mobile', value: '+14155552671', rank: 1 },
    { system: 'email', value: 'ana@example.com', rank: 2 },
  ],
  communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'es-MX' }] }, preferred: true }],
  extension: [{ url: TZ, valueCode: 'America/New_York' }],
  ...over,
});

const fhirAppointment = (patientId: string, over: Record<string, unknown> = {}) => ({
  resourceType: 'Appointment',
  status: 'booked',
  start: new Date(Date.now() + 30 * DAY).toISOString().replace(/\.\d+Z$/, 'Z'),
  participant: [
    { actor: { reference: `Patient/${patientId}` }, status: 'accepted' },
    { actor: { reference: 'Location/l1', display: 'Clinic A, room 3' }, status: 'accepted' },
    { actor: { reference: 'Practitioner/d1', display: 'Dr. Who' }, status: 'accepted' },
  ],
  patientInstruction: 'Bring your insurance card',
  comment: 'staff only note',
  ...over,
});

describeEachBackend('FHIR R4 Patient and Appointment through a FHIR client', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  let fhir: Client;
  const raw = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(h.url, h.cert, method, `/fhir/R4${path}`, body, {
      authorization: `Bearer ${h.apiKey}`,
      ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
      ...headers,
    });
  const count = async (table: string) =>
    Number((await db.query<{ n: number | string }>(`select count(*) as n from ${table}`))[0]!.n);
  const counts = async () => ({
    patients: await count('patients'),
    appointments: await count('appointments'),
    notifications: await count('notifications'),
    identifiers: await count('patient_identifiers'),
  });
  const outcome = (r: { status: number; body: any }, status: number, code: string) => {
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue[0].details.coding[0].code).toBe(code);
    expect(JSON.stringify(r.body)).not.toContain(MARKER);
  };
  const reminders = async (externalId: string) =>
    (await h.request('GET', `/v1/appointments/${externalId}`)).body.reminders as { status: string }[];

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    setGlobalDispatcher(new Agent({ connect: { ca: h.cert } }));
    fhir = new Client({ baseUrl: `${h.url}/fhir/R4`, customHeaders: { authorization: `Bearer ${h.apiKey}` } });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('creates a patient with a server-assigned opaque id, reads it back as R4, and finds it by identifier', async () => {
    const mrn = `MRN-${tag}-1`;
    const created = (await fhir.create({ resourceType: 'Patient', body: fhirPatient(mrn) })) as any;
    expect(created.id).toMatch(/^p-[A-Za-z0-9_-]{20,}$/);
    expect(created.id).not.toContain(mrn);
    expect(created.meta.versionId).toMatch(/^\d+$/);
    expect(created).toMatchObject({
      resourceType: 'Patient',
      active: true,
      identifier: [{ system: MRN_SYSTEM, value: mrn }],
      name: [{ family: `Lopez${MARKER}`, given: ['Ana'] }],
      birthDate: '1980-04-02',
      // The home phone is not a number Sealpost texts: only the mobile and the e-mail are kept.
      telecom: [
        { system: 'phone', use: 'mobile', value: '+14155552671', rank: 1 },
        { system: 'email', value: 'ana@example.com', rank: 2 },
      ],
      communication: [{ language: { coding: [{ code: 'es' }] }, preferred: true }],
      extension: [{ url: TZ, valueCode: 'America/New_York' }],
    });
    expect(created.gender).toBeUndefined();

    const read = (await fhir.read({ resourceType: 'Patient', id: created.id })) as any;
    expect(read).toEqual(created);
    // The same patient through the REST API.
    expect((await h.request('GET', `/v1/patients/${created.id}`)).body.language).toBe('es');

    const r = await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-loc`));
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(r.headers.location).toBe(`${h.url}/fhir/R4/Patient/${r.body.id}/_history/${r.body.meta.versionId}`);
    expect(r.headers.etag).toBe(`W/"${r.body.meta.versionId}"`);

    const found = (await fhir.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${MRN_SYSTEM}|${mrn}` },
    })) as any;
    expect(found).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(found.entry[0]).toMatchObject({
      fullUrl: `${h.url}/fhir/R4/Patient/${created.id}`,
      search: { mode: 'match' },
      resource: { id: created.id },
    });
    expect(found.link[0].relation).toBe('self');
    // POST _search keeps the identifier out of the URL.
    const posted = (await fhir.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${MRN_SYSTEM}|${mrn}` },
      options: { postSearch: true },
    })) as any;
    expect(posted.entry.map((e: any) => e.resource.id)).toEqual([created.id]);
    const none = (await fhir.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${MRN_SYSTEM}|nope` },
    })) as any;
    expect(none.total).toBe(0);
    expect(none.entry).toBeUndefined();
    outcome(await raw('GET', `/Patient?identifier=${mrn}`), 400, 'SP_FHIR_INVALID_SEARCH');
    outcome(await raw('GET', `/Patient?name=x`), 400, 'SP_FHIR_INVALID_SEARCH');
  });

  it('conditional create answers the existing patient on a match, 412 on several, and creates otherwise', async () => {
    const a = `MRN-${tag}-ca`;
    const b = `MRN-${tag}-cb`;
    const first = await raw('POST', '/Patient', fhirPatient(a), { 'if-none-exist': `identifier=${MRN_SYSTEM}|${a}` });
    expect(first.status).toBe(201);
    const again = await raw('POST', '/Patient', fhirPatient(a), { 'if-none-exist': `identifier=${MRN_SYSTEM}|${a}` });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const second = await raw('POST', '/Patient', fhirPatient(b));
    expect(second.status).toBe(201);
    const before = await counts();
    outcome(
      await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-cc`), {
        'if-none-exist': `identifier=${MRN_SYSTEM}|${a},${MRN_SYSTEM}|${b}`,
      }),
      412,
      'SP_FHIR_MULTIPLE_MATCHES',
    );
    outcome(
      await raw('POST', '/Patient', fhirPatient('x'), { 'if-none-exist': 'name=x' }),
      400,
      'SP_FHIR_INVALID_SEARCH',
    );
    expect(await counts()).toEqual(before);
  });

  it('updates a patient (If-Match honoured), never creates by update, and refuses an id that is not the URL’s', async () => {
    const p = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-u`))).body;
    const changed = { ...fhirPatient(`MRN-${tag}-u`), id: p.id, birthDate: '1981-05-03' };
    delete (changed as { extension?: unknown }).extension; // the stored zone stays
    const updated = await raw('PUT', `/Patient/${p.id}`, changed, { 'if-match': `W/"${p.meta.versionId}"` });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.birthDate).toBe('1981-05-03');
    expect(updated.body.extension).toEqual([{ url: TZ, valueCode: 'America/New_York' }]);
    const before = await counts();
    outcome(
      await raw(
        'PUT',
        `/Patient/${p.id}`,
        { ...changed, birthDate: '1970-01-01' },
        { 'if-match': `W/"${p.meta.versionId}"` },
      ),
      412,
      'SP_FHIR_VERSION_CONFLICT',
    );
    outcome(
      await raw('PUT', `/Patient/p-unknown${tag}`, { ...changed, id: `p-unknown${tag}` }),
      404,
      'SP_FHIR_NOT_FOUND',
    );
    outcome(await raw('PUT', `/Patient/${p.id}`, { ...changed, id: 'other' }), 400, 'SP_FHIR_ID_MISMATCH');
    outcome(await raw('PUT', `/Patient/${p.id}`, { ...changed, id: undefined }), 400, 'SP_FHIR_ID_MISMATCH');
    outcome(await raw('GET', `/Patient/p-unknown${tag}`), 404, 'SP_FHIR_NOT_FOUND');
    expect(await counts()).toEqual(before);
    expect(((await fhir.read({ resourceType: 'Patient', id: p.id })) as any).birthDate).toBe('1981-05-03');
  });

  it('refuses bad Patient input with an OperationOutcome naming the path, and writes nothing', async () => {
    const before = await counts();
    const cases: [unknown, number, string, RegExp?][] = [
      [
        { ...fhirPatient('bad1'), favouriteColour: MARKER },
        400,
        'SP_FHIR_INVALID_RESOURCE',
        /^Patient: has an element/,
      ],
      [
        { ...fhirPatient('bad2'), birthDate: 19800402 },
        400,
        'SP_FHIR_INVALID_RESOURCE',
        /^Patient.birthDate: must be of JSON type string/,
      ],
      [{ ...fhirPatient('bad3'), name: { family: MARKER } }, 400, 'SP_FHIR_INVALID_RESOURCE', /^Patient.name:/],
      [{ ...fhirPatient('bad4'), resourceType: 'Appointment' }, 400, 'SP_FHIR_INVALID_RESOURCE', /resourceType/],
      [{ ...fhirPatient('bad5'), extension: undefined }, 400, 'SP_FHIR_INVALID_RESOURCE', /timezone/],
      [
        { ...fhirPatient('bad6'), extension: [{ url: TZ, valueCode: 'Mars/Olympus' }] },
        400,
        'SP_PATIENT_INVALID_TIMEZONE',
      ],
      [
        { ...fhirPatient('bad7'), contained: [{ resourceType: 'Patient' }] },
        400,
        'SP_FHIR_INVALID_RESOURCE',
        /contained/,
      ],
      [{ ...fhirPatient('bad8'), birthDate: undefined }, 400, 'SP_FHIR_INVALID_RESOURCE', /birthDate/],
      [{ ...fhirPatient('bad9'), active: false }, 400, 'SP_FHIR_INVALID_RESOURCE', /active/],
      [{ ...fhirPatient('bad10'), identifier: [{ value: 'x' }] }, 400, 'SP_FHIR_INVALID_RESOURCE', /identifier\[0\]/],
    ];
    for (const [body, status, code, diag] of cases) {
      const r = await raw('POST', '/Patient', body);
      outcome(r, status, code);
      if (diag) expect(r.body.issue[0].diagnostics).toMatch(diag);
    }
    outcome(await raw('POST', '/Patient', `{"resourceType":"Patient",`), 400, 'SP_REQ_MALFORMED_JSON');
    outcome(
      await raw('POST', '/Patient', `<Patient xmlns="http://hl7.org/fhir"/>`, {
        'content-type': 'application/fhir+xml',
      }),
      415,
      'SP_REQ_UNSUPPORTED_MEDIA_TYPE',
    );
    const big = { ...fhirPatient('big'), text: { status: 'generated', div: `<div>${'x'.repeat(70_000)}</div>` } };
    outcome(await raw('POST', '/Patient', big), 413, 'SP_REQ_TOO_LARGE');
    // application/json is taken as well as application/fhir+json.
    expect(
      (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-json`), { 'content-type': 'application/json' })).status,
    ).toBe(201);
    expect((await counts()).patients).toBe(before.patients + 1);
  });

  it('books an appointment with the REST reminder series, reschedules, finds, and cancels it through FHIR', async () => {
    const p = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-a`))).body;
    const ident = { system: APPT_SYSTEM, value: `SCH-${tag}-1` };
    const created = (await fhir.create({
      resourceType: 'Appointment',
      body: fhirAppointment(p.id, { identifier: [ident] }),
    })) as any;
    expect(created.id).toMatch(/^fa-[0-9a-f]{40}$/);
    expect(created).toMatchObject({
      status: 'booked',
      identifier: [ident],
      patientInstruction: 'Bring your insurance card',
      participant: [
        { actor: { reference: `Patient/${p.id}` } },
        { actor: { type: 'Location', display: 'Clinic A, room 3' } },
        { actor: { type: 'Practitioner', display: 'Dr. Who' } },
      ],
    });
    expect(created.comment).toBeUndefined();
    // The reminder series of PUT /v1/appointments: 7 days, 1 day and 2 hours before.
    expect((await reminders(created.id)).map((r) => r.status)).toEqual(['scheduled', 'scheduled', 'scheduled']);

    // The same identifier posted again is the same appointment (an EHR's retry), moved here.
    const later = new Date(Date.now() + 40 * DAY).toISOString().replace(/\.\d+Z$/, 'Z');
    const again = await raw('POST', '/Appointment', fhirAppointment(p.id, { identifier: [ident], start: later }));
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(created.id);
    const rs = await reminders(created.id);
    expect(rs.filter((r) => r.status === 'scheduled')).toHaveLength(3);
    expect(rs.filter((r) => r.status === 'cancelled')).toHaveLength(3);

    const byIdentifier = (await fhir.search({
      resourceType: 'Appointment',
      searchParams: { identifier: `${APPT_SYSTEM}|${ident.value}` },
    })) as any;
    expect(byIdentifier.entry.map((e: any) => e.resource.id)).toEqual([created.id]);
    const byPatient = (await fhir.search({
      resourceType: 'Appointment',
      searchParams: { patient: `Patient/${p.id}` },
    })) as any;
    expect(byPatient.total).toBe(1);
    expect(byPatient.entry[0].resource.start).toBe(later);

    const cancelled = (await fhir.update({
      resourceType: 'Appointment',
      id: created.id,
      body: { ...again.body, status: 'cancelled' },
    })) as any;
    expect(cancelled.status).toBe('cancelled');
    expect((await reminders(created.id)).every((r) => r.status === 'cancelled')).toBe(true);
    expect((await h.request('GET', `/v1/appointments/${created.id}`)).body.status).toBe('cancelled');
  });

  it('a no-show cancels what is pending and reads back as noshow; a REST appointment reads through FHIR too', async () => {
    const p = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-n`))).body;
    const a = (await raw('POST', '/Appointment', fhirAppointment(p.id))).body;
    expect(a.id).toMatch(/^fa-[0-9a-f]{32}$/);
    const n = await raw(
      'PUT',
      `/Appointment/${a.id}`,
      { ...a, status: 'noshow' },
      { 'if-match': `W/"${a.meta.versionId}"` },
    );
    expect(n.status).toBe(200);
    expect(n.body.status).toBe('noshow');
    expect((await reminders(a.id)).every((r) => r.status === 'cancelled')).toBe(true);
    // Booked again: the series comes back.
    const back = await raw('PUT', `/Appointment/${a.id}`, { ...a, status: 'booked' });
    expect(back.body.status).toBe('booked');
    expect((await reminders(a.id)).filter((r) => r.status === 'scheduled')).toHaveLength(3);

    const rest = await h.request('PUT', `/v1/appointments/rest:${tag}`, {
      patientId: p.id,
      start: new Date(Date.now() + 20 * DAY).toISOString(),
      location: 'Clinic B',
    });
    expect(rest.status).toBe(201);
    // An id of the shape HL7 bookings get (hl7- and a 64-digit keyed hash) is too long for a FHIR id: encoded.
    const hl7Id = `hl7-${randomBytes(32).toString('hex')}`;
    const start = new Date(Date.now() + 25 * DAY).toISOString();
    expect((await h.request('PUT', `/v1/appointments/${hl7Id}`, { patientId: p.id, start })).status).toBe(201);
    const list = (await fhir.search({ resourceType: 'Appointment', searchParams: { patient: p.id } })) as any;
    expect(list.total).toBe(3);
    // Pages: _count bounds a page, the next link carries _offset.
    const first = await raw('GET', `/Appointment?patient=${p.id}&_count=2`);
    expect(first.body.total).toBe(3);
    expect(first.body.entry).toHaveLength(2);
    const next = first.body.link.find((l: { relation: string }) => l.relation === 'next').url as string;
    expect(next).toContain('_offset=2');
    const second = await raw('GET', next.slice(`${h.url}/fhir/R4`.length));
    expect(second.body.entry).toHaveLength(1);
    expect(second.body.link.find((l: { relation: string }) => l.relation === 'next')).toBeUndefined();
    const all = [...first.body.entry, ...second.body.entry].map((e: any) => e.resource.id).sort();
    expect(all).toEqual(list.entry.map((e: any) => e.resource.id).sort());
    const encoded = list.entry.map((e: any) => e.resource.id).find((id: string) => id.startsWith('z.hl7.'));
    expect(encoded).toMatch(/^[A-Za-z0-9.-]{1,64}$/);
    expect(((await fhir.read({ resourceType: 'Appointment', id: encoded })) as any).start).toBe(start);
    const restId = `x.${Buffer.from(`rest:${tag}`).toString('hex')}`;
    const viaFhir = (await fhir.read({ resourceType: 'Appointment', id: restId })) as any;
    expect(viaFhir).toMatchObject({ status: 'booked', participant: [{}, { actor: { display: 'Clinic B' } }] });
  });

  it('refuses bad Appointment input and writes nothing', async () => {
    const p = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-b`))).body;
    const before = await counts();
    const noPatient = fhirAppointment(p.id);
    noPatient.participant = noPatient.participant.slice(1);
    const two = fhirAppointment(p.id);
    two.participant = [...two.participant, { actor: { reference: 'Patient/other' }, status: 'accepted' }];
    const cases: [unknown, number, string][] = [
      [noPatient, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [two, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [{ ...fhirAppointment(p.id), start: undefined }, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [{ ...fhirAppointment(p.id), start: '2031-02-03T10:00:00' }, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [{ ...fhirAppointment(p.id), status: 'cancelled' }, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [{ ...fhirAppointment(p.id), status: 'maybe' }, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [{ ...fhirAppointment(p.id), class: [{ text: MARKER }] }, 400, 'SP_FHIR_INVALID_RESOURCE'],
      [fhirAppointment(`p-missing${tag}`), 404, 'SP_PATIENT_NOT_FOUND'],
    ];
    for (const [body, status, code] of cases) outcome(await raw('POST', '/Appointment', body), status, code);
    outcome(await raw('GET', `/Appointment/fa-unknown`), 404, 'SP_FHIR_NOT_FOUND');
    outcome(await raw('GET', `/Appointment?patient=Practitioner/1`), 400, 'SP_FHIR_INVALID_SEARCH');
    expect(await counts()).toEqual(before);
  });

  it('authorizes like the REST API: 401 without a credential, 403 without the permission or outside the care team', async () => {
    const p = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-z`))).body;
    const a = (await raw('POST', '/Appointment', fhirAppointment(p.id))).body;
    outcome(await raw('GET', `/Patient/${p.id}`, undefined, { authorization: '' }), 401, 'SP_AUTH_UNAUTHENTICATED');
    const auditKey = (await h.request('POST', '/v1/api-keys', { name: `audit-${tag}`, scopes: ['audit'] })).body.key;
    outcome(
      await raw('GET', `/Patient/${p.id}`, undefined, { authorization: `Bearer ${auditKey}` }),
      403,
      'SP_AUTH_FORBIDDEN',
    );
    outcome(
      await raw('POST', '/Patient', fhirPatient('k'), { authorization: `Bearer ${auditKey}` }),
      403,
      'SP_AUTH_FORBIDDEN',
    );
    const doctor: TestPerson = await staffWithSession(h, ['physician']);
    outcome(await raw('GET', `/Patient/${p.id}`, undefined, doctor.headers), 403, 'SP_AUTH_NO_RELATIONSHIP');
    outcome(await raw('GET', `/Appointment/${a.id}`, undefined, doctor.headers), 403, 'SP_AUTH_NO_RELATIONSHIP');
    outcome(
      await raw('GET', `/Appointment?patient=${p.id}`, undefined, doctor.headers),
      403,
      'SP_AUTH_NO_RELATIONSHIP',
    );
    outcome(
      await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-doc`), doctor.headers),
      403,
      'SP_AUTH_NO_RELATIONSHIP',
    );
    // A search leaves out what the caller may not read rather than confirming it exists.
    const s = await raw('GET', `/Patient?identifier=${MRN_SYSTEM}|MRN-${tag}-z`, undefined, doctor.headers);
    expect(s.status).toBe(200);
    expect(s.body.total).toBe(0);
    // On the care team, the same physician reads the patient.
    expect((await h.request('PUT', `/v1/patients/${p.id}/care-team/${doctor.userId}`)).status).toBe(201);
    expect((await raw('GET', `/Patient/${p.id}`, undefined, doctor.headers)).status).toBe(200);
    expect((await raw('GET', `/Appointment/${a.id}`, undefined, doctor.headers)).status).toBe(200);
  });

  it('a merged patient reads inactive, replaced by the survivor, which now answers for its identifier', async () => {
    const survivor = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-s`))).body;
    const retired = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-r`))).body;
    const ctx = { tenantId: 'default', actor: 'system:test', requestId: `merge-${tag}` };
    await h.app.services.patients.merge(ctx, { survivorId: survivor.id, retiredId: retired.id });
    const r = await raw('GET', `/Patient/${retired.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      resourceType: 'Patient',
      id: retired.id,
      active: false,
      link: [{ other: { reference: `Patient/${survivor.id}` }, type: 'replaced-by' }],
    });
    const found = await raw('GET', `/Patient?identifier=${MRN_SYSTEM}|MRN-${tag}-r`);
    expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([survivor.id]);
    outcome(
      await raw('PUT', `/Patient/${retired.id}`, { ...fhirPatient('x'), id: retired.id }),
      410,
      'SP_PATIENT_MERGED',
    );
  });

  it('an erased patient reads 410 Gone; no PHI marker reached the log', async () => {
    const p = (await raw('POST', '/Patient', fhirPatient(`MRN-${tag}-e`))).body;
    expect((await h.request('DELETE', `/v1/patients/${p.id}?erase=true`)).status).toBe(202);
    outcome(await raw('GET', `/Patient/${p.id}`), 410, 'SP_PATIENT_ERASED');
    const log = readFileSync(h.logFile, 'utf8');
    expect(log).not.toContain(MARKER);
    expect(log).not.toContain(`MRN-${tag}`);
  });
});
