import { createHash, X509Certificate } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's Chromium, headless, with nothing of its own on the network (no QUIC, no component or
 * sync traffic), trusting exactly one server certificate by its public key: the test server's
 * self-signed one, and no other.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Base64 SHA-256 of a certificate's SubjectPublicKeyInfo (what `--ignore-certificate-errors-spki-list` takes). */
const spkiPin = (pem: string) =>
  createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');

export function launchChromium(trustedCertPem: string): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiPin(trustedCertPem)}`],
  });
}

/** Waits until a sign-in page (`/login`, `/enrol`, `/reset`) reaches step `name`; fails at once with the page's error if it shows one. */
export async function pageStep(page: Page, name: string): Promise<void> {
  await page.waitForFunction(
    (n) => document.body.dataset.step === n || (document.getElementById('error')?.textContent ?? '') !== '',
    name,
  );
  const error = await page.locator('#error').textContent();
  if (error)
    throw new Error(
      `page shows an error instead of step ${name}: ${error} (${await page.locator('#error').getAttribute('data-code')})`,
    );
}
