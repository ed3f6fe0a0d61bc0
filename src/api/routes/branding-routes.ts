import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import { bearer } from '../authenticate.js';
import { AppError } from '../../core/errors.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import type { Branding, BrandingService } from '../../core/branding-service.js';
import { accentInk, checkAccent, contrastColor, LOGO_TYPES, MAX_LOGO_BYTES } from '../../core/branding.js';
import { SESSION_COOKIE, type SessionService } from '../../auth/session-service.js';
import { TENANT_ID_PATTERN } from '../../auth/tenants.js';
import { SEALPOST_CSS, SEALPOST_CSS_ETAG, SEALPOST_CSS_VERSION } from '../design/page-brand.js';

const BrandingOut = Type.Object({
  organisationName: Type.String({ description: "The organisation's display name (default: the tenant's name)" }),
  accentColor: Type.String({ description: 'The accent colour, #rrggbb' }),
  accentContrast: Type.String({ description: 'The text colour on the accent (white or near-black, at least 4.5:1)' }),
  hasLogo: Type.Boolean(),
});

const BrandingIn = Type.Object(
  {
    organisationName: Type.Optional(
      Type.Union([Type.String({ maxLength: 400 }), Type.Null()], {
        description: 'At most 100 characters, no control characters; null returns to the tenant name',
      }),
    ),
    accentColor: Type.Optional(
      Type.Union([Type.String({ maxLength: 32 }), Type.Null()], {
        description:
          '#rrggbb; refused (SP_BRANDING_CONTRAST_LOW) when neither white nor near-black text reaches 4.5:1 on it; null returns to the default',
      }),
    ),
  },
  { additionalProperties: false },
);

const Version = Type.Optional(
  Type.String({ maxLength: 64, description: 'cache-busting version; cached for good only when it is the current one' }),
);
const SessionQuery = Type.Object({ v: Version }, { additionalProperties: false });
const SheetQuery = Type.Object(
  {
    accent: Type.Optional(
      Type.String({
        pattern: '^[0-9a-fA-F]{6}$',
        description: 'an accent (rrggbb): the sheet of that colour, whoever asks',
      }),
    ),
    v: Version,
  },
  { additionalProperties: false },
);
const LogoQuery = Type.Object(
  {
    tenant: Type.Optional(Type.String({ maxLength: 64 })),
    h: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{32}$', description: "the logo's hash (SHA-256, 32 hex digits)" }),
    ),
    v: Version,
  },
  { additionalProperties: false },
);

export interface BrandingRouteOptions {
  branding: BrandingService;
  sessions?: SessionService;
}

const out = (b: Branding) => ({
  organisationName: b.organisationName,
  accentColor: b.accentColor,
  accentContrast: b.accentContrast,
  hasLogo: b.hasLogo,
});

/**
 * Per-tenant branding: the public read (`GET /v1/branding`), the administrators' changes
 * (`settings.manage`), and what pages load: `/brand.css` (the accent as CSS custom properties),
 * `/brand/logo` and the shared sheet `/assets/sealpost.css`. The public reads answer for the caller's
 * session's tenant, else the default tenant; no anonymous answer tells whether a named tenant exists
 * (docs/branding.md, "What anonymous callers learn").
 */
