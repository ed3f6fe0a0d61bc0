import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { decryptAttachment, encryptAttachment } from '../src/attachments.js';

/**
 * The attachment cipher in Debian's Chromium: the same module, bundled for the browser, served from
 * 127.0.0.1 (a secure context, so WebCrypto is there). Files encrypted in Node open in the browser
 * and the other way round.
 */
describe('attachment encryption in a browser', () => {
  let server: Server;
  let browser: Browser;
  let base = '';

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [new URL('../src/attachments.ts', import.meta.url).pathname],
      bundle: true,
      format: 'iife',
      globalName: 'SealpostAttachments',
      write: false,
      platform: 'browser',
    });
    const script = bundle.outputFiles[0]!.text;
    server = createServer((req, res) => {
      if (req.url === '/attachments.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        return res.end(script);
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><script src="/attachments.js"></script>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  it('opens in Chromium what Node encrypted, and Node opens what Chromium encrypted', async () => {
    const page = await browser.newPage();
    await page.goto(base);
    const plain = new Uint8Array(200_003).map((_, i) => (i * 7) & 0xff);
    const fromNode = await encryptAttachment(plain);
    const opened = await page.evaluate(
      async ({ c, k, d }) => {
        const A = (globalThis as any).SealpostAttachments;
        const out: Uint8Array = await A.decryptAttachment(new Uint8Array(c), {
          key: new Uint8Array(k),
          digest: new Uint8Array(d),
        });
        const enc = await A.encryptAttachment(out);
        let refused = '';
        const bad = new Uint8Array(c);
        bad[bad.length - 1] ^= 1;
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bad));
        await A.decryptAttachment(bad, { key: new Uint8Array(k), digest }).catch((e: any) => (refused = e.reason));
        return { length: out.length, c: [...enc.ciphertext], k: [...enc.key], d: [...enc.digest], refused };
      },
      { c: [...fromNode.ciphertext], k: [...fromNode.key], d: [...fromNode.digest] },
    );
    expect(opened.length).toBe(plain.length);
    expect(opened.refused).toBe('decryption-failed');
    const back = await decryptAttachment(new Uint8Array(opened.c), {
      key: new Uint8Array(opened.k),
      digest: new Uint8Array(opened.d),
      size: plain.length,
    });
    expect(back).toEqual(plain);
    await page.close();
  }, 60_000);
});
