import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

/**
 * Promise 1 end to end: unique PHI markers are planted in every PHI field the API takes, a full run
 * goes through (patient, several notification types on SMS and e-mail, an appointment, delivery,
 * the portal, acknowledgement, bad requests), and then every place that is *not* the vault is
 * scanned byte by byte: the SQLite file with its -wal and -shm, the log, the nudges in the dev
 * outbox, the links in them, error answers and the public portal pages.
 */

const tag = randomBytes(5).toString('hex');
const mark = (what: string) => `PHIMARK-${what}-${tag}`;
const phone = `+1415555${String(1000 + Math.floor(Math.random() * 9000))}`;
const BIRTH_DATE = '1969-07-21';

/** PHI the server accepts and must keep in the vault. */
const STORED = {
  given: mark('given'),
  middle: mark('middle'),
  family: mark('family'),
  nameText: mark('nametext'),
  emailLocal: `phimark${tag}`,
  testName: mark('testname'),
  orderingClinician: mark('orderedby'),
  resultInstructions: mark('resultinstr'),
  medicationName: mark('medication'),
  dosage: mark('dosage'),
  medInstructions: mark('medinstr'),
  rxMedication: mark('rxmed'),
  pharmacyName: mark('pharmacy'),
  pharmacyAddress: mark('pharmacyaddr'),
  followReason: mark('reason'),
  followClinician: mark('followclin'),
  location: mark('location'),
  clinicianName: mark('clinician'),
  instructions: mark('instructions'),
  apptLocation: mark('apptlocation'),
  apptClinician: mark('apptclinician'),
  apptInstructions: mark('apptinstr'),
  reusedFirst: mark('idemfirst'),
  batchTestName: mark('batchtest'),
  batchPharmacy: mark('batchpharmacy'),
};

/** PHI carried only by requests that must be rejected. */
const REJECTED = {
  badPhone: mark('badphone'),
  badEmail: mark('bademail'),
  unknownValue: mark('unknownvalue'),
  nestedUnknown: mark('nestedunknown'),
  badTimeZone: mark('timezone'),
  badBirthDate: mark('birthdate'),
  longName: mark('longname'),
  unknownData: mark('unknowndata'),
  badDate: mark('baddate'),
  badType: mark('badtype'),
  malformed: mark('malformed'),
  wrongMedia: mark('wrongmedia'),
  tooLarge: mark('toolarge'),
  reused: mark('idemreused'),
  longLocation: mark('longlocation'),
  badStart: mark('badstart'),
  // At most 20 characters: the portal's own limit for the answer field.
  portalAnswer: `PHIMARKDOB${tag}`,
  portalToken: mark('token'),
  path: mark('path'),
  query: mark('query'),
  idempotencyKey: mark('idemkey'),
  batchUnknown: mark('batchunknown'),
  batchValid: mark('batchvalid'),
};

const EMAIL = `${STORED.emailLocal}@example.com`;
/** Everything that must not appear outside the vault (the phone digits and birth date hold no marker). */
const ALL = [...Object.values(STORED), ...Object.values(REJECTED), phone.slice(2), BIRTH_DATE];
/** The dev outbox's `recipient` is the patient's address by design; only there are these allowed. */
const ADDRESSES = [STORED.emailLocal, phone.slice(2)];

/**
 * Returns the needles found in `hay`: as UTF-8 and UTF-16LE bytes, each as given, lower- and
 * upper-cased (a renderer that changes case still leaks).
 */
function findMarkers(hay: Buffer | string, needles: readonly string[]): string[] {
  const buf = typeof hay === 'string' ? Buffer.from(hay, 'utf8') : hay;
  return needles.filter((n) =>
    [n, n.toLowerCase(), n.toUpperCase()].some(
      (v) => buf.includes(Buffer.from(v, 'utf8')) || buf.includes(Buffer.from(v, 'utf16le')),
    ),
  );
}

