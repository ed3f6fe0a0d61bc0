import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import { bearer } from '../authenticate.js';
import { AppError } from '../../core/errors.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import type { Branding, BrandingService } from '../../core/branding-service.js';
import { LOGO_TYPES, MAX_LOGO_BYTES } from '../../core/branding.js';
import { SESSION_COOKIE, type SessionService } from '../../auth/session-service.js';
import { TENANT_ID_PATTERN } from '../../auth/tenants.js';
import { SEALPOST_CSS, SEALPOST_CSS_ETAG } from '../design/page-brand.js';

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

const TenantQuery = Type.Object(
  {
    tenant: Type.Optional(Type.String({ maxLength: 64 })),
    v: Type.Optional(Type.String({ maxLength: 64, description: 'cache-busting version; ignored' })),
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
 * `/brand/logo` and the shared sheet `/assets/sealpost.css`. The public reads name the tenant with
 * `?tenant=` (pages rendered for a tenant's link), else the caller's session, else the default tenant.
 */
export const brandingRoutes: RoutePlugin<BrandingRouteOptions> = async (app, { branding, sessions }) => {
  const pub = { config: { permission: 'public' as const } };

  async function tenantOf(req: FastifyRequest, named?: string): Promise<string> {
    if (named !== undefined) {
      if (!TENANT_ID_PATTERN.test(named)) throw new AppError('SP_REQ_VALIDATION', 'tenant: not a tenant id');
      return named;
    }
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
        querystring: TenantQuery,
        response: { 200: BrandingOut, ...problems(400) },
      },
    },
    async (req) => out(await branding.get(await tenantOf(req, req.query.tenant))),
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

  const cached = (req: FastifyRequest, reply: FastifyReply, etag: string, versioned: boolean) => {
    reply
      .header('etag', etag)
      // A versioned URL (the pages link with ?v=) never changes; the plain one is revalidated.
      .header('cache-control', versioned ? 'public, max-age=31536000, immutable' : 'public, no-cache')
      .header('x-content-type-options', 'nosniff');
    return req.headers['if-none-match'] === etag;
  };

  app.get('/brand.css', { ...pub, schema: { hide: true, querystring: TenantQuery } }, async (req, reply) => {
    const b = await branding.get(await tenantOf(req, req.query.tenant));
    // Values were checked as #rrggbb when set: nothing else can reach this sheet.
    const css = `:root{--sp-accent:${b.accentColor};--sp-accent-contrast:${b.accentContrast};--sp-accent-ink:${b.accentInk}}\n`;
    // The named tenant's sheet may be cached; the session's depends on the cookie, so it is private.
    if (cached(req, reply, `"${b.version}"`, req.query.v !== undefined && req.query.tenant !== undefined))
      return reply.code(304).send();
    if (req.query.tenant === undefined) reply.header('cache-control', 'private, no-cache').header('vary', 'cookie');
    return reply.type('text/css; charset=utf-8').send(css);
  });

  app.get('/brand/logo', { ...pub, schema: { hide: true, querystring: TenantQuery } }, async (req, reply) => {
    const logo = await branding.logo(await tenantOf(req, req.query.tenant));
    const etag = `"${logo.sha256.slice(0, 32)}"`;
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'; sandbox");
    if (cached(req, reply, etag, req.query.v !== undefined && req.query.tenant !== undefined))
      return reply.code(304).send();
    if (req.query.tenant === undefined) reply.header('cache-control', 'private, no-cache').header('vary', 'cookie');
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
      if (cached(req, reply, SEALPOST_CSS_ETAG, req.query.v !== undefined)) return reply.code(304).send();
      return reply.type('text/css; charset=utf-8').send(SEALPOST_CSS);
    },
  );
};
