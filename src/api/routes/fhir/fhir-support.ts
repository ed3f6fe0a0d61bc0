import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import type { TypedApp } from '../../types.js';
import type { Permission, RoutePermission } from '../../../auth/permissions.js';
import { toAppError } from '../../error-handler.js';
import { AppError, ERROR_CODES, type ErrorCode } from '../../../core/errors.js';

/**
 * What every FHIR route plugin shares (R4 http.html): the media type, OperationOutcome errors,
 * `_format`, references in search parameters. A FHIR route plugin calls `installFhirSupport(app)`
 * first; build-server.ts lets `/fhir/…` routes take `application/fhir+json` bodies.
 */

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Where Sealpost's error codes are a CodeSystem (OperationOutcome.issue.details.coding.system). */
export const ERROR_CODE_SYSTEM = 'https://sealpost.dev/errors';

/** FHIR R4 IssueType for each HTTP status (http://hl7.org/fhir/R4/valueset-issue-type.html). */
const ISSUE_TYPE: Record<number, string> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  408: 'timeout',
  409: 'conflict',
  410: 'deleted',
  412: 'conflict',
  413: 'too-long',
  415: 'not-supported',
  422: 'processing',
  429: 'throttled',
  431: 'too-long',
  503: 'transient',
};

/** Codes whose issue type says more than their status does. */
const ISSUE_TYPE_BY_CODE: Partial<Record<ErrorCode, string>> = {
  SP_FHIR_MULTIPLE_MATCHES: 'multiple-matches',
  SP_REQ_VALIDATION: 'invalid',
  SP_FHIR_INVALID_RESOURCE: 'structure',
  SP_REQ_MALFORMED_JSON: 'structure',
};

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: {
    severity: 'fatal' | 'error' | 'warning' | 'information';
    code: string;
    details: { coding: { system: string; code: string }[]; text: string };
    diagnostics?: string;
  }[];
}

/**
 * An OperationOutcome for an error: the Sealpost code as `details.coding`, its title as
 * `details.text`, and the detail (a path and a rule, never a value) as `diagnostics` for 4xx only.
 */
export function operationOutcome(status: number, code: ErrorCode, detail?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: status >= 500 ? 'fatal' : 'error',
        code: ISSUE_TYPE_BY_CODE[code] ?? ISSUE_TYPE[status] ?? (status >= 500 ? 'exception' : 'processing'),
        details: { coding: [{ system: ERROR_CODE_SYSTEM, code }], text: ERROR_CODES[code]?.title ?? code },
        ...(detail && status < 500 ? { diagnostics: detail } : {}),
      },
    ],
  };
}

/** Answers an AppError as an OperationOutcome with the error's status. */
export function sendOutcome(reply: FastifyReply, req: FastifyRequest, err: AppError) {
  if (err.status >= 500) {
    // The cause's class and code only: driver messages can quote the values that failed.
    const cause = (err.cause ?? {}) as { name?: string; code?: string };
    req.log.error({ code: err.code, causeName: cause.name, causeCode: cause.code }, 'request failed');
  }
  return reply
    .code(err.status)
    .type(FHIR_JSON)
    .send(JSON.stringify(operationOutcome(err.status, err.code, err.detail)));
}

const XML = /(^|[/+])xml$/;

/** `_format` values meaning JSON (R4 http.html#mime-type). */
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

/** True when the Accept header names only XML types (no JSON, no wildcard). */
function acceptsOnlyXml(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  return types.length > 0 && types.every((t) => XML.test(t));
}

/**
 * Makes every route of the calling plugin a FHIR route: errors (AppErrors, schema validation,
 * 401/403 from authentication, 415, 413…) become OperationOutcome resources with the right status,
 * `_format=json` is accepted (and removed before the query schema sees it), XML (`_format=xml`,
 * an XML body, an Accept of XML only) is refused with 415. Call it at the top of the plugin.
 */
