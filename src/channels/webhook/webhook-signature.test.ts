import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from './webhook-signature.js';

const SECRET = 'whsec_unit';
const BODY = '{"deliveryId":"dlv_1","text":"hello"}';
const NOW = 1_760_000_000;

function headers(timestamp: number | string, signature: string) {
  return { timestamp: String(timestamp), signature };
}

describe('signWebhook', () => {
  it('is v1= followed by hex HMAC-SHA256 of "timestamp.body"', () => {
    // Independent recomputation with node:crypto pins the documented wire format.
    const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, NOW, BODY)).toBe(`v1=${expected}`);
  });

  it('signs the raw bytes, so a Buffer and its string give the same signature', () => {
    expect(signWebhook(SECRET, NOW, Buffer.from(BODY))).toBe(signWebhook(SECRET, NOW, BODY));
  });

  it('refuses a timestamp that is not unix seconds', () => {
    expect(() => signWebhook(SECRET, '1.5e9', BODY)).toThrow(TypeError);
    expect(() => signWebhook(SECRET, -1, BODY)).toThrow(TypeError);
  });
});

describe('verifyWebhookSignature', () => {
  const sig = signWebhook(SECRET, NOW, BODY);

  it('accepts a fresh, correct signature', () => {
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY, { now: NOW })).toBe(true);
  });

  it('accepts a timestamp up to the tolerance in either direction and rejects one beyond it', () => {
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY, { now: NOW + 300 })).toBe(true);
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY, { now: NOW - 300 })).toBe(true);
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY, { now: NOW + 301 })).toBe(false);
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY, { now: NOW - 301 })).toBe(false);
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY, { now: NOW + 3_600, toleranceSeconds: 7_200 })).toBe(
      true,
    );
  });

  it('uses the system clock by default, so an old signature is stale', () => {
    const fresh = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(SECRET, headers(fresh, signWebhook(SECRET, fresh, BODY)), BODY)).toBe(true);
    expect(verifyWebhookSignature(SECRET, headers(NOW - 86_400, signWebhook(SECRET, NOW - 86_400, BODY)), BODY)).toBe(
      false,
    );
  });

  it('rejects a changed body, a changed timestamp or a different secret', () => {
    expect(verifyWebhookSignature(SECRET, headers(NOW, sig), BODY.replace('hello', 'hellO'), { now: NOW })).toBe(false);
    expect(verifyWebhookSignature(SECRET, headers(NOW + 1, sig), BODY, { now: NOW })).toBe(false);
    expect(verifyWebhookSignature('other', headers(NOW, sig), BODY, { now: NOW })).toBe(false);
  });

  it('rejects malformed headers instead of throwing', () => {
    const hex = sig.slice(3);
    for (const bad of ['', hex, `v0=${hex}`, `v1=${hex.slice(2)}`, `v1=${hex}00`, `v1=${'zz'.repeat(32)}`]) {
      expect(verifyWebhookSignature(SECRET, headers(NOW, bad), BODY, { now: NOW })).toBe(false);
    }
    for (const ts of ['', 'abc', '1.7e9', `-${NOW}`, ` ${NOW}`]) {
      expect(verifyWebhookSignature(SECRET, { timestamp: ts, signature: sig }, BODY, { now: NOW })).toBe(false);
    }
    expect(verifyWebhookSignature(SECRET, { timestamp: undefined, signature: sig }, BODY, { now: NOW })).toBe(false);
    expect(verifyWebhookSignature(SECRET, { timestamp: String(NOW), signature: null }, BODY, { now: NOW })).toBe(false);
  });

  it('accepts any one of several v1 signatures so receivers survive a secret rotation', () => {
    const old = signWebhook('old-secret', NOW, BODY);
    expect(verifyWebhookSignature(SECRET, headers(NOW, `${old}, ${sig}`), BODY, { now: NOW })).toBe(true);
    expect(verifyWebhookSignature(SECRET, headers(NOW, `${old}`), BODY, { now: NOW })).toBe(false);
  });

  it('accepts upper-case hex, since hex case carries no meaning', () => {
    expect(verifyWebhookSignature(SECRET, headers(NOW, `v1=${sig.slice(3).toUpperCase()}`), BODY, { now: NOW })).toBe(
      true,
    );
  });
});
