import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import type { PortalService } from '../../core/portal-service.js';
import { isAppError } from '../../core/errors.js';
import {
  invalidLinkPage,
  messagePage,
  missingAnswerText,
  PORTAL_PAGE_CSP,
  portalLanguage,
  verifyPage,
  wrongAnswerText,
} from '../portal-pages.js';
import { goneLinkPage } from '../portal-gone-page.js';
import type { BrandingService } from '../../core/branding-service.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import type { PageBrand } from '../design/page-brand.js';

const Token = Type.Object({ token: Type.String({ maxLength: 200 }) });
const COOKIE = 'sp_portal';
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': PORTAL_PAGE_CSP,
  'x-frame-options': 'DENY',
};

export interface PortalRouteOptions {
  portal: PortalService;
  sessionMinutes: number;
  branding: BrandingService;
}

/**
 * The patient's side of a nudge: `/m/<token>`. The token is a bearer secret in the path, so these
 * routes are excluded from access logs by the logging hook (it logs route patterns only).
 */
export const portalRoutes: RoutePlugin<PortalRouteOptions> = async (app, { portal, sessionMinutes, branding }) => {
  // The link's tenant shows its organisation; a link that names none (unknown, erased) shows the default's.
  const brandOf = async (tenantId = DEFAULT_TENANT): Promise<PageBrand> => ({
    tenantId,
    branding: await branding.get(tenantId),
  });
  const langOf = (req: FastifyRequest) => (req.query as { lang?: unknown } | undefined)?.lang;
  const withLang = (req: FastifyRequest) => {
    const l = langOf(req);
    return l === 'en' || l === 'es' ? `lang=${l}` : '';
  };
  const meta = (req: FastifyRequest) => ({ requestId: req.id, sourceIp: req.ip });
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(body);
  // Drops a stale session cookie on the way back, so the form page does not bounce straight back here.
  const backToForm = (reply: FastifyReply, token: string) =>
    reply
      .clearCookie(COOKIE, { path: `/m/${token}` })
      .code(303)
      .header('location', `/m/${token}`)
      .send();
  const cfg = { config: { permission: 'public' as const }, schema: { hide: true, params: Token } };
  // The POSTs are plain HTML forms: they take application/x-www-form-urlencoded besides JSON.
  const formCfg = { ...cfg, config: { ...cfg.config, form: true } };

  app.get(
    '/:token',
    {
      ...cfg,
      schema: {
        ...cfg.schema,
        querystring: Type.Object({
          code: Type.Optional(Type.String({ maxLength: 10 })),
          lang: Type.Optional(Type.String({ maxLength: 8 })),
        }),
      },
    },
    async (req, reply) => {
      // A reader who already verified (the link is then used up) goes back to the message while the session lasts.
      if (req.cookies[COOKIE]) return reply.code(303).header('location', `/m/${req.params.token}/message`).send();
      try {
        const info = await portal.open(req.params.token);
        const brand = await brandOf(info.tenantId);
        return html(
          reply,
          200,
          verifyPage({
            brand,
            lang: portalLanguage(req.query.lang, info.language),
            organisation: brand.branding.organisationName,
            token: req.params.token,
            codeSent: req.query.code === 'sent',
            langChosen: withLang(req) !== '',
          }),
        );
      } catch (e) {
        if (isAppError(e) && e.code === 'SP_PORTAL_LINK_GONE') return html(reply, 410, goneLinkPage(await brandOf()));
        if (isAppError(e) && e.code === 'SP_PORTAL_LINK_INVALID')
          return html(reply, 404, invalidLinkPage(await brandOf()));
        throw e;
      }
    },
  );

  app.post(
    '/:token/verify',
    {
      ...formCfg,
      schema: {
        ...cfg.schema,
        body: Type.Object({
          birthDate: Type.Optional(Type.String({ maxLength: 20 })),
          code: Type.Optional(Type.String({ maxLength: 10 })),
        }),
      },
    },
    async (req, reply) => {
      const { token } = req.params;
      try {
        const session = await portal.verify(token, req.body, meta(req));
        reply.setCookie(COOKIE, session, {
          path: `/m/${token}`,
          httpOnly: true,
          secure: true,
          sameSite: 'strict',
          maxAge: sessionMinutes * 60,
        });
        return reply.code(303).header('location', `/m/${token}/message`).send();
      } catch (e) {
        const code = isAppError(e) ? e.code : null;
        if (code === 'SP_PORTAL_VERIFICATION_FAILED' || code === 'SP_REQ_VALIDATION') {
          try {
            const info = await portal.open(token);
            const lang = portalLanguage(langOf(req), info.language);
            const error =
              code === 'SP_REQ_VALIDATION' ? missingAnswerText(lang) : wrongAnswerText(lang, info.attemptsLeft);
            const brand = await brandOf(info.tenantId);
            return html(
              reply,
              code === 'SP_REQ_VALIDATION' ? 400 : 401,
              verifyPage({
                brand,
                lang,
                organisation: brand.branding.organisationName,
                token,
                error,
                langChosen: withLang(req) !== '',
              }),
            );
          } catch {
            return html(reply, 404, invalidLinkPage(await brandOf())); // burned meanwhile by a concurrent wrong answer
          }
        }
        if (code === 'SP_PORTAL_LINK_GONE') return html(reply, 410, goneLinkPage(await brandOf()));
        if (code === 'SP_PORTAL_LINK_INVALID') return html(reply, 404, invalidLinkPage(await brandOf()));
        throw e;
      }
    },
  );

  app.post('/:token/code', formCfg, async (req, reply) => {
    try {
      await portal.requestCode(req.params.token, meta(req));
    } catch (e) {
      if (isAppError(e) && e.code === 'SP_PORTAL_LINK_GONE') return html(reply, 410, goneLinkPage(await brandOf()));
      if (isAppError(e) && e.code === 'SP_PORTAL_LINK_INVALID')
        return html(reply, 404, invalidLinkPage(await brandOf()));
      // A channel failure is not shown: the page says a code is on its way "if a contact point is on file".
      req.log.warn({ code: isAppError(e) ? e.code : 'SP_CHANNEL_SEND_FAILED' }, 'one-time code not sent');
    }
    const l = withLang(req);
    return reply
      .code(303)
      .header('location', `/m/${req.params.token}?code=sent${l ? `&${l}` : ''}`)
      .send();
  });

  app.get('/:token/message', cfg, async (req, reply) => {
    try {
      const m = await portal.view(req.params.token, req.cookies[COOKIE], meta(req));
      return html(
        reply,
        200,
        messagePage({
          brand: await brandOf(m.tenantId),
          lang: m.language,
          token: req.params.token,
          title: m.title,
          body: m.body,
          acknowledged: m.acknowledged,
          digest: m.digest,
        }),
      );
    } catch (e) {
      if (isAppError(e) && e.code === 'SP_PORTAL_SESSION_REQUIRED') return backToForm(reply, req.params.token);
      if (isAppError(e) && e.code === 'SP_PORTAL_LINK_GONE') return html(reply, 410, goneLinkPage(await brandOf()));
      if (isAppError(e) && e.code === 'SP_PORTAL_LINK_INVALID')
        return html(reply, 404, invalidLinkPage(await brandOf()));
      throw e;
    }
  });

  app.post('/:token/acknowledge', formCfg, async (req, reply) => {
    try {
      await portal.acknowledge(req.params.token, req.cookies[COOKIE], meta(req));
      return reply.code(303).header('location', `/m/${req.params.token}/message`).send();
    } catch (e) {
      if (isAppError(e) && e.code === 'SP_PORTAL_SESSION_REQUIRED') return backToForm(reply, req.params.token);
      if (isAppError(e) && e.code === 'SP_PORTAL_LINK_GONE') return html(reply, 410, goneLinkPage(await brandOf()));
      if (isAppError(e) && e.code === 'SP_PORTAL_LINK_INVALID')
        return html(reply, 404, invalidLinkPage(await brandOf()));
      throw e;
    }
  });
};
