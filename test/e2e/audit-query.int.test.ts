import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  httpsJson,
  samplePatient,
  startSealpost,
  type Harness,
  form,
  page,
} from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';
import { createApiKey } from '../../src/auth/api-keys.js';

const tag = randomBytes(5).toString('hex');
const NAME_MARK = `PHIMARK-name-${tag}`;
const DATA_MARK = `PHIMARK-test-${tag}`;
const EMAIL = `phimark${tag}@example.com`;
const PHONE = '+14155552671';
const BIRTH_DATE = '1980-04-02';
const PHI = [NAME_MARK, DATA_MARK, EMAIL, PHONE.slice(2), BIRTH_DATE];
/** Opaque, but still never to be echoed by the audit routes: they work on the pseudonymous reference. */
const P1 = `pat-${tag}`;
const P2 = `other-${tag}`;

const T0 = Date.parse('2026-05-04T15:00:00.000Z');
const T1 = T0 + 3_600_000; // the portal read
const T2 = T0 + 2 * 3_600_000; // a second patient's notification
const iso = (ms: number) => new Date(ms).toISOString();

// --- FHIR R4 AuditEvent structure (http://hl7.org/fhir/R4/auditevent.html, element cardinalities) --
type Check = (v: unknown, path: string, errors: string[]) => void;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString: Check = (v, p, e) => {
  if (typeof v !== 'string' || !/^[ \r\n\t\S]+$/.test(v) || v.trim() === '') e.push(`${p}: string expected`);
};
const pattern =
  (re: RegExp): Check =>
  (v, p, e) => {
    if (typeof v !== 'string' || !re.test(v)) e.push(`${p}: ${JSON.stringify(v)} does not match ${re}`);
  };
const oneOf =
  (...codes: string[]): Check =>
  (v, p, e) => {
    if (typeof v !== 'string' || !codes.includes(v)) e.push(`${p}: ${JSON.stringify(v)} not in ${codes.join('|')}`);
  };
const bool: Check = (v, p, e) => {
  if (typeof v !== 'boolean') e.push(`${p}: boolean expected`);
};
/** A complex type: each element with its cardinality; any element not in the definition is an error. */
function complex(def: Record<string, [min: 0 | 1, max: 1 | '*', check: Check]>): Check {
  return (v, p, e) => {
    if (!isObj(v)) return void e.push(`${p}: object expected`);
    for (const k of Object.keys(v)) if (!(k in def)) e.push(`${p}.${k}: not an element of this type`);
    for (const [k, [min, max, check]] of Object.entries(def)) {
      const x = v[k];
      if (x === undefined) {
        if (min === 1) e.push(`${p}.${k}: required (${min}..${max})`);
        continue;
      }
      if (max === '*') {
        if (!Array.isArray(x)) e.push(`${p}.${k}: array expected (${min}..*)`);
        else if (x.length < min || x.length === 0)
          e.push(`${p}.${k}: needs ${Math.max(min, 1)}+ items (empty arrays are not allowed in FHIR JSON)`);
        else x.forEach((i, n) => check(i, `${p}.${k}[${n}]`, e));
      } else if (Array.isArray(x)) e.push(`${p}.${k}: single value expected`);
      else check(x, `${p}.${k}`, e);
    }
  };
}
const uri = nonEmptyString;
const code = pattern(/^[^\s]+(\s[^\s]+)*$/);
const Coding = complex({
  system: [0, 1, uri],
  version: [0, 1, nonEmptyString],
  code: [0, 1, code],
  display: [0, 1, nonEmptyString],
  userSelected: [0, 1, bool],
});
const CodeableConcept = complex({ coding: [0, '*', Coding], text: [0, 1, nonEmptyString] });
const Identifier = complex({
  use: [0, 1, code],
  type: [0, 1, CodeableConcept],
  system: [0, 1, uri],
  value: [0, 1, nonEmptyString],
});
const Reference: Check = (v, p, e) => {
  complex({
    reference: [0, 1, nonEmptyString],
    type: [0, 1, uri],
    identifier: [0, 1, Identifier],
    display: [0, 1, nonEmptyString],
  })(v, p, e);
  if (isObj(v) && !v.reference && !v.identifier && !v.display)
    e.push(`${p}: a Reference needs reference, identifier or display`);
};
const INSTANT =
  /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/;