export const brandingRoutes: RoutePlugin<BrandingRouteOptions> = async (app, { branding, sessions }) => {
  const pub = { config: { permission: 'public' as const } };

  /** The caller's tenant (its session's), else the default tenant: never one the caller merely names. */
  async function tenantOf(req: FastifyRequest): Promise<string> {
    const token = bearer(req) ?? req.cookies?.[SESSION_COOKIE];
    if (sessions && token) {
      const s = await sessions.verify(token).catch(() => null);
      if (s) return s.tenant_id;
    }
    return DEFAULT_TENANT;
  }

  // Images are bytes of their own: read by a bounded reader, refused past 256 KB (from Content-Length when declared).
  app.addContentTypeParser([...LOGO_TYPES], (req, payload, done) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_LOGO_BYTES) return done(new AppError('SP_BRANDING_LOGO_TOO_LARGE'));
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    payload.on('data', (chunk: Buffer) => {
      if (over) return;
      n += chunk.length;
      if (n > MAX_LOGO_BYTES) {
        over = true;
        parts.length = 0;
        done(new AppError('SP_BRANDING_LOGO_TOO_LARGE'));
        return;
      }
      parts.push(chunk);
    });
    payload.on('end', () => {
      if (!over) done(null, Buffer.concat(parts, n));
    });
    payload.on('error', (e) => {
      if (!over) done(e);
    });
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode === 413) reply.header('connection', 'close');
    return payload;
  });

  app.get(
    '/v1/branding',
    {
      ...pub,
      schema: {
        tags: ['settings'],
        summary: "The caller's organisation branding (the default tenant's before sign-in)",
        querystring: SessionQuery,
        response: { 200: BrandingOut, ...problems(400) },
      },
    },
    async (req) => out(await branding.get(await tenantOf(req))),
  );

  app.put(
    '/v1/branding',
    {
      config: { permission: 'settings.manage' },
      schema: {
        tags: ['settings'],
        summary: "Change the organisation's display name or accent colour (audited)",
        body: BrandingIn,
        response: { 200: BrandingOut, ...problems(400, 401, 403) },
      },
    },
    async (req) => out(await branding.update(requestContext(req), req.body)),
  );

  app.put(
    '/v1/branding/logo',
    {
      config: { permission: 'settings.manage', binary: LOGO_TYPES },
      schema: {
        tags: ['settings'],
        summary: "Replace the organisation's logo (PNG, JPEG or WebP, at most 256 KB; audited)",
        description:
          'The body is the image itself (Content-Type image/png, image/jpeg or image/webp); its bytes must be of that type. SVG is never accepted.',
        body: Type.Unsafe<Buffer>({
          content: Object.fromEntries(
            LOGO_TYPES.map((t) => [t, { schema: { description: 'The image', format: 'binary' } }]),
          ),
        }),
        response: { 200: BrandingOut, ...problems(400, 401, 403, 413, 415) },
      },
    },
    async (req) => {
      const body: unknown = req.body;
      if (!(body instanceof Buffer) || body.length === 0)
        throw new AppError('SP_BRANDING_LOGO_INVALID', 'the body is empty or not an image');
      const declared = String(req.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      return out(await branding.putLogo(requestContext(req), declared, body));
    },
  );

  app.delete(
    '/v1/branding/logo',
    {
      config: { permission: 'settings.manage' },
      schema: {
        tags: ['settings'],
        summary: "Remove the organisation's logo (audited)",
        response: { 200: BrandingOut, ...problems(401, 403) },
      },
    },
    async (req) => out(await branding.deleteLogo(requestContext(req))),
  );

  /**
   * Cache headers, set before the 304 decision so a 304 carries the same ones as the 200.
   * - `public`: the answer is a function of the URL alone (a colour, a logo by its hash, the shared
   *   sheet); `immutable` when the URL names the content (`fixed`), else revalidated with the ETag.
   * - `private`: the answer depends on the caller's session (cookie or bearer), so shared caches keep
   *   none and the browser's is keyed by the cookie; `immutable` only when `?v=` is the current version.
   */
  const cached = (
    req: FastifyRequest,
    reply: FastifyReply,
    etag: string,
    scope: 'public' | 'private',
    fixed: boolean,
  ) => {
    const life = fixed ? 'max-age=31536000, immutable' : 'no-cache';
    reply.header('etag', etag).header('cache-control', `${scope}, ${life}`).header('x-content-type-options', 'nosniff');
    if (scope === 'private') reply.header('vary', 'cookie, authorization');
    return req.headers['if-none-match'] === etag;
  };
  const sheet = (accent: string, contrast: string, ink: string) =>
    // Values were checked as #rrggbb: nothing else can reach this sheet.
    `:root{--sp-accent:${accent};--sp-accent-contrast:${contrast};--sp-accent-ink:${ink}}\n`;

  // Pages rendered for a tenant's link ask for their accent by value (`?accent=rrggbb`): the answer
  // depends on the colour alone, so it tells nobody which tenants exist. Without it: the session's.
  app.get('/brand.css', { ...pub, schema: { hide: true, querystring: SheetQuery } }, async (req, reply) => {
    reply.type('text/css; charset=utf-8');
    if (req.query.accent !== undefined) {
      const accent = checkAccent(`#${req.query.accent}`);
      if (cached(req, reply, `"${accent.slice(1)}"`, 'public', true)) return reply.code(304).send();
      return reply.send(sheet(accent, contrastColor(accent)!, accentInk(accent)));
    }
    const b = await branding.get(await tenantOf(req));
    if (cached(req, reply, `"${b.version}"`, 'private', req.query.v === b.version)) return reply.code(304).send();
    return reply.send(sheet(b.accentColor, b.accentContrast, b.accentInk));
  });

  // A tenant's logo is addressed by its tenant and hash together (`?tenant=&h=`, which only a page
  // rendered for that tenant knows): a wrong pair, an unknown tenant and a tenant without a logo
  // answer the same 404. Without them: the session's tenant's logo.
  app.get('/brand/logo', { ...pub, schema: { hide: true, querystring: LogoQuery } }, async (req, reply) => {
    const { tenant, h } = req.query;
    if ((tenant === undefined) !== (h === undefined))
      throw new AppError('SP_REQ_VALIDATION', 'tenant and h: both or neither');
    const named = tenant !== undefined && h !== undefined;
    const logo = named
      ? await (TENANT_ID_PATTERN.test(tenant) ? branding.logo(tenant) : Promise.reject(null))
          .then((l) => (l.sha256.startsWith(h) ? l : Promise.reject(null)))
          .catch(() => {
            throw new AppError('SP_BRANDING_LOGO_NOT_FOUND');
          })
      : await branding.logo(await tenantOf(req));
    const hash = logo.sha256.slice(0, 32);
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'; sandbox");
    if (cached(req, reply, `"${hash}"`, named ? 'public' : 'private', named || req.query.v === hash))
      return reply.code(304).send();
    return reply.type(logo.type).send(Buffer.from(logo.data));
  });

  app.get(
    '/assets/sealpost.css',
    {
      ...pub,
      schema: {
        hide: true,
        querystring: Type.Object({ v: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      if (cached(req, reply, SEALPOST_CSS_ETAG, 'public', req.query.v === SEALPOST_CSS_VERSION))
        return reply.code(304).send();
      return reply.type('text/css; charset=utf-8').send(SEALPOST_CSS);
    },
  );
};
