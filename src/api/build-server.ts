import Fastify, { LogController, type FastifyServerOptions } from 'fastify';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { TypedApp } from './types.js';
import { answerClientError, installErrorHandler, problem, securityHeaders } from './error-handler.js';
import { installAccessDeniedAudit } from './access-denied.js';
import { ApiKeyVerifier } from '../auth/api-keys.js';
import {
  apiKeyAuthenticator,
  authorize,
  requireRoutePermission,
  sessionAuthenticator,
  type Authenticator,
} from './authenticate.js';
import type { SessionService } from '../auth/session-service.js';
import { httpsServerOptions } from './tls.js';
import { Problem } from './schemas.js';
import { AppError } from '../core/errors.js';
import { BODY_LIMITS, decodeUtf8, jsonShapeProblem } from './json-limits.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';
import type { Server as NetServer, Socket } from 'node:net';
import { safeParse } from 'fast-content-type-parse';

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** 0: no cap. */
  maxConnectionsPerAddress: number;
}

export interface ServerOptions {
  logger: Logger;
  bodyLimit: number;
  /** Certificate and key; TLS versions, ciphers and client-certificate requests come from tls.ts. */
  https?: { key: string | Buffer; cert: string | Buffer } | null;
  store: Store;
  metrics: Metrics;
  clock: () => Date;
  publicUrl: string;
  /** False while the database is not yet reachable at start: only the ops routes answer, the rest 503. */
  isReady?: () => boolean;
  /** Reverse proxies whose X-Forwarded-For is believed (SEALPOST_TRUSTED_PROXIES); none: the peer is the client. */
  trustedProxies?: string[];
  /** Timeouts and the per-address connection cap (SEALPOST_HTTP_*); Node's defaults without it. */
  http?: HttpLimits;
  /** Sessions of people (cookie and bearer); without it only API keys and `extraAuthenticators` authenticate. */
  sessions?: SessionService;
  /** Further credential kinds (SMART access tokens), tried after API keys and sessions. */
  extraAuthenticators?: Authenticator[];
}

const FORM = 'application/x-www-form-urlencoded';
const FHIR_JSON = 'application/fhir+json';

/** A request with a body: a non-zero Content-Length or a chunked one. */
function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** `type/subtype` (lower case) and the charset parameter (lower case) of a Content-Type; null when malformed. */
function parseMediaType(header: string | undefined): { type: string; charset?: string } | null {
  const parsed = header ? safeParse(header) : null;
  if (!parsed?.type) return null;
  const charset = parsed.parameters.charset?.toLowerCase();
  return { type: parsed.type, ...(charset !== undefined ? { charset } : {}) };
}

/**
 * At most `max` open connections per peer address: one more is closed before TLS or HTTP starts, so
 * one client cannot hold every socket the process has.
 */
