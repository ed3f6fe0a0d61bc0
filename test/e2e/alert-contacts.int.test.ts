import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';

const body = (contacts: { kind: string; value: string }[], settings: Record<string, unknown> = {}) => ({
  contacts,
  settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null, ...settings },
});

describe('staff alert contacts over the API', () => {
  let h: Harness;
  let admin: TestPerson;
  let nurse: TestPerson;
  let other: TestPerson;
  const as = (p: TestPerson, m: string, path: string, b?: unknown) => h.request(m, path, b, p.headers);

  beforeAll(async () => {
    h = await startSealpost();
    admin = await staffWithSession(h, ['admin']);
    nurse = await staffWithSession(h, ['nurse']);
    other = await staffWithSession(h, ['nurse']);
  });
  afterAll(async () => h.close());

  it('lets an administrator set a user’s contacts and settings, normalised and audited without the values', async () => {
    const r = await as(
      admin,
      'PUT',
      `/v1/users/${nurse.userId}/alert-contacts`,
      body(
        [
          { kind: 'sms', value: ' +1 415 555 0101 ' },
          { kind: 'email', value: 'Nurse@Clinic.TEST' },
          { kind: 'paging', value: 'PGR4471' },
          { kind: 'webhook', value: 'https://hooks.example.org/alerts' },
        ],
        { language: 'es', timeZone: 'Europe/Madrid', quietHours: '22:00-07:00' },
      ),
    );
    expect(r.status).toBe(200);
    expect(r.body.contacts).toEqual([
      { kind: 'sms', value: '+14155550101' },
      { kind: 'email', value: 'Nurse@clinic.test' },
      { kind: 'paging', value: 'PGR4471' },
      { kind: 'webhook', value: 'https://hooks.example.org/alerts' },
    ]);
    expect(r.body.settings).toMatchObject({ language: 'es', timeZone: 'Europe/Madrid', quietHours: '22:00-07:00' });
    expect((await as(nurse, 'GET', '/v1/me/alert-contacts')).body).toEqual(r.body);
    // The API key (admin scope) holds alert.manage too.
    expect((await h.request('GET', `/v1/users/${nurse.userId}/alert-contacts`)).body).toEqual(r.body);
    const entries = query<{ entry: string }>(
      h.dataDir,
      "select entry from audit_entries where action = 'user.alert_contacts_updated'",
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]!.entry).not.toContain('4155550101');
    expect(entries[0]!.entry).not.toContain('clinic.test');
  });

  it('lets a signed-in user set their own, and nobody else’s', async () => {
    const mine = body([{ kind: 'sms', value: '+14155550102' }], { doNotDisturbUntil: '2030-01-01T00:00:00Z' });
    const r = await as(other, 'PUT', '/v1/me/alert-contacts', mine);
    expect(r.status).toBe(200);
    expect(r.body.settings.doNotDisturbUntil).toBe('2030-01-01T00:00:00.000Z');
    const denied = await as(other, 'PUT', `/v1/users/${nurse.userId}/alert-contacts`, mine);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('SP_AUTH_FORBIDDEN');
    // An API key is not a person: it has no "me".
    expect((await h.request('GET', '/v1/me/alert-contacts')).status).toBe(403);
    expect((await as(admin, 'GET', '/v1/users/u-nobody/alert-contacts')).body.code).toBe('SP_USER_NOT_FOUND');
  });

  it('refuses bad contacts and settings with a clear code, naming the position, changing nothing', async () => {
    const before = (await as(nurse, 'GET', '/v1/me/alert-contacts')).body;
    const cases: [unknown, string, string | undefined][] = [
      [body([{ kind: 'sms', value: '555-0101' }]), 'SP_ALERT_CONTACT_INVALID', 'contacts[0]'],
      [body([{ kind: 'email', value: 'a@b' }]), 'SP_ALERT_CONTACT_INVALID', 'contacts[0]'],
      [body([{ kind: 'paging', value: 'PG 1' }]), 'SP_ALERT_CONTACT_INVALID', 'contacts[0]'],
      [body([{ kind: 'webhook', value: 'https://169.254.169.254/latest' }]), 'SP_ALERT_CONTACT_INVALID', 'contacts[0]'],
      [body([{ kind: 'webhook', value: 'http://hooks.example.org/' }]), 'SP_ALERT_CONTACT_INVALID', 'contacts[0]'],
      [
        body([
          { kind: 'sms', value: '+14155550101' },
          { kind: 'sms', value: '+1 415 555 0101' },
        ]),
        'SP_ALERT_CONTACT_INVALID',
        'contacts[1] duplicate',
      ],
      [body([], { timeZone: 'Nowhere/City' }), 'SP_ALERT_SETTINGS_INVALID', 'settings.timeZone'],
      [body([], { quietHours: '25:00-07:00' }), 'SP_ALERT_SETTINGS_INVALID', 'settings.quietHours'],
      [body([{ kind: 'fax', value: '1' }]), 'SP_REQ_VALIDATION', undefined],
      [{ settings: body([]).settings }, 'SP_REQ_VALIDATION', undefined],
    ];
    for (const [b, code, detail] of cases) {
      const r = await as(nurse, 'PUT', '/v1/me/alert-contacts', b);
      expect(r.status, code).toBe(400);
      expect(r.body.code).toBe(code);
      if (detail) expect(r.body.detail).toBe(detail);
      expect(r.text).not.toMatch(/555.?0101/);
    }
    expect((await as(nurse, 'GET', '/v1/me/alert-contacts')).body).toEqual(before);
  });

  it('a PUT without settings replaces the contact methods and keeps the settings', async () => {
    const set = await as(
      nurse,
      'PUT',
      '/v1/me/alert-contacts',
      body([{ kind: 'sms', value: '+14155550101' }], { language: 'es', quietHours: '22:00-07:00' }),
    );
    expect(set.status).toBe(200);
    const r = await as(nurse, 'PUT', '/v1/me/alert-contacts', {
      contacts: [{ kind: 'email', value: 'rn@clinic.example' }],
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      contacts: [{ kind: 'email', value: 'rn@clinic.example' }],
      settings: set.body.settings,
    });
    expect(set.body.settings).toMatchObject({ language: 'es', quietHours: '22:00-07:00' });
  });
});
