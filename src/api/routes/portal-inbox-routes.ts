import { readFileSync } from 'node:fs';
import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import type { BrandingService } from '../../core/branding-service.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import { INBOX_CSP, inboxLanguage, inboxPage } from '../portal-inbox-page.js';
import { scriptOf, sdkBundle, sendScript } from '../sdk-bundle.js';

/** The inbox page's script, read once: plain browser JavaScript that imports the SDK bundle. */
const INBOX_SCRIPT = scriptOf(readFileSync(new URL('../portal-inbox.js', import.meta.url), 'utf8'));
/** What the portal pages' scripts share (sign-in forms, API calls, status lines), read once. */
const COMMON_SCRIPT = scriptOf(readFileSync(new URL('../portal-common.js', import.meta.url), 'utf8'));

/**
 * The patient portal's secure-message inbox (`/portal/inbox`) and its static assets
 * (`/portal/assets/…`): the SDK bundled for browsers, the page script and the module the portal
 * pages share (also imported by /portal/notifications' script). All public: the page
 * is a shell without data, the scripts are code; everything a patient sees arrives through the
 * API, after sign-in, and is decrypted in the browser.
 */
export const portalInboxRoutes: RoutePlugin<{ branding: BrandingService }> = async (app, { branding }) => {
  // Before sign-in the patient's tenant is unknown: the shell shows the default tenant's organisation.
  const brand = async () => ({ tenantId: DEFAULT_TENANT, branding: await branding.get(DEFAULT_TENANT) });
  const pub = { config: { permission: 'public' as const } };

  app.get(
    '/inbox',
    {
      ...pub,
      schema: {
        hide: true,
        // Lenient on purpose: a link opened from a mail client may carry tracking parameters, and an
        // unknown language falls back to the browser's; neither should greet a patient with an error.
        querystring: Type.Object({ lang: Type.Optional(Type.String({ maxLength: 8 })) }),
      },
    },
    async (req, reply) =>
      // Replaces the strict API policy the onRequest hook set: this page runs its own same-origin module.
      reply
        .header('content-security-policy', INBOX_CSP)
        .type('text/html; charset=utf-8')
        .send(inboxPage(await brand(), inboxLanguage(req.query.lang, req.headers['accept-language']))),
  );

  app.get('/assets/sealpost-sdk.js', { ...pub, schema: { hide: true } }, async (req, reply) =>
    sendScript(req, reply, await sdkBundle()),
  );

  app.get('/assets/inbox.js', { ...pub, schema: { hide: true } }, async (req, reply) =>
    sendScript(req, reply, INBOX_SCRIPT),
  );

  app.get('/assets/portal-common.js', { ...pub, schema: { hide: true } }, async (req, reply) =>
    sendScript(req, reply, COMMON_SCRIPT),
  );
};
