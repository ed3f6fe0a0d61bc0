import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lazyVapidKeys, loadVapidKeys, VAPID_SETTING, type VapidKeyStore } from './vapid-keys.js';

/** The settings table's `init`: the first value stored wins; every caller reads it back. */
function settings(): VapidKeyStore & { rows: Map<string, string> } {
  const rows = new Map<string, string>();
  return {
    rows,
    async init(name, value) {
      if (!rows.has(name)) rows.set(name, value);
      return rows.get(name)!;
    },
  };
}

describe('VAPID keys of the installation', () => {
  const key = randomBytes(32);

  it('are generated once: concurrent first starts and later starts (other nodes) read the same pair', async () => {
    const s = settings();
    const [a, b] = await Promise.all([loadVapidKeys(s, key), loadVapidKeys(s, key)]);
    expect(b).toEqual(a);
    expect(await loadVapidKeys(s, key)).toEqual(a);
    expect(Buffer.from(a.publicKey, 'base64url')).toHaveLength(65);
    expect(Buffer.from(a.privateKey, 'base64url')).toHaveLength(32);
  });

  it('are kept sealed: the stored setting holds neither key, and another key provider cannot open it', async () => {
    const s = settings();
    const k = await loadVapidKeys(s, key);
    const stored = s.rows.get(VAPID_SETTING)!;
    expect(stored).not.toContain(k.privateKey);
    expect(stored).not.toContain(k.publicKey);
    expect(Buffer.from(stored, 'base64').toString('latin1')).not.toContain(k.privateKey);
    await expect(loadVapidKeys(s, randomBytes(32))).rejects.toMatchObject({ code: 'SP_CRYPTO_DECRYPT_FAILED' });
  });

  it('are loaded at first use and kept; a failed load is tried again', async () => {
    let calls = 0;
    const get = lazyVapidKeys(async () => {
      calls++;
      if (calls === 1) throw new Error('database unavailable');
      return { publicKey: 'p', privateKey: 'q' };
    });
    await expect(get()).rejects.toThrow('database unavailable');
    expect(await get()).toEqual({ publicKey: 'p', privateKey: 'q' });
    expect(await get()).toEqual({ publicKey: 'p', privateKey: 'q' });
    expect(calls).toBe(2);
  });
});
