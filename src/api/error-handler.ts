import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { v7 as uuidv7 } from 'uuid';
import { AppError, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import { isStoreUnavailable } from '../store/store-errors.js';
import { noteRefusal } from './access-denied.js';

/** The policy of API answers: nothing may load, frame or post anywhere. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The headers every answer carries, whichever layer gives it (route, router, Node's HTTP parser).
 * API answers can carry PHI: no cache may keep them. `docs`: the browsable docs load their own
 * scripts and styles, so they go without the strict policy and `no-store`.
 */
export function securityHeaders(requestId: string, o: { docs?: boolean } = {}): Record<string, string> {
  return {
    'x-request-id': requestId,
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    ...(o.docs ? {} : { 'cache-control': 'no-store', 'content-security-policy': API_CSP }),
  };
}

/** RFC 9457 problem details; `code` is the stable Sealpost code. Never a stack, never a value. */
export function problem(reply: FastifyReply, req: FastifyRequest, code: ErrorCode, detail?: string) {
  const { status, title } = ERROR_CODES[code];
  if (status === 403) noteRefusal(req, code);
  // Router errors and early refusals come before the onRequest hook: the headers are set here too.
  for (const [name, value] of Object.entries(securityHeaders(req.id)))
    if (!reply.hasHeader(name)) reply.header(name, value);
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: `https://sealpost.dev/errors/${code}`,
      title,
      status,
      code,
      ...(detail ? { detail } : {}),
      requestId: req.id,
    });
}

/** Maps Fastify's own errors (parsing, validation, limits) and AppErrors into problem details. */
export function toAppError(err: FastifyError | Error): AppError {
  if (err instanceof AppError) return err;
  const e = err as FastifyError & {
    validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[];
  };
  if (e.validation) {
    const v = e.validation[0];
    // Names come from our schema (instancePath, missingProperty); an unknown property's name is the
    // caller's text and may be anything, so it is never echoed.
    const path = [e.validationContext ?? 'body', ...(v?.instancePath ?? '').split('/').filter(Boolean)];
    if (typeof v?.params?.missingProperty === 'string') path.push(v.params.missingProperty);
    const message =
      v?.params?.additionalProperty !== undefined
        ? 'has a field that is not allowed here'
        : (v?.message ?? 'is invalid');
    return new AppError('SP_REQ_VALIDATION', `${path.join('.')}: ${message}`);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('SP_REQ_MALFORMED_JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('SP_REQ_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('SP_REQ_UNSUPPORTED_MEDIA_TYPE');
  }
  if (err instanceof SyntaxError || e.statusCode === 400) return new AppError('SP_REQ_MALFORMED_JSON');
  if (e.statusCode === 413) return new AppError('SP_REQ_TOO_LARGE');
  if (e.statusCode === 415) return new AppError('SP_REQ_UNSUPPORTED_MEDIA_TYPE');
  if (isStoreUnavailable(err)) return new AppError('SP_STORE_UNAVAILABLE', undefined, { cause: err });
  return new AppError('SP_SERVER_INTERNAL', undefined, { cause: err });
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const appErr = toAppError(err as FastifyError);
    if (appErr.status === 403) noteRefusal(req, appErr.code, appErr.patientRef);
    if (appErr.status >= 500) {
      // Log the cause's class and code only: driver messages can quote the values that failed.
      const cause = (appErr.cause ?? err) as { name?: string; code?: string };
      req.log.error({ code: appErr.code, causeName: cause?.name, causeCode: cause?.code }, 'request failed');
    }
    return problem(reply, req, appErr.code, appErr.status >= 500 ? undefined : appErr.detail);
  });
  app.setNotFoundHandler((req, reply) => problem(reply, req, 'SP_REQ_NOT_FOUND'));
}

/**
 * Node's HTTP parser refused the bytes (malformed request line or headers, a bad Content-Length,
 * headers too large) or the request timed out before Fastify saw it: the same problem body and
 * headers as any other answer, then the connection is closed. Nothing of the request is echoed.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex, log?: FastifyBaseLogger): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'SP_REQ_TIMEOUT'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'SP_REQ_HEADERS_TOO_LARGE'
        : 'SP_REQ_MALFORMED_HTTP';
  log?.debug({ code, causeCode: err.code }, 'client error');
  // An answer already under way on this connection cannot be followed by another one.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const { status, title } = ERROR_CODES[code];
    const requestId = uuidv7();
    const body = JSON.stringify({ type: `https://sealpost.dev/errors/${code}`, title, status, code, requestId });
    const headers = {
      ...securityHeaders(requestId),
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n\r\n${body}`, () => socket.destroy());
    return;
  }
  socket.destroy();
}
