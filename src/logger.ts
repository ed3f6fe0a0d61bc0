import pino, { type Logger, type DestinationStream } from 'pino';

/**
 * Structured logs, PHI-free by construction: code paths log ids, codes and route patterns only, and
 * these redactions are a second line of defence for fields that can hold PHI or secrets.
 */
const PHI_FIELDS = [
  'birthDate',
  'name',
  'telecom',
  'data',
  'to',
  'recipient',
  'text',
  'body',
  'token',
  'apiKey',
  'phone',
  'email',
];
// pino paths match one level each: the bare name (top level), one and two levels down.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.url',
  'res.headers["set-cookie"]',
  ...PHI_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sealpost' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: {
        // Error messages from drivers and libraries may quote values; keep class, code and stack frames only.
        err: (e: Error & { code?: string }) => ({
          type: e?.name,
          code: e?.code,
          stack: e?.stack?.split('\n').slice(1, 6).join('\n'),
        }),
      },
    },
    destination,
  );
}
