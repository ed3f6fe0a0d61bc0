import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';

const PUSH_TOKEN = `ExponentPushToken[${'Pq9devicetoken'.repeat(4)}]`;

describe('device registrations of people', () => {
  let h: Harness;
  let patientToken: string;
  let accountId: string;
  const as = (token: string, method: string, path: string, body?: unknown) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: `Bearer ${token}` });
  /** Everything SQLite holds on disk for this server: the database and its write-ahead log. */
  const dbBytes = () =>
    readdirSync(h.dataDir)
      .filter((f) => f.startsWith('sealpost.db'))
      .map((f) => readFileSync(join(h.dataDir, f)).toString('latin1'))
      .join('');
  const liveDevices = (subjectId: string) =>
    query(h.dataDir, 'select * from devices where subject_id = ? and revoked_at is null', subjectId);

  beforeAll(async () => {
    h = await startSealpost();
    await h.request(
      'PUT',
      '/v1/patients/d1',
      samplePatient({ telecom: [{ system: 'email', value: 'device.owner@example.com' }] }),
    );
    accountId = (
      await h.request('POST', '/v1/patients/d1/account', {
        contact: { system: 'email', value: 'device.owner@example.com' },
      })
    ).body.id;
    const contact = { system: 'email', value: 'device.owner@example.com' };
    await httpsJson(h.url, h.cert, 'POST', '/v1/patient-auth/start', { contact }, { authorization: '' });
    const msg = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox')).body.items.find((i: any) =>
          i.deliveryId.startsWith(`potp-${accountId}-`),
        ),
      'code',
    );
    const code = /code is (\d{6})/.exec(msg.body)![1];
    patientToken = (
      await httpsJson(
        h.url,
        h.cert,
        'POST',
        '/v1/patient-auth/verify',
        { contact, code, transport: 'bearer' },
        { authorization: '' },
      )
    ).body.token;
  }, 120_000);
  afterAll(() => h?.close());

  it("registers a patient's device with its push token encrypted at rest and never returned", async () => {
    const r = await as(patientToken, 'POST', '/v1/me/devices', {
      platform: 'ios',
      name: "Ana's iPhone",
      pushToken: PUSH_TOKEN,
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ platform: 'ios', name: "Ana's iPhone", hasPushToken: true });
    expect(r.text).not.toContain(PUSH_TOKEN);
    const list = await as(patientToken, 'GET', '/v1/me/devices');
    expect(list.body.items.map((d: any) => d.id)).toEqual([r.body.id]);
    expect(list.text).not.toContain(PUSH_TOKEN);
    const row = query(h.dataDir, 'select * from devices where id = ?', r.body.id)[0];
    expect(row).toMatchObject({ subject_type: 'patient', subject_id: accountId });
    expect(Buffer.isBuffer(row.push_token_ct)).toBe(true);
    expect(row.name).not.toContain('Ana');
    expect(dbBytes()).not.toContain(PUSH_TOKEN);
    expect(dbBytes()).not.toContain('Pq9devicetoken');
    expect(readFileSync(h.logFile, 'utf8')).not.toContain('Pq9devicetoken');
  });

  it('lets a staff user register devices under a data key of their own; systems have no devices', async () => {
    const nurse = await staffWithSession(h, ['nurse']);
    const r = await as(nurse.token, 'POST', '/v1/me/devices', {
      platform: 'android',
      name: 'Ward tablet',
      pushToken: `${PUSH_TOKEN}-staff`,
    });
    expect(r.status).toBe(201);
    expect(
      query(h.dataDir, 'select patient_id from data_keys where patient_id = ?', `user:${nurse.userId}`),
    ).toHaveLength(1);
    expect((await as(nurse.token, 'GET', '/v1/me/devices')).body.items).toHaveLength(1);
    const key = await h.request('POST', '/v1/me/devices', { platform: 'web', name: 'integration' });
    expect(key.status).toBe(403);
    expect((await h.request('GET', '/v1/me/devices')).status).toBe(403);
  });

  it("removes only the caller's own device: another person's answers 404 and stays", async () => {
    const mine = (await as(patientToken, 'POST', '/v1/me/devices', { platform: 'web', name: 'Browser' })).body.id;
    const other = await staffWithSession(h, ['physician']);
    const r = await as(other.token, 'DELETE', `/v1/me/devices/${mine}`);
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('SP_DEVICE_NOT_FOUND');
    expect(liveDevices(accountId).map((d) => d.id)).toContain(mine);
    expect((await as(patientToken, 'DELETE', `/v1/me/devices/${mine}`)).status).toBe(204);
    expect((await as(patientToken, 'DELETE', `/v1/me/devices/${mine}`)).status).toBe(404);
    expect(liveDevices(accountId).map((d) => d.id)).not.toContain(mine);
    expect(
      query(h.dataDir, "select 1 from audit_entries where action = 'device.revoked' and entry like ?", `%${mine}%`),
    ).toHaveLength(1);
  });

  it('refuses bad registrations and stores nothing', async () => {
    const before = query(h.dataDir, 'select count(*) as n from devices')[0].n;
    for (const body of [
      { platform: 'symbian', name: 'Old phone' },
      { platform: 'ios', name: 'x'.repeat(65) },
      { platform: 'ios', name: '' },
      { platform: 'ios', name: 'line\nbreak' },
      { platform: 'ios', name: 'Phone', pushToken: 'x'.repeat(4097) },
      { platform: 'ios', name: 'Phone', extra: true },
    ]) {
      const r = await as(patientToken, 'POST', '/v1/me/devices', body);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('SP_REQ_VALIDATION');
    }
    expect(
      (
        await httpsJson(
          h.url,
          h.cert,
          'POST',
          '/v1/me/devices',
          { platform: 'ios', name: 'Phone' },
          { authorization: '' },
        )
      ).status,
    ).toBe(401);
    expect(query(h.dataDir, 'select count(*) as n from devices')[0].n).toBe(before);
  });

  it('remote wipe of a user revokes their sessions, devices and push tokens', async () => {
    const doctor = await staffWithSession(h, ['physician']);
    for (const name of ['Phone', 'Tablet'])
      expect(
        (
          await as(doctor.token, 'POST', '/v1/me/devices', {
            platform: 'ios',
            name,
            pushToken: `${PUSH_TOKEN}-${name}`,
          })
        ).status,
      ).toBe(201);
    const wipe = await h.request('POST', `/v1/users/${doctor.userId}/revoke-sessions`);
    expect(wipe.status).toBe(200);
    expect(wipe.body.devices).toBe(2);
    expect((await as(doctor.token, 'GET', '/v1/me/devices')).status).toBe(401);
    expect(liveDevices(doctor.userId)).toHaveLength(0);
    expect(
      query(
        h.dataDir,
        'select push_token_ct from devices where subject_id = ? and push_token_ct is not null',
        doctor.userId,
      ),
    ).toHaveLength(0);
  });

  it('disabling a patient account revokes its devices with its sessions', async () => {
    expect(liveDevices(accountId).length).toBeGreaterThan(0);
    expect((await h.request('DELETE', '/v1/patients/d1/account')).status).toBe(204);
    expect(liveDevices(accountId)).toHaveLength(0);
    expect(
      query(h.dataDir, 'select 1 from devices where subject_id = ? and push_token_ct is not null', accountId),
    ).toHaveLength(0);
    expect((await as(patientToken, 'GET', '/v1/me/devices')).status).toBe(401);
  });
});
