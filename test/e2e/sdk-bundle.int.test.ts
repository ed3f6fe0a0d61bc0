import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';

/**
 * The SDK bundle the portal serves (`/portal/assets/sealpost-sdk.js`, built by src/api/sdk-bundle.ts):
 * its caching headers over HTTPS, and that it loads as an ES module in Debian's Chromium under the
 * inbox page's strict policy and works there (WebCrypto attachments, the IndexedDB key store).
 */
describe('the SDK bundle served to browsers', () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const SDK = '/portal/assets/sealpost-sdk.js';
  /**
   * Runs `body` in the page with the bundle imported as `sdk`. Passed as source text: the test
   * runner rewrites `import()` inside functions it compiles, which would not exist in the page.
   */
  const inPage = <T>(body: string): Promise<T> =>
    page.evaluate(`(async () => { const sdk = await import('${SDK}'); ${body} })()`) as Promise<T>;

  beforeAll(async () => {
    h = await startSealpost();
    browser = await launchChromium(h.cert);
    page = await (await browser.newContext()).newPage();
    // The inbox page: its policy (script-src 'self') is the one the bundle runs under.
    expect((await page.goto(`${h.url}/portal/inbox`))?.status()).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('serves one JavaScript module with a strong validator, and 304 to a browser that already has those bytes', async () => {
    const first = await h.request('GET', SDK, undefined, { authorization: '' });
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/); // strong (no W/), the bytes' SHA-256
    expect(first.headers['cache-control']).toBe('no-cache');
    expect(first.headers['x-content-type-options']).toBe('nosniff');
    expect(first.text).toMatch(/\bexport\s*\{/);
    expect(first.text).not.toMatch(/from\s*["']node:/);
    const again = await h.request('GET', SDK, undefined, { authorization: '' });
    expect(again.headers.etag).toBe(etag);
    expect(again.text).toBe(first.text);
    const cached = await h.request('GET', SDK, undefined, { authorization: '', 'if-none-match': etag });
    expect(cached.status).toBe(304);
    expect(cached.text).toBe('');
    const stale = await h.request('GET', SDK, undefined, { authorization: '', 'if-none-match': '"other"' });
    expect(stale.status).toBe(200);
  });

  it('loads in Chromium under the inbox policy and exposes the SDK', async () => {
    const names = await inPage<string[]>('return Object.keys(sdk).sort();');
    for (const name of [
      'MessagingClient',
      'createRestClient',
      'IndexedDbKeyStore',
      'MemoryKeyStore',
      'encryptAttachment',
      'decryptAttachment',
      'verifyDevice',
      'DEFAULT_CIPHER_SUITE',
      'POST_QUANTUM_CIPHER_SUITE',
    ])
      expect(names).toContain(name);
  });

  it('encrypts and decrypts an attachment with the browser WebCrypto, and refuses a tampered one', async () => {
    const result = await inPage(`
      const data = new Uint8Array(200000).map((_, i) => i % 251);
      const enc = await sdk.encryptAttachment(data);
      const back = await sdk.decryptAttachment(enc.ciphertext, enc);
      const tampered = enc.ciphertext.slice();
      tampered[10] ^= 1;
      const refused = await sdk.decryptAttachment(tampered, enc).then(() => 'accepted', (e) => e.name);
      return { same: back.length === data.length && back.every((b, i) => b === data[i]), refused };`);
    expect(result).toEqual({ same: true, refused: 'AttachmentError' });
  });

  it('keeps a value in the IndexedDB key store when the database is opened again', async () => {
    const result = await inPage(`
      const name = 'bundle-test-' + Math.random();
      const store = await sdk.IndexedDbKeyStore.open({ name });
      await store.put('device', new Uint8Array([1, 2, 3]));
      const reopened = await sdk.IndexedDbKeyStore.open({ name });
      return Array.from((await reopened.get('device')) ?? []);`);
    expect(result).toEqual([1, 2, 3]);
  });
});
