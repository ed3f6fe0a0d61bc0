import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { eventually, freePort, httpsJson, samplePatient } from '../helpers/sealpost-harness.js';
import { rowCounts } from '../helpers/db-snapshot.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const smsLink = (body: string) => /View it at (https:\/\/\S+\/m\/[A-Za-z0-9_-]+)\./.exec(body)?.[1];

describe('quick start: `sealpost serve` on a fresh data directory, used the way the issue describes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-quickstart-'));
  let child: ChildProcess;
  let output = '';
  let url = '';
  let ca = '';
  let apiKey = '';
  let browser: Browser | undefined;
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(url, ca, method, path, body, { authorization: `Bearer ${apiKey}`, ...headers });
  const outbox = async () =>
    (await api('GET', '/v1/dev/outbox')).body.items as {
      deliveryId: string;
      channel: string;
      recipient: string;
      subject: string | null;
      body: string;
    }[];
  const inADay = () => new Date(Date.now() + 86_400_000).toISOString();
  const result = {
    type: 'test_result_ready',
    patientId: 'p1',
    data: { testName: 'Lipid panel', orderingClinician: 'Dr. Rivera' },
    channels: ['sms', 'email'],
  };
  let link = '';
  let first: {
    id: string;
    status: string;
    deliveries: { id: string; channel: string; status: string; runAt: string }[];
  };

  beforeAll(async () => {
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
    child = spawn(process.execPath, ['bin/sealpost.js', 'serve'], {
      cwd: ROOT,
      env: {
        ...env,
        SEALPOST_DATA_DIR: dataDir,
        SEALPOST_PORT: String(port),
        SEALPOST_PUBLIC_URL: url,
        SEALPOST_QUIET_HOURS: 'off',
        SEALPOST_POLL_MS: '50',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    await eventually(
      async () => {
        if (child.exitCode != null) throw new Error(`sealpost serve exited with ${child.exitCode}:\n${output}`);
        if (!existsSync(join(dataDir, 'tls-cert.pem'))) return false;
        ca = readFileSync(join(dataDir, 'tls-cert.pem'), 'utf8');
        // /healthz answers as soon as the process listens; /readyz once the database is set up; the
        // start-up line may come a moment after /readyz first answers ready.
        if ((await httpsJson(url, ca, 'GET', '/readyz').catch(() => null))?.body?.ready !== true) return false;
        return output.includes('sealpost is serving');
      },
      'GET /readyz over HTTPS',
      30_000,
    );
    apiKey = readFileSync(join(dataDir, 'bootstrap-api-key'), 'utf8').trim();
  });

  afterAll(async () => {
    await browser?.close();
    if (child.exitCode == null && child.signalCode == null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates a 0600 bootstrap API key, a 0600 keyring and a TLS certificate, and never prints the key', () => {
    expect(statSync(join(dataDir, 'bootstrap-api-key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'keyring.json')).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(ca).checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(apiKey).toMatch(/^sp_/);
    expect(output).toContain('sealpost is serving');
    expect(output).not.toContain(apiKey);
  });

  it('1. registers a patient with an SMS number and an e-mail address', async () => {
    const res = await api('PUT', '/v1/patients/p1', samplePatient());
    expect(res.status).toBe(201);
    expect(res.body.telecom.map((t: { system: string }) => t.system)).toEqual(['sms', 'email']);
  });

  it('2. accepts a notification with 202, replays the first answer for the same key and body, and rejects a different body', async () => {
    const res = await api('POST', '/v1/notifications', result, { 'idempotency-key': 'quickstart-1' });
    expect(res.status).toBe(202);
    first = res.body;
    expect(first).toEqual({
      id: expect.any(String),
      status: expect.any(String),
      deliveries: [expect.anything(), expect.anything()],
    });
    for (const d of first.deliveries) expect(Object.keys(d).sort()).toEqual(['channel', 'id', 'runAt', 'status']);
    expect(first.deliveries.map((d) => d.channel)).toEqual(['sms', 'email']);

    const before = rowCounts(dataDir);
    const replay = await api('POST', '/v1/notifications', result, { 'idempotency-key': 'quickstart-1' });
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first);
    const reused = await api(
      'POST',
      '/v1/notifications',
      { ...result, data: { testName: 'HbA1c' } },
      { 'idempotency-key': 'quickstart-1' },
    );
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('SP_IDEMPOTENCY_KEY_REUSED');
    expect(reused.text).not.toContain('HbA1c');
    const after = rowCounts(dataDir);
    expect([after.notifications, after.deliveries, after.idempotency_keys]).toEqual([
      before.notifications,
      before.deliveries,
      before.idempotency_keys,
    ]);

    // The worker sends one nudge per delivery of the one notification, and nothing else.
    const sent = await eventually(async () => {
      const items = await outbox();
      return items.length >= 2 ? items : null;
    }, 'both nudges in the outbox');
    expect(sent.map((m) => m.deliveryId).sort()).toEqual(first.deliveries.map((d) => d.id).sort());
  });

  it("3. the README's step 2 keeps the notification id from the answer, for step 3", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const keep = /\| (node -p '[^']+')\); echo \$ID/.exec(readme)?.[1];
    expect(keep).toBeDefined();
    const r = spawnSync('sh', ['-c', keep!], { input: JSON.stringify(first), encoding: 'utf8' });
    expect([r.status, r.stdout.trim()]).toEqual([0, first.id]);
    expect(readme).toContain('curl -sk $API/v1/notifications/$ID -H "authorization: Bearer $KEY"');
  });

  it('3. reports each delivery with timestamps, and cancels a notification scheduled for tomorrow', async () => {
    const view = await eventually(async () => {
      const v = (await api('GET', `/v1/notifications/${first.id}`)).body;
      return v.deliveries.every((d: { status: string }) => d.status === 'delivered') ? v : null;
    }, 'deliveries delivered');
    expect(view.status).toBe('delivered');
    for (const d of view.deliveries) {
      for (const t of [d.runAt, d.createdAt, d.updatedAt, d.sentAt, d.deliveredAt])
        expect(Number.isNaN(Date.parse(t))).toBe(false);
      expect(d.attempts).toBe(1);
    }

    const later = await api(
      'POST',
      '/v1/notifications',
      {
        type: 'follow_up',
        patientId: 'p1',
        data: { reason: 'Blood pressure check', dueDate: '2030-01-01' },
        sendAt: inADay(),
      },
      { 'idempotency-key': 'quickstart-2' },
    );
    expect(later.status).toBe(202);
    expect(later.body.deliveries.map((d: { status: string }) => d.status)).toEqual(['scheduled']);
    const cancelled = await api('POST', `/v1/notifications/${later.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.deliveries).toEqual([
      expect.objectContaining({ status: 'cancelled', cancelledAt: expect.any(String), sentAt: null }),
    ]);
  });

  it('4. schedules 7d/1d/2h reminders for an appointment, rewrites them when it moves, and cancels them when it is deleted', async () => {
    const startIn = (days: number) => DateTime.now().plus({ days }).set({ second: 0, millisecond: 0 });
    const expected = (start: DateTime, offsets: { days?: number; hours?: number }[]) =>
      offsets
        .map((o) => start.setZone('America/New_York').minus(o).toUTC().toISO({ suppressMilliseconds: false }))
        .sort();
    const s1 = startIn(10);
    const booked = await api('PUT', '/v1/appointments/appt-1', {
      patientId: 'p1',
      start: s1.toUTC().toISO(),
      location: 'Clinic 2',
    });
    expect(booked.status).toBe(201);
    expect(booked.body.reminders.map((r: { runAt: string }) => r.runAt)).toEqual(
      expected(s1, [{ days: 7 }, { days: 1 }, { hours: 2 }]),
    );
    expect(booked.body.reminders.map((r: { status: string }) => r.status)).toEqual([
      'scheduled',
      'scheduled',
      'scheduled',
    ]);

    const s2 = startIn(3);
    const moved = await api('PUT', '/v1/appointments/appt-1', {
      patientId: 'p1',
      start: s2.toUTC().toISO(),
      location: 'Clinic 2',
    });
    expect(moved.status).toBe(200);
    const oldIds = booked.body.reminders.map((r: { notificationId: string }) => r.notificationId);
    const reminders = moved.body.reminders as { notificationId: string; runAt: string; status: string }[];
    expect(reminders.filter((r) => oldIds.includes(r.notificationId)).map((r) => r.status)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    const fresh = reminders.filter((r) => !oldIds.includes(r.notificationId));
    expect(fresh.map((r) => r.runAt)).toEqual(expected(s2, [{ days: 1 }, { hours: 2 }]));
    expect(fresh.map((r) => r.status)).toEqual(['scheduled', 'scheduled']);

    const deleted = await api('DELETE', '/v1/appointments/appt-1');
    expect(deleted.status).toBe(200);
    expect(deleted.body.status).toBe('cancelled');
    expect(deleted.body.reminders.map((r: { status: string }) => r.status)).toEqual(Array(5).fill('cancelled'));
  });

  it('5. lists the PHI-free nudges in the dev outbox with recipient, channel, subject and body', async () => {
    const items = await outbox();
    const sms = items.find((m) => m.channel === 'sms')!;
    const email = items.find((m) => m.channel === 'email')!;
    expect(sms).toMatchObject({ recipient: '+14155552671', subject: null });
    expect(smsLink(sms.body)).toMatch(new RegExp(`^${url.replace(/\./g, '\\.')}/m/[A-Za-z0-9_-]{43}$`));
    expect(email).toMatchObject({ recipient: 'ana@example.com', subject: 'New secure message from Sealpost Clinic' });
    for (const m of items) expect(m.body).not.toMatch(/Lipid|Rivera|Ana|Lopez|1980/);
  });

  it('6. lets the patient read and acknowledge the message in a browser only after the right date of birth', async () => {
    browser = await launchChromium(ca);
    const page = await (await browser.newContext()).newPage();
    link = smsLink((await outbox()).find((m) => m.deliveryId === first.deliveries[0].id)!.body)!;

    expect((await page.goto(link))!.status()).toBe(200);
    await page.locator('#birthDate').waitFor();
    expect(await page.content()).not.toContain('Lipid');

    await page.fill('#birthDate', '1980-04-03');
    const [wrong] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/verify')), page.click('#open')]);
    expect(wrong.status()).toBe(401);
    expect(await page.locator('#error').textContent()).toContain('4 attempts left');
    expect(await page.content()).not.toMatch(/Lipid|Rivera/);

    await page.fill('#birthDate', '1980-04-02');
    await page.click('#open');
    expect(await page.locator('#title').textContent()).toBe('Your results are ready: Lipid panel');
    expect(await page.locator('#message').textContent()).toContain('Ordered by: Dr. Rivera');
    await page.click('#acknowledge');
    expect(await page.locator('#acknowledged').textContent()).toContain('acknowledged');

    const view = (await api('GET', `/v1/notifications/${first.id}`)).body;
    expect(view.status).toBe('acknowledged');
    expect(view.acknowledgedAt).toEqual(expect.any(String));
    const sms = view.deliveries.find((d: { channel: string }) => d.channel === 'sms');
    expect(sms).toMatchObject({ status: 'read', readAt: expect.any(String) });
  });

  it('shuts down cleanly on SIGTERM, having printed no API key, link token or PHI', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('shutting down');
    expect(link).toMatch(/\/m\//);
    expect(output).toContain('"route":"/m/:token/verify"');
    for (const secret of [
      apiKey,
      link.split('/m/')[1],
      'Lipid',
      'Rivera',
      '+14155552671',
      'ana@example.com',
      '1980-04-02',
      'Lopez',
    ]) {
      expect(output).not.toContain(secret);
    }
  });
});
