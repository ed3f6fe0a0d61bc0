import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import { isStoreUnavailable } from '../store/store-errors.js';

/** RFC 9457 problem details; `code` is the stable Sealpost code. Never a stack, never a value. */
export function problem(reply: FastifyReply, req: FastifyRequest, code: ErrorCode, detail?: string) {
  const { status, title } = ERROR_CODES[code];
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
    if (appErr.status >= 500) {
      // Log the cause's class and code only: driver messages can quote the values that failed.
      const cause = (appErr.cause ?? err) as { name?: string; code?: string };
      req.log.error({ code: appErr.code, causeName: cause?.name, causeCode: cause?.code }, 'request failed');
    }
    return problem(reply, req, appErr.code, appErr.status >= 500 ? undefined : appErr.detail);
  });
  app.setNotFoundHandler((req, reply) => problem(reply, req, 'SP_REQ_NOT_FOUND'));
}