interface Seen {
  what: string;
  status: number;
  text: string;
  headers: Record<string, unknown>;
}

interface Outboxed {
  deliveryId: string;
  channel: string;
  recipient: string;
  subject: string | null;
  body: string;
}

const readIf = (file: string) => (existsSync(file) ? readFileSync(file) : Buffer.alloc(0));

/** Every text and blob value of every table, as SQLite returns it (immune to values split over pages). */
function logicalDump(file: string): Buffer {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const parts: Buffer[] = [];
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    for (const t of tables) {
      for (const row of db
        .prepare(`SELECT * FROM "${t.replace(/"/g, '""')}"`)
        .raw()
        .all() as unknown[][]) {
        for (const v of row) {
          if (typeof v === 'string') parts.push(Buffer.from(v, 'utf8'));
          else if (Buffer.isBuffer(v)) parts.push(v);
          else if (v instanceof Uint8Array) parts.push(Buffer.from(v));
          parts.push(Buffer.from([0]));
        }
      }
    }
    return Buffer.concat(parts);
  } finally {
    db.close();
  }
}

describe('PHI planted in every field of a full run', () => {
  let h: Harness;
  const patientId = `pt-${tag}`;
  const errors: Seen[] = [];
  const publicPages: Seen[] = [];
  const securePages: { notificationId: string; html: string }[] = [];
  const apiAnswers: Seen[] = [];
  const notificationIds: string[] = [];
  let outbox: Outboxed[] = [];
  let closed = false;
  let files: { before: Record<string, Buffer>; after: Record<string, Buffer>; dump: Buffer; log: string };

  const api = async (
    what: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const r = await h.request(method, path, body, headers);
    const seen = { what, status: r.status, text: r.text, headers: r.headers };
    (r.status >= 400 ? errors : apiAnswers).push(seen);
    return r;
  };
  const portal = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    httpsJson(
      h.url,
      h.cert,
      method,
      path,
      body,
      body === undefined ? headers : { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    );

  const patient = (over: Record<string, unknown> = {}) => ({
    name: { given: [STORED.given, STORED.middle], family: STORED.family, text: STORED.nameText },
    birthDate: BIRTH_DATE,
    telecom: [
      { system: 'sms', value: phone, rank: 1 },
      { system: 'email', value: EMAIL, rank: 2 },
    ],
    language: 'en',
    timeZone: 'America/Chicago',
    ...over,
  });

  beforeAll(async () => {
    // trace: every log line any component can write is written, and scanned.
    h = await startSealpost({
      SEALPOST_LOG_LEVEL: 'trace',
      SEALPOST_REMINDER_OFFSETS: '1m',
      SEALPOST_METRICS_PORT: '0',
    });
    await h.app.metricsServer!.listen({ host: '127.0.0.1', port: 0 });

    expect((await h.request('PUT', `/v1/patients/${patientId}`, patient())).status).toBe(201);

    const send = async (key: string, body: Record<string, unknown>) => {
      const r = await api(
        `create ${key}`,
        'POST',
        '/v1/notifications',
        { patientId, ...body },
        { 'idempotency-key': `${key}-${tag}` },
      );
      expect(r.status, r.text).toBe(202);
      notificationIds.push(r.body.id);
      return r.body;
    };
    await send('result', {
      type: 'test_result_ready',
      channels: ['sms'],
      data: {
        testName: STORED.testName,
        orderingClinician: STORED.orderingClinician,
        instructions: STORED.resultInstructions,
        collectedOn: '2024-03-01',
      },
    });
    await send('medication', {
      type: 'medication_reminder',
      channels: ['email'],
      data: { medicationName: STORED.medicationName, dosage: STORED.dosage, instructions: STORED.medInstructions },
    });
    await send('prescription', {
      type: 'prescription_ready',
      channels: ['sms', 'email'],
      data: {
        medicationName: STORED.rxMedication,
        pharmacyName: STORED.pharmacyName,
        pharmacyAddress: STORED.pharmacyAddress,
      },
    });
    await send('follow-up', {
      type: 'follow_up',
      channels: ['email'],
      priority: 'urgent',
      data: { reason: STORED.followReason, dueDate: '2030-01-15', clinicianName: STORED.followClinician },
    });
    await send('reminder', {
      type: 'appointment_reminder',
      data: {
        start: '2030-02-03T15:30:00-06:00',
        location: STORED.location,
        clinicianName: STORED.clinicianName,
        instructions: STORED.instructions,
      },
    });
    await send('reused', { type: 'test_result_ready', data: { testName: STORED.reusedFirst } });

    const batch = await api('batch', 'POST', '/v1/notifications:batch', {
      items: [
        {
          type: 'test_result_ready',
          patientId,
          channels: ['email'],
          data: { testName: STORED.batchTestName },
          idempotencyKey: `batch-1-${tag}`,
        },
        {
          type: 'prescription_ready',
          patientId,
          channels: ['sms'],
          data: { medicationName: STORED.rxMedication, pharmacyName: STORED.batchPharmacy },
        },
      ],
    });
    expect(batch.status, batch.text).toBe(202);
    notificationIds.push(...(batch.body.items as { id: string }[]).map((i) => i.id));

    // With reminder offsets of 1 minute, an appointment 62 s away gets one reminder due in about 2 s.
    const appt = await api('appointment', 'PUT', `/v1/appointments/appt-${tag}`, {
      patientId,
      start: new Date(Date.now() + 62_000).toISOString(),
      location: STORED.apptLocation,
      clinicianName: STORED.apptClinician,
      instructions: STORED.apptInstructions,
    });
    expect(appt.status, appt.text).toBe(201);
    expect(appt.body.reminders).toHaveLength(1);
    notificationIds.push(appt.body.reminders[0].notificationId);

    // Bad requests, each carrying PHI in the part that is wrong (or next to it).
    const rejected = async (
      what: string,
      status: number,
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const r = await api(what, method, path, body, headers);
      expect(r.status, `${what}: ${r.text}`).toBe(status);
    };
    await rejected(
      'invalid phone',
      400,
      'PUT',
      '/v1/patients/err-1',
      patient({ telecom: [{ system: 'sms', value: `+1 415 ${REJECTED.badPhone}` }] }),
    );
    await rejected(
      'invalid e-mail',
      400,
      'PUT',
      '/v1/patients/err-2',
      patient({ telecom: [{ system: 'email', value: `${REJECTED.badEmail}@@example.com` }] }),
    );
    await rejected('unknown field', 400, 'PUT', '/v1/patients/err-3', {
      ...patient(),
      nickname: REJECTED.unknownValue,
    });
    await rejected(
      'unknown nested field',
      400,
      'PUT',
      '/v1/patients/err-4',
      patient({ name: { family: STORED.family, suffix: REJECTED.nestedUnknown } }),
    );
    await rejected('unknown time zone', 400, 'PUT', '/v1/patients/err-5', patient({ timeZone: REJECTED.badTimeZone }));
    await rejected(
      'malformed birth date',
      400,
      'PUT',
      '/v1/patients/err-6',
      patient({ birthDate: REJECTED.badBirthDate }),
    );
    await rejected(
      'over-long name',
      400,
      'PUT',
      '/v1/patients/err-7',
      patient({ name: { family: `${REJECTED.longName}${'x'.repeat(120)}` } }),
    );
    await rejected('unknown data field', 400, 'POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId,
      data: { testName: STORED.testName, note: REJECTED.unknownData },
    });
    await rejected('malformed data date', 400, 'POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId,
      data: { testName: STORED.testName, collectedOn: REJECTED.badDate },
    });
    await rejected('unknown type', 400, 'POST', '/v1/notifications', {
      type: REJECTED.badType,
      patientId,
      data: { testName: STORED.testName },
    });
    await rejected(
      'malformed JSON',
      400,
      'POST',
      '/v1/notifications',
      `{"type":"test_result_ready","patientId":"${patientId}","data":{"testName":"${REJECTED.malformed}"`,
    );
    await rejected(
      'unsupported media type',
      415,
      'POST',
      '/v1/notifications',
      `<testName>${REJECTED.wrongMedia}</testName>`,
      { 'content-type': 'application/xml' },
    );
    await rejected('too large', 413, 'POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId,
      data: { testName: `${REJECTED.tooLarge} `.repeat(4000) },
    });
    await rejected(
      'idempotency key reused',
      422,
      'POST',
      '/v1/notifications',
      { type: 'test_result_ready', patientId, data: { testName: REJECTED.reused } },
      { 'idempotency-key': `reused-${tag}` },
    );
    await rejected('over-long location', 400, 'PUT', `/v1/appointments/appt-err-${tag}`, {
      patientId,
      start: new Date(Date.now() + 86_400_000).toISOString(),
      location: `${REJECTED.longLocation}${'y'.repeat(600)}`,
    });
    await rejected('malformed start', 400, 'PUT', `/v1/appointments/appt-err-${tag}`, {
      patientId,
      start: REJECTED.badStart,
      location: STORED.apptLocation,
    });
    await rejected('batch with one bad item', 400, 'POST', '/v1/notifications:batch', {
      items: [
        { type: 'test_result_ready', patientId, data: { testName: REJECTED.batchValid } },
        { type: 'test_result_ready', patientId, data: { testName: STORED.testName, note: REJECTED.batchUnknown } },
      ],
    });
    await rejected('unknown route', 404, 'GET', `/v1/${REJECTED.path}`);
    await rejected('malformed cursor', 400, 'GET', `/v1/dev/outbox?cursor=${REJECTED.query}`);
    await rejected(
      'malformed idempotency key',
      400,
      'POST',
      '/v1/notifications',
      { type: 'test_result_ready', patientId, data: { testName: STORED.testName } },
      { 'idempotency-key': `${REJECTED.idempotencyKey} x` },
    );

    // Let the worker deliver every notification's deliveries.
    const notificationOf = new Map<string, string>();
    await eventually(async () => {
      for (const id of notificationIds) {
        const v = await api(`view ${id}`, 'GET', `/v1/notifications/${id}`);
        for (const d of v.body.deliveries as { id: string; status: string }[]) {
          if (!['sent', 'delivered', 'read'].includes(d.status)) return false;
          notificationOf.set(d.id, id);
        }
      }
      return true;
    }, 'every delivery to go out');
    const deliveryIds = new Set(notificationOf.keys());

    // Open every link as the patient would: the page, a wrong answer, the right one, the message, acknowledge.
    const readOutbox = async () => {
      const r = await api('outbox', 'GET', '/v1/dev/outbox?limit=500');
      expect(r.status).toBe(200);
      return r.body.items as Outboxed[];
    };
    const sent = (await readOutbox()).filter((o) => deliveryIds.has(o.deliveryId));
    expect(new Set(sent.map((o) => o.deliveryId))).toEqual(deliveryIds);
    for (const [i, o] of sent.entries()) {
      const token = /\/m\/([A-Za-z0-9_-]{43})/.exec(o.body)![1];
      const page = await portal('GET', `/m/${token}`);
      expect(page.status).toBe(200);
      publicPages.push({ what: 'verify page', status: page.status, text: page.text, headers: page.headers });
      const wrong = await portal(
        'POST',
        `/m/${token}/verify`,
        `birthDate=${i === 0 ? REJECTED.portalAnswer : '1969-07-20'}`,
      );
      expect(wrong.status).toBe(401);
      publicPages.push({ what: 'wrong answer page', status: wrong.status, text: wrong.text, headers: wrong.headers });
      if (i === 0) {
        const code = await portal('POST', `/m/${token}/code`);
        expect(code.status).toBe(303);
        publicPages.push({ what: 'code requested', status: code.status, text: code.text, headers: code.headers });
      }
      const ok = await portal('POST', `/m/${token}/verify`, `birthDate=${BIRTH_DATE}`);
      expect(ok.status, ok.text).toBe(303);
      publicPages.push({
        what: 'verified redirect',
        status: ok.status,
        text: ok.text,
        headers: { ...ok.headers, 'set-cookie': undefined },
      });
      const cookie = String(([] as string[]).concat(ok.headers['set-cookie'] ?? [])[0]).split(';')[0];
      const msg = await portal('GET', `/m/${token}/message`, undefined, { cookie });
      expect(msg.status).toBe(200);
      securePages.push({ notificationId: notificationOf.get(o.deliveryId)!, html: msg.text });
      const ack = await portal('POST', `/m/${token}/acknowledge`, undefined, { cookie });
      expect(ack.status).toBe(303);
      publicPages.push({
        what: 'acknowledged redirect',
        status: ack.status,
        text: ack.text,
        headers: { ...ack.headers, 'set-cookie': undefined },
      });
    }
    const invalid = await portal('GET', `/m/${REJECTED.portalToken}`);
    expect(invalid.status).toBe(404);
    publicPages.push({
      what: 'invalid link page',
      status: invalid.status,
      text: invalid.text,
      headers: invalid.headers,
    });

    // Unauthenticated on their own listener: request metrics are labelled by route, and must stay so.
    const metricsPort = (h.app.metricsServer!.server.address() as { port: number }).port;
    const metrics = await new Promise<{ status: number; text: string; headers: Record<string, unknown> }>(
      (resolve, reject) =>
        httpGet(`http://127.0.0.1:${metricsPort}/metrics`, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }),
          );
        }).on('error', reject),
    );
    expect(metrics.status).toBe(200);
    publicPages.push({ what: 'metrics', status: metrics.status, text: metrics.text, headers: metrics.headers });

    // The one-time code message goes out through the outbox too; wait for it before reading the rest.
    outbox = await eventually(async () => {
      const all = await readOutbox();
      return all.some((o) => o.deliveryId.startsWith('otp-')) ? all : null;
    }, 'the one-time code message');

    // The WAL holds most of the data until a checkpoint, and close may checkpoint it away: read now.
    const db = join(h.dataDir, 'sealpost.db');
    const before = { db: readIf(db), wal: readIf(`${db}-wal`), shm: readIf(`${db}-shm`) };
    await h.app.close();
    closed = true;
    files = {
      before,
      after: { db: readIf(db), wal: readIf(`${db}-wal`), shm: readIf(`${db}-shm`) },
      dump: logicalDump(db),
      log: readFileSync(h.logFile, 'utf8'),
    };
  });

  afterAll(async () => {
    if (h && !closed) await h.app.close();
    if (h) rmSync(h.dataDir, { recursive: true, force: true });
  });

  it('finds a planted marker as UTF-8 or UTF-16LE bytes in any case, so every scan below can fail', () => {
    const noise = randomBytes(4096);
    const planted = (s: string, enc: BufferEncoding) => Buffer.concat([noise, Buffer.from(s, enc), noise]);
    expect(findMarkers(noise, ALL)).toEqual([]);
    expect(findMarkers(planted(STORED.testName, 'utf8'), ALL)).toEqual([STORED.testName]);
    expect(findMarkers(planted(STORED.family.toLowerCase(), 'utf8'), ALL)).toEqual([STORED.family]);
    expect(findMarkers(planted(BIRTH_DATE, 'utf16le'), ALL)).toEqual([BIRTH_DATE]);
    expect(findMarkers(`to ${EMAIL}`, ALL)).toEqual([STORED.emailLocal]);
  });

  it('shows the PHI to the verified reader, so the markers really went through the pipeline', () => {
    expect(securePages.length).toBeGreaterThanOrEqual(notificationIds.length);
    const all = securePages.map((p) => p.html).join('\n');
    for (const m of [
      STORED.testName,
      STORED.medicationName,
      STORED.pharmacyName,
      STORED.followReason,
      STORED.location,
      STORED.apptLocation,
      STORED.apptInstructions,
      STORED.batchTestName,
      STORED.batchPharmacy,
    ]) {
      expect(findMarkers(all, [m]), `secure page showing ${m}`).toEqual([m]);
    }
  });

  it('sends SMS and e-mail nudges whose subjects, bodies and links carry no PHI', () => {
    const nudges = outbox.filter((o) => !o.deliveryId.startsWith('otp-'));
    expect(new Set(nudges.map((o) => o.channel))).toEqual(new Set(['sms', 'email']));
    expect(outbox.some((o) => o.deliveryId.startsWith('otp-'))).toBe(true);
    for (const o of outbox) {
      expect(findMarkers(`${o.subject ?? ''}\n${o.body}`, ALL), `outbox ${o.channel} ${o.deliveryId}`).toEqual([]);
      expect(
        findMarkers(
          o.recipient,
          ALL.filter((m) => !ADDRESSES.includes(m)),
        ),
        `outbox recipient ${o.deliveryId}`,
      ).toEqual([]);
    }
    // Positive control: the recipient is decrypted and scanned, and holds the address it should.
    expect(findMarkers(outbox.map((o) => o.recipient).join('\n'), ADDRESSES).sort()).toEqual([...ADDRESSES].sort());
    // A nudge's only link is the portal base URL plus an opaque 256-bit token: nothing else in the URL.
    for (const o of nudges) {
      const urls: string[] = o.body.match(/https?:\/\/\S+/g) ?? [];
      expect(urls.length, o.body).toBe(1);
      expect(urls[0].replace(/\.$/, '')).toMatch(new RegExp(`^${h.url.replace(/\./g, '\\.')}/m/[A-Za-z0-9_-]{43}$`));
    }
  });

  it('answers every bad request and every status query without echoing the PHI it was sent', () => {
    expect(errors.length).toBeGreaterThanOrEqual(20);
    for (const e of [...errors, ...apiAnswers.filter((a) => a.what !== 'outbox')]) {
      expect(findMarkers(`${e.text}\n${JSON.stringify(e.headers)}`, ALL), `${e.what} (${e.status}): ${e.text}`).toEqual(
        [],
      );
    }
  });

  it('serves portal pages that hold no PHI before the reader has proven who they are', () => {
    expect(publicPages.length).toBeGreaterThan(0);
    for (const p of publicPages) {
      expect(findMarkers(`${p.text}\n${JSON.stringify(p.headers)}`, ALL), `${p.what} (${p.status})`).toEqual([]);
    }
  });

  it('keeps every marker, the phone number and the birth date out of the database file, its WAL and its shared memory', () => {
    // Positive control: the scans read real pages. Patient ids are opaque and stored in the clear.
    expect(findMarkers(Buffer.concat([files.before.db, files.before.wal]), [patientId])).toEqual([patientId]);
    expect(findMarkers(files.after.db, [patientId])).toEqual([patientId]);
    expect(findMarkers(files.dump, [patientId])).toEqual([patientId]);
    for (const [when, set] of Object.entries({ before: files.before, after: files.after })) {
      for (const [name, bytes] of Object.entries(set)) {
        expect(findMarkers(bytes, ALL), `${name} ${when} close`).toEqual([]);
      }
    }
    expect(findMarkers(files.dump, ALL), 'values of every table').toEqual([]);
  });

  it('writes no marker, phone number or birth date to the log', () => {
    // Positive control: this is the file the server logged every request to.
    expect(files.log).toContain('"route":"/v1/patients/:id"');
    expect(findMarkers(files.log, ALL)).toEqual([]);
  });
});
