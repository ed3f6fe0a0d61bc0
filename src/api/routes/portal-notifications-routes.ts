import { readFileSync } from 'node:fs';
import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import type { BrandingService } from '../../core/branding-service.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import { inboxLanguage } from '../portal-inbox-page.js';
import { NOTIFICATIONS_CSP, notificationsPage } from '../portal-notifications-page.js';
import { scriptOf, sendScript } from '../sdk-bundle.js';

/** The page's script, read once: plain browser JavaScript importing /portal/assets/portal-common.js. */
const SCRIPT = scriptOf(readFileSync(new URL('../portal-notifications.js', import.meta.url), 'utf8'));

/**
 * The signed-in patient's portal home (`/portal/notifications`) and its script. Both public: the
 * page is a shell without data; what the patient sees arrives through the API after sign-in.
 */
export const portalNotificationsRoutes: RoutePlugin<{ branding: BrandingService }> = async (app, { branding }) => {
  // Before sign-in the patient's tenant is unknown: the shell shows the default tenant's organisation.
  const brand = async () => ({ tenantId: DEFAULT_TENANT, branding: await branding.get(DEFAULT_TENANT) });
  const pub = { config: { permission: 'public' as const } };

  app.get(
    '/notifications',
    {
      ...pub,
      schema: {
        hide: true,
        // Lenient, as /portal/inbox: an unknown language falls back to the browser's.
        querystring: Type.Object({ lang: Type.Optional(Type.String({ maxLength: 8 })) }),
      },
    },
    async (req, reply) =>
      reply
        .header('content-security-policy', NOTIFICATIONS_CSP)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(notificationsPage(await brand(), inboxLanguage(req.query.lang, req.headers['accept-language']))),
  );

  app.get('/assets/notifications.js', { ...pub, schema: { hide: true } }, async (req, reply) =>
    sendScript(req, reply, SCRIPT),
  );
};