const EntityDetail: Check = (v, p, e) => {
  complex({
    type: [1, 1, nonEmptyString],
    valueString: [0, 1, nonEmptyString],
    valueBase64Binary: [0, 1, nonEmptyString],
  })(v, p, e);
  if (isObj(v) && (v.valueString === undefined) === (v.valueBase64Binary === undefined))
    e.push(`${p}: value[x] is 1..1`);
};
const AuditEvent = complex({
  resourceType: [1, 1, oneOf('AuditEvent')],
  id: [0, 1, pattern(/^[A-Za-z0-9\-.]{1,64}$/)],
  meta: [0, 1, (v, p, e) => void (isObj(v) || e.push(`${p}: object expected`))],
  type: [1, 1, Coding],
  subtype: [0, '*', Coding],
  action: [0, 1, oneOf('C', 'R', 'U', 'D', 'E')],
  period: [0, 1, complex({ start: [0, 1, nonEmptyString], end: [0, 1, nonEmptyString] })],
  recorded: [1, 1, pattern(INSTANT)],
  outcome: [0, 1, oneOf('0', '4', '8', '12')],
  outcomeDesc: [0, 1, nonEmptyString],
  purposeOfEvent: [0, '*', CodeableConcept],
  agent: [
    1,
    '*',
    complex({
      type: [0, 1, CodeableConcept],
      role: [0, '*', CodeableConcept],
      who: [0, 1, Reference],
      altId: [0, 1, nonEmptyString],
      name: [0, 1, nonEmptyString],
      requestor: [1, 1, bool],
      location: [0, 1, Reference],
      policy: [0, '*', uri],
      media: [0, 1, Coding],
      network: [0, 1, complex({ address: [0, 1, nonEmptyString], type: [0, 1, oneOf('1', '2', '3', '4', '5')] })],
      purposeOfUse: [0, '*', CodeableConcept],
    }),
  ],
  source: [1, 1, complex({ site: [0, 1, nonEmptyString], observer: [1, 1, Reference], type: [0, '*', Coding] })],
  entity: [
    0,
    '*',
    complex({
      what: [0, 1, Reference],
      type: [0, 1, Coding],
      role: [0, 1, Coding],
      lifecycle: [0, 1, Coding],
      securityLabel: [0, '*', Coding],
      name: [0, 1, nonEmptyString],
      description: [0, 1, nonEmptyString],
      query: [0, 1, nonEmptyString],
      detail: [0, '*', EntityDetail],
    }),
  ],
});
const Bundle = complex({
  resourceType: [1, 1, oneOf('Bundle')],
  id: [0, 1, nonEmptyString],
  type: [
    1,
    1,
    oneOf(
      'document',
      'message',
      'transaction',
      'transaction-response',
      'batch',
      'batch-response',
      'history',
      'searchset',
      'collection',
    ),
  ],
  timestamp: [0, 1, pattern(INSTANT)],
  total: [0, 1, (v, p, e) => void (Number.isInteger(v) || e.push(`${p}: unsignedInt expected`))],
  link: [0, '*', complex({ relation: [1, 1, nonEmptyString], url: [1, 1, uri] })],
  entry: [
    0,
    '*',
    complex({
      fullUrl: [0, 1, uri],
      resource: [
        1,
        1,
        (v, p, e) =>
          void (isObj(v) && typeof v.resourceType === 'string' ? undefined : e.push(`${p}.resourceType: required`)),
      ],
      search: [0, 1, complex({ mode: [0, 1, oneOf('match', 'include', 'outcome')], score: [0, 1, () => undefined] })],
    }),
  ],
});
function validate(check: Check, v: unknown, root: string): string[] {
  const errors: string[] = [];
  check(v, root, errors);
  return errors;
}

