import { createECDH, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkSubscription,
  checkToken,
  describeTarget,
  parseTarget,
  PushTargetInvalid,
  serialiseTarget,
} from './push-target.js';

const ecdh = createECDH('prime256v1');
ecdh.generateKeys();
const keys = { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
const sub = { endpoint: 'https://push.example.net/wp/abc', keys };

const invalid = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof PushTargetInvalid) return e.detail;
    throw e;
  }
  throw new Error('accepted');
};

describe('push registrations as stored', () => {
  it('keeps only the endpoint and the two keys of a subscription, and round-trips', () => {
    const checked = checkSubscription({ ...sub, expirationTime: null, extra: 'dropped' });
    expect(checked).toEqual(sub);
    const value = serialiseTarget({ kind: 'webpush', subscription: checked });
    expect(parseTarget(value)).toEqual({ kind: 'webpush', subscription: sub });
    expect(parseTarget(serialiseTarget({ kind: 'apns', token: 'AB'.repeat(32) }))).toEqual({
      kind: 'apns',
      token: 'ab'.repeat(32),
    });
  });

  it('refuses what is not a subscription or a token, naming the field and never the value', () => {
    expect(invalid(() => checkSubscription(null))).toBe('subscription: not an object');
    expect(invalid(() => checkSubscription({ ...sub, endpoint: 'not a url' }))).toBe('endpoint: not a URL');
    expect(invalid(() => checkSubscription({ ...sub, endpoint: 'wss://push.example.net/x' }))).toBe(
      'endpoint: https required',
    );
    expect(invalid(() => checkSubscription({ ...sub, endpoint: 'https://u:p@push.example.net/x' }))).toBe(
      'endpoint: must not carry credentials',
    );
    expect(
      invalid(() => checkSubscription({ ...sub, keys: { ...keys, p256dh: randomBytes(65).toString('base64url') } })),
    ).toBe('keys.p256dh: not an uncompressed P-256 point');
    expect(invalid(() => checkSubscription({ ...sub, keys: { ...keys, auth: 'not base64url!' } }))).toBe(
      'keys.auth: not base64url',
    );
    expect(invalid(() => checkToken('fcm', 'short'))).toBe('token: not an FCM registration token');
    expect(invalid(() => checkToken('apns', 'ab'.repeat(31)))).toBe('token: not an APNs device token');
    expect(invalid(() => parseTarget('{"kind":"sms","token":"x"}'))).toBe('unknown kind');
  });

  it('names a device for the dev outbox by service and digest, without endpoint path, keys or token', () => {
    const web = describeTarget(serialiseTarget({ kind: 'webpush', subscription: sub }));
    expect(web).toMatch(/^webpush:push\.example\.net:[0-9a-f]{12}$/);
    expect(web).not.toContain('/wp/abc');
    const fcm = describeTarget(serialiseTarget({ kind: 'fcm', token: 'secret-token-0123456789' }));
    expect(fcm).toMatch(/^fcm:[0-9a-f]{12}$/);
    expect(describeTarget('garbage')).toMatch(/^invalid:[0-9a-f]{12}$/);
  });
});
