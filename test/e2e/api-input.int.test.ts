import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query, rowCounts } from '../helpers/db-snapshot.js';
import { request as httpsRequest } from 'node:https';

describe('bad input gets a clear error and changes nothing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());

  const future = () => new Date(Date.now() + 86_400_000).toISOString();
  const cases: [string, string, string, unknown, number, string][] = [
    ['malformed JSON', 'POST', '/v1/notifications', '{"type": "follow_up", ', 400, 'SP_REQ_MALFORMED_JSON'],
    [
      'an unknown notification type',
      'POST',
      '/v1/notifications',
      { type: 'lab_gossip', patientId: 'p1', data: {} },
      400,
      'SP_NOTIFICATION_UNKNOWN_TYPE',
    ],
    [
      'a missing patient',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'nobody', data: { reason: 'x', dueDate: '2030-01-01' } },
      404,
      'SP_PATIENT_NOT_FOUND',
    ],
    [
      'missing template data',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p1', data: {} },
      400,
      'SP_NOTIFICATION_INVALID_DATA',
    ],
    [
      'sendAt in the past',
      'POST',
      '/v1/notifications',
      {
        type: 'follow_up',
        patientId: 'p1',
        data: { reason: 'x', dueDate: '2030-01-01' },
        sendAt: '2020-01-01T00:00:00Z',
      },
      400,
      'SP_NOTIFICATION_SEND_AT_PAST',
    ],
    [
      'an unknown field',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' }, color: 'red' },
      400,
      'SP_REQ_VALIDATION',
    ],
    [
      'an unknown priority',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' }, priority: 'whenever' },
      400,
      'SP_REQ_VALIDATION',
    ],
    [
      'a patient id with a control character',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p\u0000x', data: { reason: 'x', dueDate: '2030-01-01' } },
      400,
      'SP_REQ_VALIDATION',
    ],
    [
      'a channel the patient has no contact for',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' }, channels: ['webhook'] },
      422,
      'SP_NOTIFICATION_NO_CHANNEL',
    ],
    [
      'an invalid phone number',
      'PUT',
      '/v1/patients/p2',
      samplePatient({ telecom: [{ system: 'sms', value: '555-NOT-A-PHONE' }] }),
      400,
      'SP_PATIENT_INVALID_PHONE',
    ],
    [
      'an invalid e-mail address',
      'PUT',
      '/v1/patients/p2',
      samplePatient({ telecom: [{ system: 'email', value: 'ana at example' }] }),
      400,
      'SP_PATIENT_INVALID_EMAIL',
    ],
    [
      'a plain-http webhook to a remote host',
      'PUT',
      '/v1/patients/p2',
      samplePatient({ telecom: [{ system: 'webhook', value: 'http://example.com/hook' }] }),
      400,
      'SP_PATIENT_INVALID_WEBHOOK',
    ],
    [
      'an unknown time zone',
      'PUT',
      '/v1/patients/p2',
      samplePatient({ timeZone: 'Mars/Olympus_Mons' }),
      400,
      'SP_PATIENT_INVALID_TIMEZONE',
    ],
    [
      'an impossible birth date',
      'PUT',
      '/v1/patients/p2',
      samplePatient({ birthDate: '1980-02-30' }),
      400,
      'SP_PATIENT_INVALID_BIRTH_DATE',
    ],
    [
      'a birth date in the future',
      'PUT',
      '/v1/patients/p2',
      samplePatient({ birthDate: '2999-01-01' }),
      400,
      'SP_PATIENT_INVALID_BIRTH_DATE',
    ],
    ['an unsupported language', 'PUT', '/v1/patients/p2', samplePatient({ language: 'fr' }), 400, 'SP_REQ_VALIDATION'],
    [
      'an appointment ending before it starts',
      'PUT',
      '/v1/appointments/a1',
      { patientId: 'p1', start: future(), end: '2020-01-01T00:00:00Z' },
      400,
      'SP_APPOINTMENT_INVALID_TIME',
    ],
    [
      'an appointment for a missing patient',
      'PUT',
      '/v1/appointments/a1',
      { patientId: 'nobody', start: future() },
      404,
      'SP_PATIENT_NOT_FOUND',
    ],
    [
      'an oversize body',
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p1', data: { reason: 'x'.repeat(70_000), dueDate: '2030-01-01' } },
      413,
      'SP_REQ_TOO_LARGE',
    ],
  ];

  for (const [what, method, path, body, status, code] of cases) {
    it(`answers ${status} ${code} for ${what} and writes nothing`, async () => {
      const before = rowCounts(h.dataDir);
      const res = await h.request(method, path, body);
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.code).toBe(code);
      expect(res.body.requestId).toBeTruthy();
      expect(res.text).not.toMatch(/at .*\.ts:\d+/); // no stack traces
      expect(rowCounts(h.dataDir)).toEqual(before);
    });
  }

  it('answers 401 without detail when the API key is missing, malformed or wrong', async () => {
    for (const auth of ['', 'Bearer nope', `Bearer ${h.apiKey.slice(0, -2)}xx`, h.apiKey]) {
      const res = await httpsJson(h.url, h.cert, 'GET', '/v1/notifications/x', undefined, { authorization: auth });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('SP_AUTH_UNAUTHENTICATED');
      expect(res.body.detail).toBeUndefined();
    }
  });

  it('rejects a body with a non-JSON content type', async () => {
    const res = await h.request('POST', '/v1/notifications', 'type=follow_up', { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('SP_REQ_UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a malformed or over-long URL with a problem document that does not echo the path', async () => {
    for (const path of ['/v1/patients/%E0%A4%APHIMARK', `/v1/notifications/${'PHIMARK'.repeat(40)}`]) {
      const res = await h.request('GET', path);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('SP_REQ_BAD_URL');
      expect(res.text).not.toContain('PHIMARK');
    }
  });

  it('answers unknown routes with a problem document', async () => {
    const res = await h.request('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('SP_REQ_NOT_FOUND');
  });
});

describe('idempotency keys', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());
  const body = {
    type: 'medication_reminder',
    patientId: 'p1',
    data: { medicationName: 'Metformin', dosage: '500 mg' },
  };

  it('returns the first answer for a replay with the same body and creates nothing more', async () => {
    const first = await h.request('POST', '/v1/notifications', body, { 'idempotency-key': 'same-1' });
    expect(first.status).toBe(202);
    const before = rowCounts(h.dataDir);
    const again = await h.request('POST', '/v1/notifications', body, { 'idempotency-key': 'same-1' });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('answers 422 SP_IDEMPOTENCY_KEY_REUSED for the same key with a different body, writing nothing', async () => {
    await h.request('POST', '/v1/notifications', body, { 'idempotency-key': 'same-2' });
    const before = rowCounts(h.dataDir);
    const res = await h.request(
      'POST',
      '/v1/notifications',
      { ...body, priority: 'urgent' },
      { 'idempotency-key': 'same-2' },
    );
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('SP_IDEMPOTENCY_KEY_REUSED');
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('treats concurrent requests with one key as one notification', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => h.request('POST', '/v1/notifications', body, { 'idempotency-key': 'race-1' })),
    );
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([202]));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });

  it('rejects an Idempotency-Key with control characters or over 255 characters', async () => {
    for (const key of ['x'.repeat(256), 'has space']) {
      const res = await h.request('POST', '/v1/notifications', body, { 'idempotency-key': key });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('SP_REQ_VALIDATION');
    }
  });
});

describe('batch of notifications', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());
  const item = (i: number) => ({
    type: 'follow_up',
    patientId: 'p1',
    data: { reason: `r${i}`, dueDate: '2030-01-01' },
    idempotencyKey: `b-${i}`,
  });

  it('accepts many notifications in one request and answers each like a single create', async () => {
    const res = await h.request('POST', '/v1/notifications:batch', { items: [item(1), item(2), item(3)] });
    expect(res.status).toBe(202);
    expect(res.body.items).toHaveLength(3);
    const single = await h.request(
      'POST',
      '/v1/notifications',
      { ...item(2), idempotencyKey: undefined },
      { 'idempotency-key': 'b-2' },
    );
    expect(single.body).toEqual(res.body.items[1]);
  });

  it('writes nothing when one item is invalid and names the item', async () => {
    const before = rowCounts(h.dataDir);
    const res = await h.request('POST', '/v1/notifications:batch', {
      items: [item(10), { ...item(11), patientId: 'nobody' }],
    });
    expect(res.status).toBe(404);
    expect(res.body.detail).toBe('items[1]');
    expect(rowCounts(h.dataDir)).toEqual(before);
  });
});