describe('the structural R4 validator used below', () => {
  it('rejects resources that break the AuditEvent definition, so the checks below can fail', () => {
    const ok = {
      resourceType: 'AuditEvent',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      recorded: '2026-05-04T15:00:00.000Z',
      agent: [{ requestor: true, who: { display: 'x' } }],
      source: { observer: { display: 'Sealpost' } },
    };
    expect(validate(AuditEvent, ok, 'AuditEvent')).toEqual([]);
    const broken: Record<string, unknown>[] = [
      { ...ok, type: undefined },
      { ...ok, type: [ok.type] },
      { ...ok, recorded: '2026-05-04' },
      { ...ok, agent: [] },
      { ...ok, agent: [{ who: { display: 'x' } }] },
      { ...ok, agent: [{ requestor: 'yes' }] },
      { ...ok, source: { type: [] } },
      { ...ok, source: { observer: {} } },
      { ...ok, action: 'X' },
      { ...ok, outcome: 0 },
      { ...ok, entity: [{ detail: [{ type: 'k' }] }] },
      { ...ok, extra: 1 },
    ];
    for (const b of broken)
      expect(
        validate(AuditEvent, JSON.parse(JSON.stringify(b)), 'AuditEvent').length,
        JSON.stringify(b),
      ).toBeGreaterThan(0);
  });
});