function capConnectionsPerAddress(server: NetServer, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const n = open.get(address) ?? 0;
    if (n >= max) {
      socket.destroy();
      return;
    }
    open.set(address, n + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

const OPS_ROUTES = new Set(['/healthz', '/readyz']);

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * The Fastify shell every route hangs on: strict JSON-schema validation (unknown fields rejected,
 * no type coercion of bodies), API-key authentication by default, request ids, PHI-free access logs
 * (route patterns, never raw URLs: portal tokens and patient ids live in paths), secure headers,
 * problem-details errors and the OpenAPI document.
 */
export async function buildServer(o: ServerOptions): Promise<TypedApp> {
  const opts: FastifyServerOptions & { https?: unknown } = {
    loggerInstance: o.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit,
    // `req.ip` is the client only when the proxies in front are named (X-Forwarded-For from anyone
    // else is ignored): sign-in throttling and the audit's source addresses depend on it.
    ...(o.trustedProxies?.length ? { trustProxy: o.trustedProxies } : {}),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : uuidv7();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, useDefaults: true } },
    routerOptions: { maxParamLength: 200 },
    // Router errors (bad percent-encoding, over-long parameters) would otherwise echo the path,
    // which can hold a patient id or a portal token.
    frameworkErrors: (_err, req, reply) => problem(reply, req, 'SP_REQ_BAD_URL'),
    // Node's own parser errors answer like everything else: a problem body with the same headers.
    clientErrorHandler: (err, socket) => answerClientError(err, socket, o.logger),
  };
  // Slow or idle clients are cut off: headers, the whole request (a body sent a byte at a time) and
  // idle keep-alive each have a deadline; Node answers 408 through answerClientError. Node looks for
  // expired requests every `connectionsCheckingInterval` (30 s by default): a quarter of the shortest.
  const limits = o.http
    ? {
        headersTimeout: o.http.headersTimeoutMs,
        requestTimeout: o.http.requestTimeoutMs,
        keepAliveTimeout: o.http.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(25, Math.floor(o.http.headersTimeoutMs / 4)),
      }
    : {};
  if (o.http) Object.assign(opts, { requestTimeout: limits.requestTimeout, keepAliveTimeout: limits.keepAliveTimeout });
  // TLS 1.2+ with AEAD ciphers; client certificates requested, checked per API key (auth-hook.ts).
  // A TLS handshake gets no longer than the headers.
  if (o.https)
    opts.https = {
      ...httpsServerOptions(o.https),
      ...limits,
      ...(o.http ? { handshakeTimeout: o.http.headersTimeoutMs } : {}),
    };
  else (opts as { http?: object }).http = limits;
  const app = Fastify(opts as FastifyServerOptions).withTypeProvider<TypeBoxTypeProvider>() as unknown as TypedApp;
  if (o.http?.maxConnectionsPerAddress) capConnectionsPerAddress(app.server, o.http.maxConnectionsPerAddress);

  // Query strings are the one place where coercion is wanted (?limit=10).
  app.setValidatorCompiler(createValidator());
  installErrorHandler(app);
  installAccessDeniedAudit(app, { store: o.store, clock: o.clock });
  await app.register(cookie);
  // JSON for the API, urlencoded only for the routes marked `form` (the portal's plain HTML forms,
  // the OAuth token endpoint, Twilio's callbacks); anything else is a 415, checked before parsing.
  app.removeContentTypeParser('text/plain');
  await app.register(formbody, { bodyLimit: 4096 });
  // JSON bodies: well-formed UTF-8 and Unicode, at most BODY_LIMITS deep and wide, refused at
  // parsing (400 SP_REQ_VALIDATION) before any route, fingerprint or signature check sees them.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // FHIR routes (`/fhir/…`) take `application/fhir+json` too, read by the same parser (R4 http.html#mime-type).
  app.addContentTypeParser(['application/json', FHIR_JSON], { parseAs: 'buffer' }, (req, body, done) => {
    const text = decodeUtf8(body as Buffer);
    if (text === null) return done(new AppError('SP_REQ_VALIDATION', 'body: is not well-formed UTF-8'), undefined);
    jsonParser(req, text, (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined);
      const bad = jsonShapeProblem(value, BODY_LIMITS, 'body');
      if (bad) return done(new AppError('SP_REQ_VALIDATION', bad), undefined);
      done(null, value);
    });
  });
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!req.routeOptions.url || !hasBody(req.headers)) return payload;
    const mediaType = parseMediaType(req.headers['content-type']);
    const form = req.routeOptions.config.form === true;
    const fhir = mediaType?.type === FHIR_JSON && req.routeOptions.url.startsWith('/fhir/');
    // Binary routes (encrypted attachments) take application/octet-stream, read by their own parser.
    const bin = req.routeOptions.config.binary;
    const binary =
      mediaType != null &&
      ((bin === true && mediaType.type === 'application/octet-stream') ||
        (Array.isArray(bin) && bin.includes(mediaType.type)));
    const accepted = mediaType?.type === 'application/json' || fhir || (form && mediaType?.type === FORM) || binary;
    if (!accepted || (mediaType.charset !== undefined && mediaType.charset !== 'utf-8'))
      throw new AppError('SP_REQ_UNSUPPORTED_MEDIA_TYPE');
    return payload;
  });
  app.addSchema(Problem);

  // The browsable docs are public, like the OpenAPI document they render. Every other route must
  // declare its permission, or registration fails (least privilege by construction).
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config as object), permission: 'public' };
    requireRoutePermission(route);
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sealpost API',
        version: '0.1.0',
        description:
          'Secure transactional health notifications. Errors are RFC 9457 problem details with a stable `code`.',
      },
      servers: [{ url: o.publicUrl }],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description:
              'API key `sp_<id>_<secret>`, session token `sps_…`, or SMART backend-services access token (a JWT from POST /oauth2/token, see /.well-known/smart-configuration)',
          },
        },
      },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false } });
  app.get('/openapi.json', { config: { permission: 'public' }, schema: { hide: true } }, async () => app.swagger());

  const keys = new ApiKeyVerifier(o.store, o.clock);
  app.decorate('apiKeyVerifier', keys);
  const authenticators: Authenticator[] = [apiKeyAuthenticator(keys, o.store, o.clock)];
  if (o.sessions) authenticators.push(sessionAuthenticator(o.sessions, o.store, new URL(o.publicUrl).origin));
  authenticators.push(...(o.extraAuthenticators ?? []));
  const authenticate = authorize(authenticators);
  app.addHook('onRequest', async (req, reply) => {
    // API answers can carry PHI (patients, notifications): no cache may keep them. The browsable
    // docs load their own scripts and styles, so only they go without the strict policy; the
    // portal pages replace it with theirs (inline styles, same-origin forms).
    const url = req.routeOptions.url ?? '';
    reply.headers(securityHeaders(req.id, { docs: url.startsWith('/docs') }));
    if (o.isReady && !o.isReady() && !OPS_ROUTES.has(url)) {
      reply.header('retry-after', '5');
      return problem(reply, req, 'SP_STORE_UNAVAILABLE');
    }
    return authenticate(req, reply);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    o.metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, seconds);
    req.log.info(
      { method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });
  return app;
}

// ajv-formats is CommonJS: its default export arrives wrapped under ESM interop.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (a: Ajv) => Ajv;

function createValidator() {
  const base = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false } as const;
  const strictAjv = addFormats(new Ajv({ ...base, coerceTypes: false }));
  const coercingAjv = addFormats(new Ajv({ ...base, coerceTypes: true }));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema);
}
