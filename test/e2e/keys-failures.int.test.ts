import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/sealpost-cli.js';
import { createSoftHsm, SOFTHSM_LIBRARY } from '../helpers/softhsm-token.js';

const dataDir = () => mkdtempSync(join(tmpdir(), 'sealpost-keyfail-'));

describe('key provider failures at start (real processes): a clear code, exit 1, nothing opened', () => {
  it('refuses a wrong or missing keyring passphrase, in the CLI and in serve', async () => {
    const dir = dataDir();
    // The server's first start creates the sealed keyring (the CLI never creates an installation).
    const made = await cli(
      { SEALPOST_DATA_DIR: dir, SEALPOST_KEYRING_PASSPHRASE: 'first passphrase', SEALPOST_PORT: '0' },
      ['serve'],
      undefined,
      (log, kill) => log.includes('sealpost is serving') && kill(),
    );
    expect(made.stdout).toContain('sealpost is serving');
    const wrong = await cli({ SEALPOST_DATA_DIR: dir, SEALPOST_KEYRING_PASSPHRASE: 'second passphrase' }, [
      'keys',
      'list',
    ]);
    expect([wrong.code, wrong.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_PASSPHRASE_INVALID')]);
    const none = await cli({ SEALPOST_DATA_DIR: dir }, ['keys', 'list']);
    expect([none.code, none.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_PASSPHRASE_REQUIRED')]);
    const serve = await cli({ SEALPOST_DATA_DIR: dir, SEALPOST_KEYRING_PASSPHRASE: 'wrong', SEALPOST_PORT: '0' }, [
      'serve',
    ]);
    expect([serve.code, serve.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_PASSPHRASE_INVALID')]);
    // The passphrase never appears in what the process printed.
    expect(wrong.stderr + serve.stderr).not.toContain('passphrase"');
  }, 120_000);

  it('refuses an unreadable key file', async () => {
    const dir = dataDir();
    mkdirSync(join(dir, 'keyring.json'), { mode: 0o700 });
    const r = await cli({ SEALPOST_DATA_DIR: dir, SEALPOST_PORT: '0' }, ['serve']);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_KEYRING_INVALID')]);
  }, 60_000);

  it('refuses a missing PIN or slot, a wrong PIN and an unknown token, and creates no keys', async () => {
    const hsm = createSoftHsm();
    const pin = hsm.initToken('sealpost-fail');
    const base = {
      SEALPOST_DATA_DIR: dataDir(),
      SOFTHSM2_CONF: hsm.conf,
      SEALPOST_KEY_PROVIDER: 'pkcs11',
      SEALPOST_PKCS11_LIBRARY: SOFTHSM_LIBRARY,
    };
    // A database to point at (the CLI needs an installation); `migrate` creates it without touching keys.
    expect((await cli({ SEALPOST_DATA_DIR: base.SEALPOST_DATA_DIR }, ['migrate'])).code).toBe(0);
    const noPin = await cli({ ...base, SEALPOST_PKCS11_TOKEN_LABEL: 'sealpost-fail' }, ['keys', 'list']);
    expect([noPin.code, noPin.stderr]).toEqual([1, expect.stringMatching(/SP_CONFIG_INVALID.*SEALPOST_PKCS11_PIN/)]);
    const noSlot = await cli({ ...base, SEALPOST_PKCS11_PIN: pin }, ['keys', 'list']);
    expect([noSlot.code, noSlot.stderr]).toEqual([1, expect.stringMatching(/SP_CONFIG_INVALID.*SEALPOST_PKCS11_SLOT/)]);
    const wrongPin = await cli(
      { ...base, SEALPOST_PKCS11_TOKEN_LABEL: 'sealpost-fail', SEALPOST_PKCS11_PIN: '000000' },
      ['keys', 'list'],
    );
    expect([wrongPin.code, wrongPin.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_HSM_LOGIN_FAILED')]);
    const unknown = await cli({ ...base, SEALPOST_PKCS11_TOKEN_LABEL: 'not-there', SEALPOST_PKCS11_PIN: pin }, [
      'keys',
      'list',
    ]);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('SP_CRYPTO_HSM_UNAVAILABLE')]);
    // Nothing was created on the token by the failed starts: the right PIN now finds an empty token and creates the set.
    const ok = await cli({ ...base, SEALPOST_PKCS11_TOKEN_LABEL: 'sealpost-fail', SEALPOST_PKCS11_PIN: pin }, [
      'keys',
      'list',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('sealpost:kek:default:v1');
    expect(readdirSync(base.SEALPOST_DATA_DIR)).not.toContain('keyring.json');
  }, 120_000);
});