describe('audit search, accounting of disclosures and FHIR AuditEvent', () => {
  let h: Harness;
  let now = T0;
  let keyId: string;
  let ref1: string;
  let notificationId: string;
  let deliveryId: string;
  const get = (path: string, key?: string) =>
    h.request('GET', path, undefined, key ? { authorization: `Bearer ${key}` } : {});
  /** Every page of an events query, following nextCursor. */
  async function all(q: string, limit = 500): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    do {
      const r: any = await get(
        `/v1/audit/events?${q}${q ? '&' : ''}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(r.status, r.text).toBe(200);
      items.push(...r.body.items);
      cursor = r.body.nextCursor;
    } while (cursor);
    return items;
  }

  beforeAll(async () => {
    h = await startSealpost({}, { clock: () => new Date(now) });
    keyId = h.apiKey.split('_')[1]!;
    const patient = samplePatient({
      name: { given: [NAME_MARK], family: 'Lopez' },
      birthDate: BIRTH_DATE,
      telecom: [
        { system: 'sms', value: PHONE, rank: 1 },
        { system: 'email', value: EMAIL, rank: 2 },
      ],
    });
    expect((await h.request('PUT', `/v1/patients/${P1}`, patient)).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/${P2}`, samplePatient())).status).toBe(201);
    const sent = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: P1,
      data: { testName: DATA_MARK },
    });
    expect(sent.status).toBe(202);
    notificationId = sent.body.id;
    deliveryId = sent.body.deliveries[0].id;
    const nudge = await eventually(
      async () => (await h.request('GET', '/v1/dev/outbox')).body.items.find((i: any) => i.deliveryId === deliveryId),
      'nudge',
    );
    const link = new URL(/View it at (\S+)\./.exec(nudge.body)![1]!).pathname;

    now = T1;
    expect((await form(h, `${link}/verify`, { birthDate: '1980-04-03' })).status).toBe(401);
    const ok = await form(h, `${link}/verify`, { birthDate: BIRTH_DATE });
    expect(ok.status).toBe(303);
    const cookie = String(ok.headers['set-cookie']).split(';')[0]!;
    const msg = await page(h, `${link}/message`, cookie);
    expect(msg.text).toContain(DATA_MARK); // the PHI really went through the pipeline
    expect((await form(h, `${link}/acknowledge`, {}, cookie)).status).toBe(303);
    expect((await h.request('GET', `/v1/patients/${P1}`)).body.name.given).toEqual([NAME_MARK]);

    now = T2;
    const other = await h.request('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: P2,
      data: { reason: 'check-up', dueDate: '2030-01-01' },
    });
    await eventually(
      async () => (await h.request('GET', `/v1/notifications/${other.body.id}`)).body.status === 'delivered',
      'second delivery',
    );
    ref1 = query<{ pseudonym: string }>(h.dataDir, 'select pseudonym from patients where id = ?', P1)[0]!.pseudonym;
  });
  afterAll(() => h.close());

  it("lists a patient's events in log order under the pseudonymous reference, each with its leaf index and leaf hash", async () => {
    const items = await all(`patientId=${P1}`);
    expect(items.map((i) => i.action)).toEqual([
      'patient.created',
      'notification.created',
      'delivery.sent',
      'portal.verification_failed',
      'portal.verified',
      'notification.read',
      'notification.accessed',
      'notification.acknowledged',
      'patient.read',
    ]);
    for (const i of items) expect(i.patientRef).toBe(ref1);
    const indexes = items.map((i) => i.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    const rows = query<{ idx: number; entry: string; leaf_hash: Buffer }>(
      h.dataDir,
      'select idx, entry, leaf_hash from audit_entries',
    );
    for (const i of items) {
      const row = rows.find((r) => r.idx === i.index + 1)!;
      expect(i.leafHash).toBe(Buffer.from(row.leaf_hash).toString('base64'));
      expect(i.leafHash).toBe(
        createHash('sha256')
          .update(Buffer.from([0]))
          .update(row.entry)
          .digest('base64'),
      );
    }
    const send = items.find((i) => i.action === 'delivery.sent');
    expect(send).toMatchObject({
      actor: expect.stringMatching(/^system:worker/),
      outcome: 'success',
      target: { type: 'delivery', id: deliveryId },
      at: iso(T0),
    });
    expect(send.details).toMatchObject({ channel: 'sms', provider: 'dev-outbox', notification: notificationId });
    const created = items.find((i) => i.action === 'notification.created');
    expect(created).toMatchObject({ actor: `api-key:${keyId}`, requestId: expect.any(String), sourceIp: '127.0.0.1' });
    expect(items.find((i) => i.action === 'portal.verification_failed').outcome).toBe('failure');
  });

  it('filters by exact action and by action prefix', async () => {
    const deliveries = await all('action=delivery.*');
    expect(deliveries.length).toBeGreaterThanOrEqual(2);
    for (const i of deliveries) expect(i.action).toMatch(/^delivery\./);
    expect(new Set(deliveries.map((i) => i.patientRef)).size).toBe(2);
    const reads = await all('action=notification.read');
    expect(reads.map((i) => i.action)).toEqual(['notification.read']);
    expect(await all('action=notification.*&patientId=' + P1)).toHaveLength(4);
    expect(await all('action=notification')).toEqual([]);
    const bad = await get('/v1/audit/events?action=delivery%25');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('SP_REQ_VALIDATION');
  });

  it('filters by actor', async () => {
    const mine = await all(`actor=api-key:${keyId}`);
    expect(mine.length).toBeGreaterThan(0);
    for (const i of mine) expect(i.actor).toBe(`api-key:${keyId}`);
    expect(mine.map((i) => i.action)).toContain('patient.read');
    expect(mine.map((i) => i.action)).not.toContain('delivery.sent');
  });

  it('filters by time with an inclusive from and an exclusive to', async () => {
    const window = await all(`from=${iso(T1)}&to=${iso(T2)}`);
    expect(window.map((i) => i.action)).toEqual([
      'portal.verification_failed',
      'portal.verified',
      'notification.read',
      'notification.accessed',
      'notification.acknowledged',
      'patient.read',
    ]);
    for (const i of window) expect(i.at).toBe(iso(T1));
    // Offsets are honoured: the same instant written in another zone.
    expect(await all(`from=2026-05-04T12:00:00-04:00&to=${iso(T2)}`)).toEqual(window);
    const later = await all(`from=${iso(T2)}`);
    expect(later.every((i) => Date.parse(i.at) >= T2)).toBe(true);
    expect(later.map((i) => i.action)).toContain('notification.created');
    expect(await all(`from=${iso(T1)}&to=${iso(T1)}`)).toEqual([]);
  });

  it('refuses a window whose from is after its to, and malformed times', async () => {
    const r = await get(`/v1/audit/events?from=${iso(T2)}&to=${iso(T1)}`);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('SP_REQ_VALIDATION');
    expect(r.body.detail).toContain('from');
    expect((await get('/v1/audit/events?from=yesterday')).status).toBe(400);
    expect((await get('/v1/audit/events?cursor=-1')).status).toBe(400);
  });

  it('pages by log index: following nextCursor yields every entry once, in order', async () => {
    const whole = await all('');
    expect(whole.length).toBeGreaterThan(10);
    const first = await get('/v1/audit/events?limit=3');
    expect(first.body.items).toHaveLength(3);
    expect(first.body.nextCursor).toBe(String(first.body.items[2].index));
    const paged = await all('', 3);
    expect(paged.map((i) => i.index)).toEqual(whole.map((i) => i.index));
    expect(new Set(paged.map((i) => i.index)).size).toBe(paged.length);
    const last = await get(`/v1/audit/events?cursor=${whole[whole.length - 1].index}`);
    expect(last.body).toEqual({ items: [], nextCursor: null });
  });

  it('answers 401 without an API key and 403 for a key without the audit scope; an audit key may read', async () => {
    const paths = [`/v1/audit/events`, `/v1/patients/${P1}/disclosures`];
    for (const p of paths) {
      const anon = await httpsJson(h.url, h.cert, 'GET', p, undefined, { authorization: '' });
      expect(anon.status).toBe(401);
      expect(anon.body.code).toBe('SP_AUTH_UNAUTHENTICATED');
    }
    const notifier = await createApiKey(h.app.store, 'default', 'x', ['integration'], new Date(now));
    for (const p of paths) {
      const r = await get(p, notifier);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('SP_AUTH_FORBIDDEN');
    }
    const auditor = await createApiKey(h.app.store, 'default', 'auditor', ['audit'], new Date(now));
    for (const p of paths) expect((await get(p, auditor)).status).toBe(200);
  });

  it('accounts for the sends, reads, accesses and acknowledgements of a patient, with channel and provider', async () => {
    const r = await get(`/v1/patients/${P1}/disclosures`);
    expect(r.status).toBe(200);
    expect(r.body.patientRef).toBe(ref1);
    const sixYearsBefore = new Date(T2);
    sixYearsBefore.setUTCFullYear(sixYearsBefore.getUTCFullYear() - 6);
    expect(r.body.from).toBe(sixYearsBefore.toISOString());
    expect(r.body.to).toBe(iso(T2));
    expect(r.body.nextCursor).toBeNull();
    const items = r.body.items;
    expect(items.map((i: any) => i.action)).toEqual([
      'delivery.sent',
      'notification.read',
      'notification.accessed',
      'notification.acknowledged',
      'patient.read',
    ]);
    expect(items[0]).toEqual({
      index: expect.any(Number),
      at: iso(T0),
      actor: expect.stringMatching(/^system:worker/),
      action: 'delivery.sent',
      what: { type: 'notification', id: notificationId },
      deliveryId,
      channel: 'sms',
      provider: 'dev-outbox',
    });
    for (const i of items.slice(1, 4)) {
      expect(i).toMatchObject({
        at: iso(T1),
        actor: expect.stringMatching(/^patient-link:/),
        what: { type: 'notification', id: notificationId },
        deliveryId,
        channel: 'sms',
        provider: 'dev-outbox',
      });
    }
    expect(items[4]).toEqual({
      index: expect.any(Number),
      at: iso(T1),
      actor: `api-key:${keyId}`,
      action: 'patient.read',
      what: { type: 'patient', id: ref1 },
    });
  });

  it('limits the accounting to the requested range and pages it', async () => {
    const reads = await get(`/v1/patients/${P1}/disclosures?from=${iso(T1)}&to=${iso(T2)}`);
    expect(reads.body.items.map((i: any) => i.action)).toEqual([
      'notification.read',
      'notification.accessed',
      'notification.acknowledged',
      'patient.read',
    ]);
    // A read whose send lies before the range still names the channel it came through.
    expect(reads.body.items[0]).toMatchObject({ deliveryId, channel: 'sms', provider: 'dev-outbox' });
    const before = await get(`/v1/patients/${P1}/disclosures?to=${iso(T0)}`);
    expect(before.body.items).toEqual([]);
    const p1 = await get(`/v1/patients/${P1}/disclosures?limit=2`);
    expect(p1.body.items).toHaveLength(2);
    const p2 = await get(`/v1/patients/${P1}/disclosures?limit=2&cursor=${p1.body.nextCursor}`);
    expect(p2.body.items.map((i: any) => i.action)).toEqual(['notification.accessed', 'notification.acknowledged']);
    const bad = await get(`/v1/patients/${P1}/disclosures?from=${iso(T2)}&to=${iso(T1)}`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('SP_REQ_VALIDATION');
  });

  it('has an empty accounting for a patient with no disclosures, listing nothing of other patients', async () => {
    const r = await get('/v1/patients/nobody/disclosures');
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([]);
    const other = await get(`/v1/patients/${P2}/disclosures`);
    expect(other.body.items.map((i: any) => i.action)).toEqual(['delivery.sent']);
  });

  it('puts no PHI and no caller patient id in any answer', async () => {
    const answers = [
      await get(`/v1/audit/events?patientId=${P1}&limit=500`),
      await get('/v1/audit/events?limit=500'),
      await get(`/v1/patients/${P1}/disclosures`),
      await get(`/fhir/R4/AuditEvent?_count=500`),
    ];
    for (const a of answers) {
      expect(a.status).toBe(200);
      for (const needle of [...PHI, P1, P2]) expect(a.text, needle).not.toContain(needle);
    }
    // Nor in the log (access logs name route patterns, never paths or query strings).
    const log = readFileSync(h.logFile, 'utf8');
    expect(log).toContain('/v1/audit/events');
    for (const needle of [...PHI, P1, P2]) expect(log, needle).not.toContain(needle);
    // The FHIR search by patient echoes the caller's own parameter in its links, never in a resource.
    const byPatient = await get(`/fhir/R4/AuditEvent?patient=Patient/${P1}&_count=500`);
    const resources = JSON.stringify(byPatient.body.entry.map((e: any) => e.resource));
    for (const needle of [...PHI, P1]) expect(resources, needle).not.toContain(needle);
  });

  describe('FHIR R4 AuditEvent search', () => {
    const fhir = (q: string, key?: string) => get(`/fhir/R4/AuditEvent${q}`, key);

    it('answers a searchset Bundle of AuditEvents that satisfy the R4 definition, one per entry', async () => {
      const r = await fhir('?_count=500');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(validate(Bundle, r.body, 'Bundle')).toEqual([]);
      expect(r.body.type).toBe('searchset');
      const events = await all('');
      expect(r.body.entry).toHaveLength(events.length);
      for (const [n, e] of r.body.entry.entries()) {
        expect(e.resource.resourceType).toBe('AuditEvent');
        expect(validate(AuditEvent, e.resource, `entry[${n}].resource`)).toEqual([]);
        expect(e.resource.id).toBe(String(events[n].index));
        expect(e.resource.recorded).toBe(events[n].at);
        expect(e.resource.source.observer.display).toBe('Sealpost');
        expect(e.resource.subtype).toContainEqual({
          system: 'https://sealpost.dev/fhir/audit-action',
          code: events[n].action,
        });
      }
    });

    it('maps sends, reads, failures and API reads to sensible types, actions, outcomes and agents', async () => {
      const byAction = new Map<string, any>();
      for (const e of (await fhir(`?patient=${P1}&_count=500`)).body.entry) {
        const action = e.resource.subtype.find((c: any) => c.system.endsWith('/audit-action')).code;
        byAction.set(action, e.resource);
      }
      const sent = byAction.get('delivery.sent');
      expect(sent.type).toMatchObject({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106' });
      expect(sent.action).toBe('R');
      expect(sent.outcome).toBe('0');
      expect(sent.agent).toHaveLength(2);
      expect(sent.agent[1]).toMatchObject({ requestor: false, who: { display: 'dev-outbox' } });
      expect(sent.entity).toContainEqual({
        what: { identifier: { system: 'https://sealpost.dev/fhir/patient-ref', value: ref1 } },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      });
      expect(byAction.get('notification.read')).toMatchObject({
        action: 'R',
        type: { code: '110110' },
        agent: [{ requestor: true, network: { address: '127.0.0.1', type: '2' } }],
      });
      expect(byAction.get('notification.acknowledged').action).toBe('U');
      expect(byAction.get('portal.verification_failed')).toMatchObject({
        outcome: '4',
        type: { code: '110114' },
        action: 'E',
      });
      const read = byAction.get('patient.read');
      expect(read.type).toMatchObject({
        system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
        code: 'rest',
      });
      expect(read.subtype).toContainEqual({ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' });
      expect(read.agent[0].who.identifier.value).toBe(`api-key:${keyId}`);
      expect(read.entity).toHaveLength(1);
      expect(byAction.get('patient.created').action).toBe('C');
    });

    it('filters by patient (as Patient/<id> or <id>) and by date with FHIR prefixes', async () => {
      const byRef = (await fhir(`?patient=Patient/${P1}&_count=500`)).body.entry.map((e: any) => e.resource.id);
      const byId = (await fhir(`?patient=${P1}&_count=500`)).body.entry.map((e: any) => e.resource.id);
      expect(byRef).toEqual(byId);
      expect(byRef).toEqual((await all(`patientId=${P1}`)).map((i) => String(i.index)));

      const ids = async (q: string) =>
        ((await fhir(`?_count=500&${q}`)).body.entry ?? []).map((e: any) => e.resource.id);
      const window = (await all(`from=${iso(T1)}&to=${iso(T2)}`)).map((i) => String(i.index));
      expect(await ids(`date=ge${iso(T1)}&date=lt${iso(T2)}`)).toEqual(window);
      expect(await ids(`date=eq${iso(T1).replace('.000Z', 'Z')}`)).toEqual(window); // second precision: [T1, T1+1s)
      expect(await ids(`date=gt${iso(T0)}&date=le${iso(T1)}`)).toEqual(window);
      expect(await ids(`date=2026-05-04&patient=${P1}`)).toEqual(byRef);
      const beforeRead = await ids(`date=lt${iso(T1)}`);
      expect(beforeRead.length).toBeGreaterThan(0);
      expect(beforeRead).toEqual((await all(`to=${iso(T1)}`)).map((i) => String(i.index)));
      expect(await ids('date=2025')).toEqual([]);
      const empty = await fhir('?date=2025');
      expect(validate(Bundle, empty.body, 'Bundle')).toEqual([]);
      expect(empty.body.entry).toBeUndefined(); // FHIR JSON has no empty arrays
    });

    it('pages with _count and a next link', async () => {
      const first = await fhir(`?patient=${P1}&_count=4`);
      expect(first.body.entry).toHaveLength(4);
      const next = first.body.link.find((l: any) => l.relation === 'next');
      expect(next.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/fhir\/R4\/AuditEvent\?/);
      const url = new URL(next.url);
      const second = await get(url.pathname + url.search);
      expect(validate(Bundle, second.body, 'Bundle')).toEqual([]);
      expect(second.body.entry.map((e: any) => Number(e.resource.id))[0]).toBeGreaterThan(
        Number(first.body.entry[3].resource.id),
      );
    });

    it('answers bad parameters with a 400 OperationOutcome naming the error code', async () => {
      for (const q of [
        '?date=ne2026-05-04',
        '?date=yesterday',
        '?date=2026-13-01',
        '?date=2026-02-30',
        '?_count=0',
        '?_count=many',
        '?foo=bar',
        '?patient=Patient/a%20b',
      ]) {
        const r = await fhir(q);
        expect(r.status, q).toBe(400);
        expect(r.headers['content-type'], q).toMatch(/^application\/fhir\+json/);
        expect(r.body.resourceType, q).toBe('OperationOutcome');
        expect(r.body.issue).toHaveLength(1);
        expect(r.body.issue[0]).toMatchObject({
          severity: 'error',
          code: 'invalid',
          diagnostics: expect.stringContaining('SP_REQ_VALIDATION'),
        });
      }
    });

    it('answers missing and insufficient credentials with an OperationOutcome too', async () => {
      const anon = await httpsJson(h.url, h.cert, 'GET', '/fhir/R4/AuditEvent', undefined, { authorization: '' });
      expect(anon.status).toBe(401);
      expect(anon.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(anon.body).toEqual({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'login', diagnostics: expect.stringContaining('SP_AUTH_UNAUTHENTICATED') }],
      });
      const notifier = await createApiKey(h.app.store, 'default', 'y', ['integration'], new Date(now));
      const forbidden = await fhir('', notifier);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.issue[0]).toMatchObject({
        code: 'forbidden',
        diagnostics: expect.stringContaining('SP_AUTH_FORBIDDEN'),
      });
    });
  });

  it('describes the audit routes in the OpenAPI document', async () => {
    const doc = (await httpsJson(h.url, h.cert, 'GET', '/openapi.json')).body;
    expect(doc.paths['/v1/audit/events'].get).toBeTruthy();
    expect(doc.paths['/v1/patients/{id}/disclosures'].get.description).toContain('PHI-free nudge');
    expect(doc.paths['/fhir/R4/AuditEvent'].get).toBeTruthy();
  });
});