/**
 * A request that goes out byte for byte: the path as given (a URL object would resolve `.` and `..`
 * segments away), the body as given (a Buffer is sent as is, so ill-formed UTF-8 reaches the server).
 */
function rawPath(h: Harness, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const payload =
    body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise<{ status: number; body: any; headers: Record<string, unknown> }>((resolve, reject) => {
    const u = new URL(h.url);
    const req = httpsRequest(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        ca: h.cert,
        headers: {
          authorization: `Bearer ${h.apiKey}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

describe('identifiers and names that could be mistaken for something else', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
  });
  afterAll(() => h.close());

  it('refuses the patient ids "." and ".." (raw or percent-encoded) on every patient route, writing nothing', async () => {
    const before = rowCounts(h.dataDir);
    for (const id of ['.', '..', '%2E', '%2e%2E']) {
      const put = await rawPath(h, 'PUT', `/v1/patients/${id}`, samplePatient());
      expect([put.status, put.body?.code], `PUT ${id}`).toEqual([
        400,
        expect.stringMatching(/^SP_(REQ_VALIDATION|PATIENT_INVALID_ID)$/),
      ]);
      for (const method of ['GET', 'DELETE']) {
        const r = await rawPath(h, method, `/v1/patients/${id}`);
        expect(r.status, `${method} ${id}`).toBe(400);
      }
    }
    expect(rowCounts(h.dataDir)).toEqual(before);
    // Dots inside an id stay allowed.
    expect((await h.request('PUT', '/v1/patients/p.1', samplePatient())).status).toBe(201);
  });

  it('refuses staff display names with bidi overrides, isolates or lone surrogates, creating nothing', async () => {
    const before = query(h.dataDir, 'select count(*) as n from users')[0].n;
    const names = ['Ana \u202Egnp.exe', 'Ana\u2066x\u2069', 'Ana\u200F', 'Ana \uD800', 'Ana \uDC00 x'];
    for (const [i, displayName] of names.entries()) {
      const r = await h.request('POST', '/v1/users', {
        email: `bidi${i}@clinic.test`,
        displayName,
        roles: ['nurse'],
      });
      expect([r.status, r.body.code], JSON.stringify(displayName)).toEqual([400, 'SP_REQ_VALIDATION']);
    }
    expect(query(h.dataDir, 'select count(*) as n from users')[0].n).toBe(before);
    const ok = await h.request('POST', '/v1/users', {
      email: 'emoji@clinic.test',
      displayName: 'Dr. José 😀 ناصر',
      roles: ['nurse'],
    });
    expect(ok.status).toBe(201);
    for (const displayName of names) {
      const r = await h.request('PATCH', `/v1/users/${ok.body.user.id}`, { displayName });
      expect([r.status, r.body.code], JSON.stringify(displayName)).toEqual([400, 'SP_REQ_VALIDATION']);
    }
    expect((await h.request('GET', `/v1/users/${ok.body.user.id}`)).body.displayName).toBe('Dr. José 😀 ناصر');
  });
});

describe('media types: UTF-8 JSON on API routes, form bodies only on the HTML form routes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());
  const note = { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } };

  it('answers 415 to a form-encoded body on JSON routes, public ones included, writing nothing', async () => {
    const before = rowCounts(h.dataDir);
    const formType = { 'content-type': 'application/x-www-form-urlencoded' };
    const cases: [string, string, string, Record<string, string>][] = [
      ['POST', '/v1/notifications', 'type=follow_up&patientId=p1', formType],
      ['PUT', '/v1/patients/p9', 'birthDate=1980-01-01', formType],
      ['POST', '/v1/auth/login', 'email=a%40b.test&password=x', { ...formType, authorization: '' }],
    ];
    for (const [method, path, body, headers] of cases) {
      const res = await h.request(method, path, body, headers);
      expect([res.status, res.body.code], `${method} ${path}`).toEqual([415, 'SP_REQ_UNSUPPORTED_MEDIA_TYPE']);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('answers 415 to JSON in any charset but UTF-8, writing nothing', async () => {
    const before = rowCounts(h.dataDir);
    const utf16 = Buffer.from(JSON.stringify(note), 'utf16le').toString('latin1');
    for (const type of [
      'application/json; charset=utf-16',
      'application/json; charset=UTF-16LE',
      'application/json; charset=iso-8859-1',
      'application/json; charset="us-ascii"',
    ]) {
      const res = await h.request('POST', '/v1/notifications', type.includes('16') ? utf16 : JSON.stringify(note), {
        'content-type': type,
      });
      expect([res.status, res.body.code], type).toEqual([415, 'SP_REQ_UNSUPPORTED_MEDIA_TYPE']);
    }
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('accepts JSON declared as UTF-8 in any spelling, or with no charset', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"']) {
      const res = await h.request('POST', '/v1/notifications', JSON.stringify(note), { 'content-type': type });
      expect(res.status, type).toBe(202);
    }
  });
});

describe('hostile JSON: ill-formed Unicode, deep nesting, oversized free-form data', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());
  const note = (data: unknown) => ({ type: 'follow_up', patientId: 'p1', data });
  const nested = (depth: number, leaf: unknown = 'x'): unknown => {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = [v];
    return v;
  };
  const deepObject = (depth: number): unknown => {
    let v: unknown = 'x';
    for (let i = 0; i < depth; i++) v = { k: v };
    return v;
  };
  const ok = { reason: 'x', dueDate: '2030-01-01' };

  const cases: [string, string, string, unknown][] = [
    ['a lone high surrogate in a data value', 'POST', '/v1/notifications', note({ ...ok, extra: 'a\uD800b' })],
    ['a lone low surrogate in a data key', 'POST', '/v1/notifications', note({ ...ok, ['k\uDC00']: 'v' })],
    ['a lone surrogate in a patient name', 'PUT', '/v1/patients/p2', samplePatient({ name: { text: 'Ana \uD83D' } })],
    ['a lone surrogate in a batch item', 'POST', '/v1/notifications:batch', { items: [note({ ...ok, r: '\uDFFF' })] }],
    ['arrays nested 2,000 deep in data', 'POST', '/v1/notifications', note({ ...ok, deep: nested(2000) })],
    [
      'objects nested 100 deep in a patient body',
      'PUT',
      '/v1/patients/p2',
      { ...samplePatient(), name: deepObject(100) },
    ],
    ['data nested deeper than 4 levels', 'POST', '/v1/notifications', note({ ...ok, d: nested(4) })],
    [
      'data with more than 50 keys',
      'POST',
      '/v1/notifications',
      note({ ...ok, ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'])) }),
    ],
    ['a data string over 2,000 characters', 'POST', '/v1/notifications', note({ ...ok, reason: 'x'.repeat(2001) })],
  ];
  for (const [what, method, path, body] of cases) {
    it(`answers 400 SP_REQ_VALIDATION for ${what}, writing nothing`, async () => {
      const before = rowCounts(h.dataDir);
      const res = await rawPath(h, method, path, body);
      expect([res.status, res.body.code]).toEqual([400, 'SP_REQ_VALIDATION']);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(JSON.stringify(res.body)).not.toMatch(/\\ud[89a-f]/i);
      expect(rowCounts(h.dataDir)).toEqual(before);
    });
  }

  it('answers 400 SP_REQ_VALIDATION for bytes that are not UTF-8, writing nothing', async () => {
    const before = rowCounts(h.dataDir);
    const json = Buffer.from(JSON.stringify(note({ ...ok, extra: 'AB' })), 'utf8');
    const i = json.indexOf('AB');
    for (const bad of [
      [0xc3, 0x28],
      [0xed, 0xa0],
      [0xff, 0xfe],
    ]) {
      const body = Buffer.from(json);
      body[i] = bad[0]!;
      body[i + 1] = bad[1]!;
      const res = await rawPath(h, 'POST', '/v1/notifications', body);
      expect([res.status, res.body.code], bad.join(',')).toEqual([400, 'SP_REQ_VALIDATION']);
    }
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('still takes data up to the bounds (the template then judges its fields) and well-formed emoji', async () => {
    const atBounds = {
      ...ok,
      reason: 'x'.repeat(2000),
      d: nested(3),
      ...Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`k${i}`, 'v'])),
    };
    const bounded = await rawPath(h, 'POST', '/v1/notifications', note(atBounds));
    expect([bounded.status, bounded.body.code]).toEqual([400, 'SP_NOTIFICATION_INVALID_DATA']);
    const res = await rawPath(h, 'POST', '/v1/notifications', note({ ...ok, reason: 'Check-up 😀 José' }));
    expect(res.status).toBe(202);
  });
});
