import { Type } from 'typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { toAppError } from '../error-handler.js';
import { AppError, ERROR_CODES, type ErrorCode } from '../../core/errors.js';
import type { AuditQueryService } from '../../core/audit-query-service.js';
import { toFhirAuditEvent } from '../../audit/fhir-audit-event.js';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** FHIR R4 IssueType for each HTTP status an AppError can carry (http://hl7.org/fhir/R4/valueset-issue-type.html). */
const ISSUE_TYPE: Record<number, string> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  413: 'too-long',
  415: 'not-supported',
  422: 'processing',
  503: 'transient',
};

export function operationOutcome(status: number, code: string, detail?: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: ISSUE_TYPE[status] ?? 'exception',
        diagnostics: detail && status < 500 ? `${code}: ${detail}` : code,
      },
    ],
  };
}

function sendOutcome(reply: FastifyReply, req: FastifyRequest, err: AppError) {
  if (err.status >= 500) {
    const cause = (err.cause ?? {}) as { name?: string; code?: string };
    req.log.error({ code: err.code, causeName: cause.name, causeCode: cause.code }, 'request failed');
  }
  return reply
    .code(err.status)
    .type(FHIR_JSON)
    .send(operationOutcome(err.status, err.code, err.detail));
}

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
const DATE_VALUE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * One FHIR `date` search value as the half-open range of instants it denotes (R4 search §3.1.1.4.4:
 * a value's precision is its range, e.g. `2026-05-04` is that whole day, UTC when no zone is given).
 */
export function fhirDateRange(value: string): { start: number; end: number } {
  const m = DATE_VALUE.exec(value);
  const bad = () =>
    new AppError('SP_REQ_VALIDATION', 'querystring.date: must be [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]]±zone]]]');
  if (!m) throw bad();
  const [, y, mo, d, hh, mi, ss, frac, zone] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : 1;
  const day = d ? Number(d) : 1;
  if (month < 1 || month > 12) throw bad();
  const midnight = Date.UTC(year, month - 1, day);
  if (new Date(midnight).getUTCDate() !== day || day < 1) throw bad();
  if (!mo) return { start: midnight, end: Date.UTC(year + 1, 0, 1) };
  if (!d) return { start: midnight, end: Date.UTC(year, month, 1) };
  if (!hh) return { start: midnight, end: midnight + 86_400_000 };
  if (Number(hh) > 23 || Number(mi) > 59 || (ss !== undefined && Number(ss) > 59)) throw bad();
  const offset =
    zone === 'Z'
      ? 0
      : (zone!.startsWith('-') ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6))) * 60_000;
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  const start = midnight + Number(hh) * 3_600_000 + Number(mi) * 60_000 + Number(ss ?? 0) * 1000 + ms - offset;
  const width = ss === undefined ? 60_000 : !frac ? 1000 : frac.length >= 3 ? 1 : 10 ** (3 - frac.length);
  return { start, end: start + width };
}

/** AND of every `date` parameter as one half-open [fromMs, toMs) window over `recorded`. */
export function fhirDateWindow(values: string[]): { fromMs?: number; toMs?: number } {
  let fromMs: number | undefined;
  let toMs: number | undefined;
  const lower = (v: number) => (fromMs = fromMs === undefined ? v : Math.max(fromMs, v));
  const upper = (v: number) => (toMs = toMs === undefined ? v : Math.min(toMs, v));
  for (const raw of values) {
    const prefix = (PREFIXES as readonly string[]).includes(raw.slice(0, 2)) ? raw.slice(0, 2) : 'eq';
    const { start, end } = fhirDateRange(prefix === raw.slice(0, 2) ? raw.slice(2) : raw);
    switch (prefix) {
      case 'eq':
        lower(start);
        upper(end);
        break;
      case 'ge':
        lower(start);
        break;
      case 'gt':
        lower(end);
        break;
      case 'le':
        upper(end);
        break;
      case 'lt':
        upper(start);
        break;
      default:
        throw new AppError(
          'SP_REQ_VALIDATION',
          `querystring.date: prefix ${prefix} is not supported (use eq, ge, gt, le, lt)`,
        );
    }
  }
  return { fromMs, toMs };
}

const DateParam = Type.String({ minLength: 4, maxLength: 64 });

export interface FhirAuditRouteOptions {
  audit: AuditQueryService;
  publicUrl: string;
}

export const fhirAuditRoutes: RoutePlugin<FhirAuditRouteOptions> = async (app, { audit, publicUrl }) => {
  app.get(
    '/AuditEvent',
    {
      config: { permission: 'audit.read' },
      // FHIR clients expect an OperationOutcome, not problem details, for every error on this route:
      // the route's own error handler renders thrown errors, onSend rewrites answers that the
      // authentication hook sent before the route ran.
      errorHandler: (err, req, reply) => sendOutcome(reply, req, toAppError(err as FastifyError)),
      onSend: async (_req, reply, payload) => {
        if (
          !String(reply.getHeader('content-type') ?? '').startsWith('application/problem+json') ||
          typeof payload !== 'string'
        )
          return payload;
        const p = JSON.parse(payload) as { status: number; code: ErrorCode };
        reply.type(FHIR_JSON);
        return JSON.stringify(operationOutcome(p.status, p.code, ERROR_CODES[p.code]?.title));
      },
      schema: {
        tags: ['audit', 'fhir'],
        summary: 'Search audit entries as FHIR R4 AuditEvent resources (audit or admin scope)',
        description:
          'Answers a `searchset` Bundle (`application/fhir+json`). `patient` is `Patient/<id>` or `<id>`, matched through the pseudonymous ' +
          'reference (the AuditEvent carries only that reference); `date` filters `recorded`, accepts the prefixes eq, ge, gt, le, lt and may repeat ' +
          '(all must hold); `_count` is the page size and the `next` link carries the cursor. Errors are OperationOutcome resources.',
        querystring: Type.Object(
          {
            patient: Type.Optional(
              Type.String({ minLength: 1, maxLength: 80, pattern: '^(Patient/)?(?!\\.\\.?$)[A-Za-z0-9._-]{1,64}$' }),
            ),
            date: Type.Optional(Type.Union([DateParam, Type.Array(DateParam, { maxItems: 10 })])),
            _count: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
            _cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const q = req.query;
      const dates = q.date === undefined ? [] : Array.isArray(q.date) ? q.date : [q.date];
      const window = fhirDateWindow(dates);
      const patientId = q.patient?.replace(/^Patient\//, '');
      const count = q._count ?? 100;
      const page = await audit.events(requestContext(req), { patientId, ...window, limit: count, cursor: q._cursor });
      const link = (cursor?: string) => {
        const params = new URLSearchParams();
        if (q.patient) params.set('patient', q.patient);
        for (const d of dates) params.append('date', d);
        params.set('_count', String(count));
        if (cursor) params.set('_cursor', cursor);
        return `${publicUrl}/fhir/R4/AuditEvent?${params.toString()}`;
      };
      const bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        link: [
          { relation: 'self', url: link(q._cursor) },
          ...(page.nextCursor ? [{ relation: 'next', url: link(page.nextCursor) }] : []),
        ],
        // FHIR JSON forbids empty arrays: an empty result has no `entry` at all.
        ...(page.items.length
          ? { entry: page.items.map((e) => ({ resource: toFhirAuditEvent(e), search: { mode: 'match' } })) }
          : {}),
      };
      return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
    },
  );
};
