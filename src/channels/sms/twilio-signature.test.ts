import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUSES } from '../../core/domain.js';
import {
  TWILIO_STATUS_MAP,
  computeTwilioSignature,
  mapTwilioStatus,
  validateTwilioSignature,
} from './twilio-signature.js';

// Twilio's published example (webhooks-security docs; the same vector is in Twilio's own
// helper-library test suites): token 12345, this URL and these POST parameters.
const TOKEN = '12345';
const URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const PARAMS: Record<string, string> = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+14158675309',
  Digits: '1234',
  From: '+14158675309',
  To: '+18005551212',
};
const DOCUMENTED = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';

describe('computeTwilioSignature', () => {
  it("reproduces Twilio's documented example signature", () => {
    expect(computeTwilioSignature(TOKEN, URL, PARAMS)).toBe(DOCUMENTED);
  });

  it('does not depend on the order parameters arrive in', () => {
    const reversed = Object.fromEntries(Object.entries(PARAMS).reverse());
    expect(computeTwilioSignature(TOKEN, URL, reversed)).toBe(DOCUMENTED);
  });

  it('signs the URL exactly as given, including host case and default port', () => {
    // Vectors from twilio-csharp's RequestValidatorTest.
    expect(computeTwilioSignature(TOKEN, 'https://MyCompany.com/myapp.php?foo=1&bar=2', PARAMS)).toBe(
      'g9IN/x4Cft2g517EjYvEvM/W7LU=',
    );
    expect(computeTwilioSignature(TOKEN, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', PARAMS)).toBe(
      'kvajT1Ptam85bY51eRf/AJRuM3w=',
    );
  });
});

describe('validateTwilioSignature', () => {
  it('accepts the documented example', () => {
    expect(validateTwilioSignature(TOKEN, URL, PARAMS, DOCUMENTED)).toBe(true);
  });

  it('accepts a signature made with the default port added or removed', () => {
    expect(validateTwilioSignature(TOKEN, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', PARAMS, DOCUMENTED)).toBe(
      true,
    );
    expect(validateTwilioSignature(TOKEN, URL, PARAMS, 'kvajT1Ptam85bY51eRf/AJRuM3w=')).toBe(true);
    expect(
      validateTwilioSignature(
        TOKEN,
        'http://mycompany.com/myapp.php?foo=1&bar=2',
        PARAMS,
        '0ZXoZLH/DfblKGATFgpif+LLRf4=',
      ),
    ).toBe(true);
  });

  it('does not treat a non-default port as interchangeable', () => {
    expect(validateTwilioSignature(TOKEN, 'https://mycompany.com:8443/myapp.php?foo=1&bar=2', PARAMS, DOCUMENTED)).toBe(
      false,
    );
  });

  it('rejects a tampered parameter, an extra parameter, another URL or another token', () => {
    expect(validateTwilioSignature(TOKEN, URL, { ...PARAMS, Digits: '9999' }, DOCUMENTED)).toBe(false);
    expect(validateTwilioSignature(TOKEN, URL, { ...PARAMS, Extra: '' }, DOCUMENTED)).toBe(false);
    expect(validateTwilioSignature(TOKEN, `${URL}&baz=3`, PARAMS, DOCUMENTED)).toBe(false);
    expect(validateTwilioSignature('54321', URL, PARAMS, DOCUMENTED)).toBe(false);
  });

  it('rejects missing, empty, truncated or padded signatures without throwing', () => {
    for (const sig of [undefined, null, '', DOCUMENTED.slice(0, -1), `${DOCUMENTED}=`, ` ${DOCUMENTED}`]) {
      expect(validateTwilioSignature(TOKEN, URL, PARAMS, sig)).toBe(false);
    }
  });

  it('compares the base64 text, so a variant that decodes to the same bytes is rejected', () => {
    // Same length as the real one; Node's base64 decoder silently drops the '!'.
    const variant = `${DOCUMENTED.slice(0, -1)}!`;
    expect(Buffer.from(variant, 'base64')).toEqual(Buffer.from(DOCUMENTED, 'base64'));
    expect(validateTwilioSignature(TOKEN, URL, PARAMS, variant)).toBe(false);
  });
});

describe('TWILIO_STATUS_MAP', () => {
  it('maps final outcomes and ignores intermediate states', () => {
    expect(mapTwilioStatus('sent')).toBe('sent');
    expect(mapTwilioStatus('delivered')).toBe('delivered');
    expect(mapTwilioStatus('read')).toBe('delivered');
    expect(mapTwilioStatus('undelivered')).toBe('failed');
    expect(mapTwilioStatus('failed')).toBe('failed');
    expect(mapTwilioStatus('queued')).toBeNull();
    expect(mapTwilioStatus('sending')).toBeNull();
    expect(mapTwilioStatus('accepted')).toBeNull();
  });

  it('ignores unknown or missing statuses, including inherited property names', () => {
    expect(mapTwilioStatus('teleported')).toBeNull();
    expect(mapTwilioStatus('constructor')).toBeNull();
    expect(mapTwilioStatus('__proto__')).toBeNull();
    expect(mapTwilioStatus(undefined)).toBeNull();
  });

  it('only produces real Sealpost delivery statuses', () => {
    for (const v of Object.values(TWILIO_STATUS_MAP)) {
      if (v !== null) expect(DELIVERY_STATUSES).toContain(v);
    }
  });
});
