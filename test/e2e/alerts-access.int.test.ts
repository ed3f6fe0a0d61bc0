import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { httpsJson, page, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithPassword, staffWithSession, type TestPerson } from '../helpers/identity.js';
import { anon, asBearer } from '../helpers/staff-sign-in.js';
import { totpCode } from '../../src/auth/totp.js';
import { query } from '../helpers/db-snapshot.js';
import { launchChromium, pageStep as step } from '../helpers/chromium.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';
import { createApiKey } from '../../src/auth/api-keys.js';

/**
 * Who may act on an alert and who sees its clinical content (details, patientId), over the API and
 * the signed-in page, with the real directory and notifier.
 */
describe('clinical alerts: who may act, who sees details', () => {
  let h: Harness;
  let admin: TestPerson, told: TestPerson, team: TestPerson, outsider: TestPerson, silent: TestPerson;
  let browser: Browser | undefined;
  const as = (p: TestPerson | null, m: string, path: string, b?: unknown) => h.request(m, path, b, p?.headers);
  const audits = (action: string, id: string) =>
    query<{ n: number }>(
      h.dataDir,
      'select count(*) as n from audit_entries where action = ? and entry like ?',
      action,
      `%${id}%`,
    )[0]!.n;
  const contacts = (p: TestPerson, phone: string) =>
    as(admin, 'PUT', `/v1/users/${p.userId}/alert-contacts`, {
      contacts: [{ kind: 'sms', value: phone }],
      settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
    });
  const raise = async (extra: Record<string, unknown> = {}) => {
    const r = await h.request('POST', '/v1/alerts', {
      priority: 'medium',
      target: `user:${told.userId}`,
      patientId: 'ac-p1',
      summary: 'Bed 12 SpO2 low',
      details: `SpO2 84 % ${PHI_MARKER}`,
      ...extra,
    });
    expect(r.status).toBe(201);
    return r.body.alertId as string;
  };

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_QUIET_HOURS: 'off' });
    [admin, told, team, outsider, silent] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['nurse']),
    ]);
    for (const [p, phone] of [
      [told, '+14155550121'],
      [team, '+14155550122'],
      [outsider, '+14155550123'],
      [admin, '+14155550124'],
    ] as const)
      expect((await contacts(p, phone)).status).toBe(200);
    expect((await h.request('PUT', '/v1/patients/ac-p1', samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/ac-p1/care-team/${team.userId}`)).status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('a person neither told nor related cannot forward to themselves, read details, or answer (404)', async () => {
    const id = await raise();
    const before = await as(outsider, 'GET', `/v1/alerts/${id}`);
    expect(before.status).toBe(200);
    expect(before.body.details).toBeUndefined();
    expect(before.body.patientId).toBeNull();
    const fw = await as(outsider, 'POST', `/v1/alerts/${id}/forward`, { target: `user:${outsider.userId}` });
    expect([fw.status, fw.body.code]).toEqual([404, 'SP_ALERT_NOT_FOUND']);
    for (const action of ['acknowledge', 'decline', 'resolve']) {
      const r = await as(outsider, 'POST', `/v1/alerts/${id}/${action}`, {});
      expect([r.status, r.body.code], action).toEqual([404, 'SP_ALERT_NOT_FOUND']);
    }
    const after = await as(outsider, 'GET', `/v1/alerts/${id}`);
    expect(after.body.details).toBeUndefined();
    expect(after.body).toMatchObject({ state: 'notified', step: 0 });
    expect(after.text).not.toContain(PHI_MARKER);
    expect(audits('alert.forwarded', id) + audits('alert.resolved', id) + audits('alert.details_read', id)).toBe(0);
    // The care team (never told) sees the clinical content and may act; so does the person told.
    const mine = await as(team, 'GET', `/v1/alerts/${id}`);
    expect(mine.body).toMatchObject({ patientId: 'ac-p1', details: `SpO2 84 % ${PHI_MARKER}` });
    expect((await as(told, 'GET', `/v1/alerts/${id}`)).body.patientId).toBe('ac-p1');
    const ack = await as(team, 'POST', `/v1/alerts/${id}/acknowledge`, {});
    expect(ack.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: team.userId, patientId: 'ac-p1' });
    // An alert without a patient: any clinician may answer it.
    const free = (
      await h.request('POST', '/v1/alerts', {
        priority: 'low',
        target: `user:${told.userId}`,
        summary: 'Fridge 2 warm',
      })
    ).body.alertId;
    expect((await as(outsider, 'POST', `/v1/alerts/${free}/resolve`, {})).body.state).toBe('resolved');
  });

  it('a system answers only as a paging gateway for a person told; an admin-scope key naming someone is refused', async () => {
    const id = await raise();
    // The bootstrap key has admin scope (every permission): it may not act as a person, nor as itself.
    const named = await h.request('POST', `/v1/alerts/${id}/acknowledge`, { userId: told.userId });
    expect([named.status, named.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    expect((await h.request('POST', `/v1/alerts/${id}/resolve`, {})).status).toBe(403);
    expect(audits('alert.acknowledged', id) + audits('alert.resolved', id)).toBe(0);
    const key = await createApiKey(h.app.store, 'default', 'pager', ['paging'], new Date());
    const pager = { authorization: `Bearer ${key}` };
    // A care-team member who was never told: the gateway may not answer for them.
    const notTold = await h.request(
      'POST',
      `/v1/alerts/${id}/acknowledge`,
      { userId: team.userId, via: 'paging' },
      pager,
    );
    expect(notTold.body.code).toBe('SP_ALERT_NOT_RECIPIENT');
    // Nor does it see the patient or the details.
    const seen = await h.request('GET', `/v1/alerts/${id}`, undefined, pager);
    expect([seen.body.patientId, seen.body.details]).toEqual([null, undefined]);
    const ok = await h.request('POST', `/v1/alerts/${id}/acknowledge`, { userId: told.userId, via: 'paging' }, pager);
    expect(ok.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: told.userId });
  });

  it('an administrator named in a policy never sees details or patientId; only people actually told are recipients', async () => {
    const p = await as(admin, 'POST', '/v1/escalation-policies', {
      name: 'spy',
      steps: [
        { targets: ['target', `user:${admin.userId}`, `user:${silent.userId}`], channels: ['sms'], waitSeconds: 3600 },
      ],
    });
    expect(p.status).toBe(201);
    const id = await raise({ policyId: p.body.id });
    const v = await as(admin, 'GET', `/v1/alerts/${id}`);
    expect(v.status).toBe(200);
    expect(v.body.details).toBeUndefined();
    expect(v.body.patientId).toBeNull();
    expect(v.text).not.toContain(PHI_MARKER);
    // The timeline names the two people told (nurse and administrator), not the one without a contact.
    const notified = v.body.timeline.find((e: { kind: string }) => e.kind === 'notified');
    expect([...notified.data.recipients].sort()).toEqual([admin.userId, told.userId].sort());
    expect(notified.data).toMatchObject({ named: 3, reached: 2 });
    // Lists: patientId only for the patient relationship.
    const patientOf = async (who: TestPerson) =>
      (await as(who, 'GET', '/v1/alerts?limit=50')).body.items.find((a: { id: string }) => a.id === id).patientId;
    expect(await patientOf(admin)).toBeNull();
    expect(await patientOf(outsider)).toBeNull();
    expect(await patientOf(team)).toBe('ac-p1');
    expect(
      (await h.request('GET', '/v1/alerts?limit=50')).body.items.every(
        (a: { patientId: unknown }) => a.patientId === null,
      ),
    ).toBe(true);
  });

  it('the page: no session sends the browser to sign in; the referrer policy keeps the form post’s Origin', async () => {
    const two = await as(admin, 'POST', '/v1/escalation-policies', {
      name: 'two',
      steps: [
        { targets: ['target'], channels: ['sms'], waitSeconds: 3600 },
        { targets: [`user:${team.userId}`], channels: ['sms'], waitSeconds: 3600 },
      ],
    });
    const id = await raise({ policyId: two.body.id });
    const anon = await page(h, `/alerts/${id}`);
    expect(anon.status).toBe(303);
    expect(anon.headers.location).toBe(`/login?next=${encodeURIComponent(`/alerts/${id}`)}`);
    expect(anon.text).toBe('');
    // A hostile id cannot turn `next` into another site.
    const odd = await page(h, '/alerts/%2F%2Fevil.example');
    if (odd.status === 303) expect(new URL(odd.headers.location as string, h.url).origin).toBe(new URL(h.url).origin);
    // An API call without credentials still gets its JSON 401.
    expect((await httpsJson(h.url, h.cert, 'GET', `/v1/alerts/${id}`, undefined, { authorization: '' })).status).toBe(
      401,
    );
    const cookie = `__Host-sealpost_session=${told.token}`;
    const shown = await page(h, `/alerts/${id}`, cookie);
    expect(shown.text).toContain('<meta name="referrer" content="same-origin">');
    // What a browser without Sec-Fetch-Site sends for a same-origin form post: its Origin.
    const post = (headers: Record<string, string>) =>
      httpsJson(h.url, h.cert, 'POST', `/alerts/${id}/decline`, '', {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: '',
        cookie,
        ...headers,
      });
    expect((await post({ origin: 'null' })).status).toBe(403); // what `no-referrer` made browsers send
    const ok = await post({ origin: new URL(h.url).origin, referer: `${h.url}/alerts/${id}` });
    expect([ok.status, ok.headers.location]).toEqual([303, `/alerts/${id}?done=declined`]);
    // Pressing again (a double tap) is a no-op: the alert stays at the next step.
    expect((await post({ origin: new URL(h.url).origin })).status).toBe(303);
    expect(
      (await as(told, 'GET', `/v1/alerts/${id}`)).body.timeline.filter((e: { kind: string }) => e.kind === 'declined'),
    ).toHaveLength(1);
  });

  it('in Chromium, a nurse follows the link, signs in, comes back to the alert and presses Acknowledge', async () => {
    // A nurse with a password and an authenticator app, enrolled over the API.
    const p = await staffWithPassword(h, ['nurse']);
    expect((await contacts({ userId: p.userId } as TestPerson, '+14155550125')).status).toBe(200);
    const s = await anon(h, 'POST', '/v1/auth/login', { email: p.email, password: p.password, transport: 'bearer' });
    const setup = await asBearer(h, s.body.token, 'POST', '/v1/auth/mfa/totp/setup', {});
    const confirm = await asBearer(h, s.body.token, 'POST', '/v1/auth/mfa/totp/confirm', {
      code: await totpCode(setup.body.secret, Date.now()),
    });
    expect(confirm.status).toBe(200);
    const id = await raise({ target: `user:${p.userId}` });

    browser = await launchChromium(h.cert);
    const context = await browser.newContext();
    const tab = await context.newPage();
    const origins: (string | undefined)[] = [];
    tab.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/alerts/'))
        origins.push(r.headers()['origin']);
    });
    await tab.goto(`${h.url}/alerts/${id}`);
    await step(tab, 'signin');
    expect(new URL(tab.url()).searchParams.get('next')).toBe(`/alerts/${id}`);
    await tab.fill('#email', p.email);
    await tab.fill('#password', p.password);
    await tab.click('#signin-submit');
    await step(tab, 'mfa');
    // The next step's code: the confirming code is used up, and +1 step is within the window.
    await tab.fill('#totp-code', await totpCode(setup.body.secret, Date.now() + 30_000));
    await Promise.all([tab.waitForURL(`${h.url}/alerts/${id}`), tab.click('#totp-submit')]);
    expect(await tab.locator('.details').textContent()).toContain(PHI_MARKER);
    await Promise.all([tab.waitForURL(/done=acknowledged/), tab.getByRole('button', { name: 'Acknowledge' }).click()]);
    expect(await tab.locator('#state').textContent()).toBe('acknowledged');
    expect(origins).toEqual([new URL(h.url).origin]); // not `null`: the origin check can work without Sec-Fetch-Site
    const v = await h.request('GET', `/v1/alerts/${id}`);
    expect(v.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: p.userId });
    expect(v.body.timeline.at(-1).data).toMatchObject({ via: 'page' });
    await context.close();
  }, 90_000);

  it('escalation policies are listed in pages', async () => {
    for (const name of ['pg-1', 'pg-2', 'pg-3'])
      expect(
        (
          await as(admin, 'POST', '/v1/escalation-policies', {
            name,
            steps: [{ targets: ['target'], channels: ['sms'], waitSeconds: 60 }],
          })
        ).status,
      ).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await as(admin, 'GET', `/v1/escalation-policies?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      expect(r.body.builtIn.steps.length).toBeGreaterThan(0);
      seen.push(...r.body.items.map((p: { name: string }) => p.name));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen.filter((n) => n.startsWith('pg-'))).toEqual(['pg-1', 'pg-2', 'pg-3']);
    expect(new Set(seen).size).toBe(seen.length);
    expect((await as(admin, 'GET', '/v1/escalation-policies?cursor=bad cursor')).status).toBe(400);
  });
});