export function installFhirSupport(app: TypedApp): void {
  app.setErrorHandler((err, req, reply) => sendOutcome(reply, req, toAppError(err as FastifyError)));
  // Answers sent before the route ran (authentication's 401/403, the store's 503) are problem
  // documents: rewritten here as OperationOutcome with the same status and code.
  app.addHook('onSend', async (req, reply, payload) => {
    if (
      typeof payload !== 'string' ||
      !String(reply.getHeader('content-type') ?? '').startsWith('application/problem+json')
    )
      return payload;
    let p: { status?: number; code?: ErrorCode; detail?: string };
    try {
      p = JSON.parse(payload) as typeof p;
    } catch {
      return payload;
    }
    reply.type(FHIR_JSON);
    return JSON.stringify(operationOutcome(p.status ?? reply.statusCode, p.code ?? 'SP_SERVER_INTERNAL', p.detail));
  });
  app.addHook('preValidation', async (req) => {
    const q = req.query as Record<string, unknown> | undefined;
    const format = q?._format;
    if (format !== undefined) {
      const value = Array.isArray(format) ? format[0] : format;
      if (typeof value !== 'string' || !JSON_FORMATS.has(value.toLowerCase().split(';')[0]!.trim()))
        throw new AppError('SP_REQ_UNSUPPORTED_MEDIA_TYPE', '_format: only JSON is supported');
      delete q!._format;
    }
    if (q && '_pretty' in q) delete q._pretty;
    if (format === undefined && acceptsOnlyXml(req.headers.accept))
      throw new AppError('SP_REQ_UNSUPPORTED_MEDIA_TYPE', 'Accept: only application/fhir+json is supported');
  });
}

/**
 * The OpenAPI entry of a FHIR route: tagged `fhir`, with what it does. FHIR routes are in
 * /openapi.json like every other route (the authorization matrix and the fuzz test walk them), but
 * their bodies are described by the R4 specification and the CapabilityStatement, not by a JSON
 * schema here: they are validated against the official R4 schema by `validateResource`.
 */
export function fhirDoc(summary: string, description = ''): { tags: string[]; summary: string; description: string } {
  return {
    tags: ['fhir'],
    summary,
    description:
      `${description ? `${description} ` : ''}Bodies and answers are FHIR R4 JSON (\`application/fhir+json\`); errors are ` +
      'OperationOutcome resources with the Sealpost code in `issue.details.coding`. See GET /fhir/R4/metadata.',
  };
}

/** A resource id as FHIR defines it (R4 datatypes.html#id) and Sealpost's ids satisfy. */
export const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * The id of a reference search parameter (`Patient/123` or `123`, or an absolute URL ending in
 * `/Patient/123`); throws SP_FHIR_INVALID_SEARCH for another type or a malformed id.
 */
export function fhirReference(ref: string, type: string, param = 'patient'): string {
  const parts = ref.split('/');
  const id = parts[parts.length - 1]!;
  const refType = parts.length > 1 ? parts[parts.length - 2] : type;
  if (refType !== type || !/^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/.test(id))
    throw new AppError('SP_FHIR_INVALID_SEARCH', `${param}: must be ${type}/<id> or <id>`);
  return id;
}

/**
 * A token search value (R4 search.html#token): `system|value`, `|value` (no system), `value` (any
 * system). `system` is undefined for "any", '' for "none".
 */
export function fhirToken(raw: string, param = 'identifier'): { system?: string; value: string } {
  const bar = raw.indexOf('|');
  if (bar < 0) {
    if (!raw) throw new AppError('SP_FHIR_INVALID_SEARCH', `${param}: must be [system|]value`);
    return { value: raw };
  }
  const system = raw.slice(0, bar);
  const value = raw.slice(bar + 1);
  if (!value) throw new AppError('SP_FHIR_INVALID_SEARCH', `${param}: a value is required after |`);
  return { system, value };
}

/** `_count` bounded to [1, max] (default `def`); `_count=0` is treated as 1 (no summary-only searches). */
export function fhirCount(raw: unknown, def = 50, max = 200): number {
  if (raw === undefined) return def;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new AppError('SP_FHIR_INVALID_SEARCH', '_count: must be a whole number');
  return Math.min(Math.max(n, 1), max);
}

/**
 * The page of a search: `_count` (see fhirCount) and `_offset` (0-10,000, the matches to skip),
 * and the `self` and `next` links of the Bundle, built from the search's own parameters `query`.
 */
