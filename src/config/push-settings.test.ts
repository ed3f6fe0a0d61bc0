import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { isAppError } from '../core/errors.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const p8 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const keyFile = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'clinic-app',
    private_key_id: 'abc',
    private_key: rsa,
    client_email: 'push@clinic-app.iam.gserviceaccount.com',
    token_uri: 'https://oauth2.googleapis.com/token',
    ...over,
  });

/** The problems loadConfig reports (it throws one error naming all of them). */
function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (e) {
    if (isAppError(e)) return e.detail ?? '';
    throw e;
  }
  return '';
}

describe('SEALPOST_PUSH_* / VAPID / FCM / APNs', () => {
  it('defaults: pushes to the dev outbox, no FCM or APNs, a mailto: VAPID subject while the public URL is loopback', () => {
    const c = loadConfig({});
    expect(c.channels.push).toBe('dev-outbox');
    expect(c.push).toEqual({ vapidSubject: 'mailto:postmaster@localhost', fcm: null, apns: null });
    expect(loadConfig({ SEALPOST_PUBLIC_URL: 'https://portal.clinic.example' }).push.vapidSubject).toBe(
      'https://portal.clinic.example',
    );
  });

  it('reads an FCM service-account key file (from a _FILE too), with the token URL of the file unless set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'push-'));
    writeFileSync(join(dir, 'sa.json'), keyFile());
    const c = loadConfig({ SEALPOST_PUSH_PROVIDER: 'live', SEALPOST_FCM_SERVICE_ACCOUNT_FILE: join(dir, 'sa.json') });
    expect(c.push.fcm).toEqual({
      serviceAccount: {
        projectId: 'clinic-app',
        clientEmail: 'push@clinic-app.iam.gserviceaccount.com',
        privateKey: rsa,
        privateKeyId: 'abc',
      },
      baseUrl: 'https://fcm.googleapis.com',
      tokenUrl: 'https://oauth2.googleapis.com/token',
    });
    const local = loadConfig({
      SEALPOST_FCM_SERVICE_ACCOUNT: keyFile(),
      SEALPOST_FCM_BASE_URL: 'http://127.0.0.1:9099/',
      SEALPOST_FCM_TOKEN_URL: 'http://127.0.0.1:9099/token',
    });
    expect(local.push.fcm).toMatchObject({ baseUrl: 'http://127.0.0.1:9099', tokenUrl: 'http://127.0.0.1:9099/token' });
  });

  it('reads APNs with its key, ids, topic and a refresh period within Apple’s 20-60 minutes', () => {
    const c = loadConfig({
      SEALPOST_APNS_KEY: p8,
      SEALPOST_APNS_KEY_ID: 'ABC123DEFG',
      SEALPOST_APNS_TEAM_ID: 'TEAM123456',
      SEALPOST_APNS_TOPIC: 'org.example.app',
      SEALPOST_APNS_TOKEN_REFRESH_MINUTES: '25',
    });
    expect(c.push.apns).toEqual({
      key: p8,
      keyId: 'ABC123DEFG',
      teamId: 'TEAM123456',
      topic: 'org.example.app',
      baseUrl: 'https://api.push.apple.com',
      tokenRefreshMinutes: 25,
    });
  });

  it('reports every bad push setting together, without echoing a secret', () => {
    const detail = problems({
      SEALPOST_PUSH_PROVIDER: 'firebase',
      SEALPOST_VAPID_SUBJECT: 'http://clinic.example',
      SEALPOST_FCM_SERVICE_ACCOUNT: keyFile({ private_key: 'Qzsecretnotakey' }),
      SEALPOST_FCM_BASE_URL: 'http://fcm.example.com',
      SEALPOST_APNS_KEY_ID: 'ABC123DEFG',
      SEALPOST_APNS_BASE_URL: 'http://api.push.apple.com',
      SEALPOST_APNS_TOKEN_REFRESH_MINUTES: '5',
      SEALPOST_MAX_ATTEMPTS_PUSH: '0',
    });
    for (const name of [
      'SEALPOST_PUSH_PROVIDER',
      'SEALPOST_VAPID_SUBJECT',
      'SEALPOST_FCM_SERVICE_ACCOUNT',
      'SEALPOST_FCM_BASE_URL',
      'SEALPOST_APNS_KEY:',
      'SEALPOST_APNS_TEAM_ID',
      'SEALPOST_APNS_TOPIC',
      'SEALPOST_APNS_BASE_URL',
      'SEALPOST_APNS_TOKEN_REFRESH_MINUTES',
      'SEALPOST_MAX_ATTEMPTS_PUSH',
    ])
      expect(detail, name).toContain(name);
    expect(detail).not.toContain('Qzsecretnotakey');
    expect(problems({ SEALPOST_FCM_SERVICE_ACCOUNT: '{not json' })).toContain('SEALPOST_FCM_SERVICE_ACCOUNT');
  });
});
