import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import {
  eventually,
  form,
  httpsJson,
  samplePatient,
  startSealpost,
  type Harness,
} from '../helpers/sealpost-harness.js';
import { inboxStates, openSse, type SseClient } from '../helpers/sse.js';

const MARKER = 'Qzinboxphimarker';

/**
 * The signed-in patient's inbox over the API, on each backend: its state, acknowledging, and the live
 * stream (Server-Sent Events) that tells an open inbox of new notifications, reads and
 * acknowledgements, with counts and ids only; bad inputs change nothing.
 */
describeEachBackend('patient inbox: state, acknowledge and the live stream', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let token = '';
  const EMAIL = 'inbox-api@example.com';
  const OTHER_EMAIL = 'inbox-api-other@example.com';
  const IDLE_EMAIL = 'inbox-api-idle@example.com';
  const LIMIT_EMAIL = 'inbox-api-limit@example.com';
  const BURST_EMAIL = 'inbox-api-burst@example.com';
  /** The server's clock runs ahead by this much (the idle timeout without waiting for it). */
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);
  const streams: SseClient[] = [];
  const anon = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: '', ...headers });
  const asPatient = (t: string, method: string, path: string, body?: unknown) =>
    anon(method, path, body, { authorization: `Bearer ${t}` });
  const stream = (headers: Record<string, string>) => {
    const s = openSse(h.url, '/v1/me/inbox/events', h.cert, headers);
    streams.push(s);
    return s;
  };

  async function signIn(email: string): Promise<string> {
    const outbox = async () => (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
    const before = (await outbox()).filter((m) => m.recipient === email && /code is/.test(m.body)).length;
    expect((await anon('POST', '/v1/patient-auth/start', { contact: { system: 'email', value: email } })).status).toBe(
      202,
    );
    const mail = await eventually(
      async () => (await outbox()).filter((m) => m.recipient === email && /code is/.test(m.body))[before],
      'code',
    );
    const code = /code is (\d{6})/.exec(mail.body)![1]!;
    const r = await anon('POST', '/v1/patient-auth/verify', {
      contact: { system: 'email', value: email },
      code,
      transport: 'bearer',
    });
    expect(r.status).toBe(200);
    return r.body.token;
  }
  const notify = async (patientId: string, testName: string) => {
    const r = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId,
      data: { testName },
    });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost({ ...db.env, SEALPOST_SESSION_IDLE_MINUTES: '15' }, { clock });
    for (const [id, email] of [
      ['pin1', EMAIL],
      ['pin2', OTHER_EMAIL],
      ['pin3', IDLE_EMAIL],
      ['pin4', LIMIT_EMAIL],
      ['pin5', BURST_EMAIL],
    ]) {
      const p = samplePatient({
        name: { given: [MARKER], family: 'Inbox' },
        telecom: [{ system: 'email', value: email }],
      });
      expect((await h.request('PUT', `/v1/patients/${id}`, p)).status).toBe(201);
      expect(
        (await h.request('POST', `/v1/patients/${id}/account`, { contact: { system: 'email', value: email } })).status,
      ).toBe(201);
    }
    token = await signIn(EMAIL);
  }, 120_000);
  afterAll(async () => {
    for (const s of streams) s.close();
    await h?.close();
    await db?.drop();
  });

  it('refuses the stream without a session (401) and without Accept: text/event-stream (400); staff keys get 403', async () => {
    const none = stream({});
    expect((await none.opened).status).toBe(401);
    const plain = await asPatient(token, 'GET', '/v1/me/inbox/events');
    expect(plain.status).toBe(400);
    expect(plain.body.code).toBe('SP_REQ_VALIDATION');
    const staff = stream({ authorization: `Bearer ${h.apiKey}` });
    expect((await staff.opened).status).toBe(403);
    expect((await anon('GET', '/v1/me/inbox')).status).toBe(401);
    expect((await anon('POST', '/v1/me/notifications/0123456789abcdef/acknowledge', {})).status).toBe(401);
  });

  it('streams the state at once, then a new notification, a read and an acknowledgement; ids and counts only', async () => {
    const s = stream({ authorization: `Bearer ${token}` });
    const opened = await s.opened;
    expect(opened.status).toBe(200);
    expect(String(opened.headers['content-type'])).toMatch(/^text\/event-stream/);
    expect(opened.headers['cache-control']).toBe('no-store');
    expect(opened.headers['x-content-type-options']).toBe('nosniff');
    expect(opened.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(opened.headers['x-request-id']).toBeTruthy();
    await eventually(async () => inboxStates(s).length > 0, 'the first state');
    expect(inboxStates(s)[0]).toEqual({ total: 0, unread: 0, newest: null, acknowledged: 0 });

    const id = await notify('pin1', `${MARKER} ferritin`);
    const arrived = await eventually(async () => inboxStates(s).find((x) => x.newest === id), 'the new notification');
    expect(arrived).toMatchObject({ total: 1, unread: 1 });
    // Another patient's notification says nothing on this stream.
    const others = await notify('pin2', `${MARKER} other`);

    const state = await asPatient(token, 'GET', '/v1/me/inbox');
    expect(state.body).toEqual({ total: 1, unread: 1, newest: id, acknowledged: 0, language: 'en' });

    expect((await asPatient(token, 'GET', `/v1/me/notifications/${id}`)).status).toBe(200);
    await eventually(async () => inboxStates(s).find((x) => x.newest === id && x.unread === 0), 'the read');

    const ack = await asPatient(token, 'POST', `/v1/me/notifications/${id}/acknowledge`, {});
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id, status: 'acknowledged' });
    await eventually(async () => inboxStates(s).find((x) => x.acknowledged === 1), 'the acknowledgement');
    // Acknowledging again changes nothing and is not audited twice.
    expect((await asPatient(token, 'POST', `/v1/me/notifications/${id}/acknowledge`, {})).body.status).toBe(
      'acknowledged',
    );
    const audit = await h.request('GET', '/v1/audit/events?action=notification.acknowledged');
    expect(audit.body.items.filter((e: any) => e.target?.id === id)).toHaveLength(1);
    expect((await h.request('GET', `/v1/notifications/${id}`)).body.status).toBe('acknowledged');

    // The stream carried no content, no patient id and nothing of the other patient.
    expect(s.raw()).not.toContain(MARKER);
    expect(s.raw()).not.toContain('pin1');
    expect(s.raw()).not.toContain(others);
    expect(s.raw()).not.toMatch(/ferritin/i);
  });

  it("a read and an acknowledgement through the notification's one-time link show on the open stream", async () => {
    const s = stream({ authorization: `Bearer ${token}` });
    expect((await s.opened).status).toBe(200);
    const res = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'pin1',
      data: { testName: `${MARKER} link` },
    });
    const id = res.body.id as string;
    await eventually(async () => inboxStates(s).find((x) => x.newest === id && x.unread >= 1), 'the new one');
    const before = inboxStates(s).at(-1)!;
    const mail = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items.find(
          (i: any) => i.deliveryId === res.body.deliveries[0].id,
        ),
      'the nudge',
    );
    const path = new URL(/(https:\/\/\S+\/m\/\S+)/.exec(mail.body)![1]!).pathname;
    const verified = await form(h, `${path}/verify`, { birthDate: '1980-04-02' });
    expect(verified.status).toBe(303);
    const cookie = String(verified.headers['set-cookie']).split(';')[0]!;
    await eventually(
      async () => inboxStates(s).find((x) => x.newest === id && x.unread === before.unread - 1),
      'the read through the link',
    );
    expect((await form(h, `${path}/acknowledge`, {}, cookie)).status).toBe(303);
    await eventually(
      async () => inboxStates(s).find((x) => x.acknowledged === before.acknowledged + 1),
      'the acknowledgement through the link',
    );
    expect(s.raw()).not.toContain(MARKER);
  });

  it("answers 404 for another patient's notification and an unknown id, and changes nothing", async () => {
    const theirs = await notify('pin2', `${MARKER} theirs`);
    const r = await asPatient(token, 'POST', `/v1/me/notifications/${theirs}/acknowledge`, {});
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('SP_NOTIFICATION_NOT_FOUND');
    expect(r.text).not.toContain(MARKER);
    expect((await asPatient(token, 'POST', '/v1/me/notifications/0123456789abcdef/acknowledge', {})).status).toBe(404);
    expect((await asPatient(token, 'POST', `/v1/me/notifications/${'x'.repeat(65)}/acknowledge`, {})).status).toBe(400);
    const view = await h.request('GET', `/v1/notifications/${theirs}`);
    expect(view.body.acknowledgedAt).toBeNull();
  });

  it('ends the stream with `signed-out` once the session is signed out', async () => {
    const t = await signIn(EMAIL);
    const s = stream({ authorization: `Bearer ${t}` });
    expect((await s.opened).status).toBe(200);
    await eventually(async () => inboxStates(s).length > 0, 'the first state');
    expect((await asPatient(t, 'POST', '/v1/auth/logout')).status).toBe(204);
    // The next change of the inbox (or the next heartbeat) finds the session gone.
    await notify('pin1', 'after sign-out');
    await s.ended;
    expect(s.events.at(-1)?.event).toBe('signed-out');
    expect((await stream({ authorization: `Bearer ${t}` }).opened).status).toBe(401);
  });
  it('a session revoked elsewhere ends the stream at the next heartbeat, with no change to the inbox at all', async () => {
    const t = await signIn(EMAIL);
    const s = stream({ authorization: `Bearer ${t}` });
    expect((await s.opened).status).toBe(200);
    await eventually(async () => inboxStates(s).length > 0, 'the first state');
    // Revoked from another of the patient's sessions (a lost phone).
    const sessionId = (await asPatient(t, 'GET', '/v1/me')).body.session.id;
    expect((await asPatient(token, 'DELETE', `/v1/me/sessions/${sessionId}`)).status).toBe(204);
    await s.ended;
    expect(s.raw()).toContain(': heartbeat');
    expect(s.events.at(-1)?.event).toBe('signed-out');
  }, 60_000);

  it('a session holds at most 3 open streams and an account 5: one more ends the oldest with `superseded`, not a sign-out', async () => {
    const first = await signIn(LIMIT_EMAIL);
    const open = async (t: string) => {
      const s = stream({ authorization: `Bearer ${t}` });
      expect((await s.opened).status).toBe(200);
      await eventually(async () => inboxStates(s).length > 0, 'the first state');
      return s;
    };
    const a = [await open(first), await open(first), await open(first)];
    // A fourth stream of the session: the oldest one ends, told why.
    a.push(await open(first));
    await a[0]!.ended;
    expect(a[0]!.events.map((e) => e.event)).toEqual(['inbox', 'superseded']);

    // A second session of the same account: 2 more make 5 for the account, the next ends its oldest.
    const second = await signIn(LIMIT_EMAIL);
    const b = [await open(second), await open(second), await open(second)];
    await a[1]!.ended;
    expect(a[1]!.events.map((e) => e.event)).toEqual(['inbox', 'superseded']);

    // The five left all carry the next change; the superseded ones carried nothing after their end.
    const id = await notify('pin4', 'after the limit');
    for (const s of [a[2]!, a[3]!, ...b])
      await eventually(async () => inboxStates(s).find((x) => x.newest === id), 'the change');
    expect(a[0]!.raw()).not.toContain(id);
    expect(a[1]!.raw()).not.toContain(id);
    // Superseded is not signed out: the session goes on answering.
    expect((await asPatient(first, 'GET', '/v1/me/inbox')).status).toBe(200);
  });

  it('a burst of 30 streams from one session leaves 3 open on the node, the others ended with `superseded`', async () => {
    const t = await signIn(BURST_EMAIL);
    const burst = Array.from({ length: 30 }, () => stream({ authorization: `Bearer ${t}` }));
    const ended = new Set<SseClient>();
    for (const s of burst) void s.ended.then(() => ended.add(s));
    const statuses = await Promise.all(burst.map((s) => s.opened.then((o) => o.status)));
    expect(statuses.every((x) => x === 200)).toBe(true);
    await eventually(async () => ended.size === 27 || undefined, '27 streams ended');
    for (const s of ended) expect(s.events.at(-1)?.event).toBe('superseded');
    const left = burst.filter((s) => !ended.has(s));
    const id = await notify('pin5', 'after the burst');
    for (const s of left) await eventually(async () => inboxStates(s).find((x) => x.newest === id), 'the change');
    expect(ended.size).toBe(27);
  });

  // Runs last: it moves the server's clock 20 minutes ahead, which ends every idle session.
  it('ends the stream with `signed-out` once the session is idle past the timeout, and the stream itself keeps no session alive', async () => {
    const t = await signIn(IDLE_EMAIL);
    const sessionId = (await asPatient(t, 'GET', '/v1/me')).body.session.id as string;
    for (const other of streams) other.close();
    const s = stream({ authorization: `Bearer ${t}` });
    expect((await s.opened).status).toBe(200);
    await eventually(async () => inboxStates(s).length > 0, 'the first state');
    try {
      // 14 minutes without a request: still signed in, and the stream's look at its session is no activity.
      offset = 14 * 60_000;
      const seen = await notify('pin3', 'at 14 minutes');
      await eventually(async () => inboxStates(s).find((x) => x.newest === seen), 'the change at 14 minutes');
      // 20 minutes after the last request (6 after the stream's look): idle past 15 minutes.
      offset = 20 * 60_000;
      const unseen = await notify('pin3', 'at 20 minutes');
      await s.ended;
      expect(s.events.map((e) => e.event)).toEqual(['inbox', 'inbox', 'signed-out']);
      expect(s.raw()).not.toContain(unseen);
      // Every other route agrees: the session ended (idle), once, on the record.
      expect((await asPatient(t, 'GET', '/v1/me/inbox')).status).toBe(401);
      const audit = await h.request('GET', '/v1/audit/events?action=session.ended');
      expect(audit.body.items.filter((e: any) => e.target?.id === sessionId)).toHaveLength(1);
    } finally {
      offset = 0;
    }
  }, 60_000);

  it('writes no planted PHI (names, notification data) or contact point to the server log', () => {
    const log = readFileSync(h.logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    for (const s of [MARKER, 'ferritin', 'inbox-api', '@example.com']) expect(log).not.toContain(s);
  });
});