export function fhirPage(params: Map<string, string[]>, def = 50, max = 200) {
  const count = fhirCount(params.get('_count')?.[0], def, max);
  const rawOffset = params.get('_offset')?.[0];
  const offset = rawOffset === undefined ? 0 : Number(rawOffset);
  if (!Number.isInteger(offset) || offset < 0 || offset > 10_000)
    throw new AppError('SP_FHIR_INVALID_SEARCH', '_offset: a whole number from 0 to 10000');
  return {
    count,
    offset,
    /** The `self` and (when more matches follow) `next` URLs of a page over `total` matches. */
    links(url: string, query: URLSearchParams, total: number) {
      const at = (o: number) => {
        const q = new URLSearchParams(query);
        q.set('_count', String(count));
        if (o) q.set('_offset', String(o));
        return `${url}?${q.toString()}`;
      };
      return { selfUrl: at(offset), ...(offset + count < total ? { nextUrl: at(offset + count) } : {}) };
    },
  };
}

/**
 * The search parameters of a GET (query) or a `POST …/_search` (form body and query together,
 * R4 http.html#search), each as a list of values; `allowed` are the parameters the type supports
 * (plus `_count`): any other is refused, not ignored, so a typo never widens a search.
 */
export function searchParams(req: FastifyRequest, allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (src: unknown) => {
    if (!src || typeof src !== 'object') return;
    for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
      if (k === '_format' || k === '_pretty') continue;
      if (k !== '_count' && k !== '_offset' && !allowed.includes(k))
        throw new AppError(
          'SP_FHIR_INVALID_SEARCH',
          /^[A-Za-z_:.-]{1,40}$/.test(k) ? `${k}: is not a supported search parameter` : 'a parameter is not supported',
        );
      const values = (Array.isArray(v) ? v : [v]).map(String);
      out.set(k, [...(out.get(k) ?? []), ...values]);
    }
  };
  add(req.query);
  if (req.method === 'POST') add(req.body);
  return out;
}

/** `W/"<versionId>"`, the weak ETag of a resource version (R4 http.html#versioning). */
export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

/** The versionId named by an If-Match header (`W/"3"` or `"3"`), or undefined when absent. */
export function ifMatchVersion(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h === undefined) return undefined;
  const m = /^(?:W\/)?"([^"]*)"$/.exec(h.trim());
  if (!m) throw new AppError('SP_FHIR_VERSION_CONFLICT', 'If-Match: must be W/"<versionId>"');
  return m[1]!;
}

/**
 * Sends one resource: status, ETag and Last-Modified from its meta, Location on create
 * (`<base>/<type>/<id>/_history/<versionId>`).
 */
export function sendResource(
  reply: FastifyReply,
  resource: { resourceType: string; id?: string; meta?: { versionId?: string; lastUpdated?: string } },
  o: { status?: number; base?: string } = {},
) {
  const status = o.status ?? 200;
  const v = resource.meta?.versionId;
  if (v) reply.header('etag', etag(v));
  if (resource.meta?.lastUpdated) reply.header('last-modified', new Date(resource.meta.lastUpdated).toUTCString());
  if (status === 201 && o.base && resource.id)
    reply.header(
      'location',
      `${o.base}/${resource.resourceType}/${resource.id}${v ? `/_history/${encodeURIComponent(v)}` : ''}`,
    );
  return reply.code(status).type(FHIR_JSON).send(JSON.stringify(resource));
}

/**
 * A type's search on both R4 forms (http.html#search): `GET /<Type>` and `POST /<Type>/_search`, whose
 * x-www-form-urlencoded body keeps the parameters out of URLs and logs. One handler, one permission.
 */
export function fhirSearchRoutes(
  app: TypedApp,
  type: string,
  o: { permission: RoutePermission | Permission; summary: string; description?: string; querystring?: TSchema },
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  const schema = { ...fhirDoc(o.summary, o.description), ...(o.querystring ? { querystring: o.querystring } : {}) };
  app.get(`/${type}`, { config: { permission: o.permission }, schema }, handler);
  app.post(`/${type}/_search`, { config: { permission: o.permission, form: true }, schema }, handler);
}
