import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { securityHeaders } from '../error-handler.js';
import { AppError, ERROR_CODES } from '../../core/errors.js';
import type { Caller } from '../../messaging/conversation-access.js';
import { EpochStaleError } from '../../messaging/conversation-log.js';

/** Schemas and request helpers of the conversation routes (conversation-routes.ts). */
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
export const Mls = (description: string) => Type.String({ minLength: 4, maxLength: 1_400_000, description });
export const Kind = Type.Union([Type.Literal('user'), Type.Literal('patient')]);
export const Person = Type.Object({ kind: Kind, id: Id }, { additionalProperties: false });
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ConversationViewSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('direct'), Type.Literal('group'), Type.Literal('patient')]),
  cipherSuite: Type.String(),
  epoch: Type.Integer(),
  members: Type.Array(
    Type.Object({
      kind: Kind,
      id: Type.String(),
      devices: Type.Array(Type.String(), { description: 'Active messaging devices' }),
    }),
  ),
  patientId: Type.Union([Type.String(), Type.Null()]),
  lifespanSeconds: Type.Union([Type.Integer(), Type.Null()]),
  externalSender: Type.Object({
    signatureKey: Type.String({
      description: 'base64 raw Ed25519 key: put it in the group’s external_senders extension',
    }),
    identity: Type.String({ description: 'base64 of its basic credential identity' }),
  }),
  createdAt: Type.String({ format: 'date-time' }),
  latestSeq: Type.Integer(),
});

export const ConversationEventSchema = Type.Object({
  conversationId: Type.String(),
  seq: Type.Integer(),
  kind: Type.Union([
    Type.Literal('commit'),
    Type.Literal('application'),
    Type.Literal('proposal'),
    Type.Literal('welcome'),
    Type.Literal('recall'),
  ]),
  epoch: Type.Integer(),
  sender: Type.Union([Type.Object({ deviceId: Type.String() }), Type.Object({ external: Type.Literal(true) })]),
  data: Type.Union([Type.String({ description: 'base64 MLSMessage' }), Type.Null()]),
  urgent: Type.Boolean(),
  attachments: Type.Array(Type.String()),
  recalledSeq: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

/** The problem of a stale epoch carries the epoch to catch up to. */
export const StaleProblem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.String(),
  detail: Type.Optional(Type.String()),
  requestId: Type.String(),
  currentEpoch: Type.Optional(Type.Integer()),
});

/** People only: conversations are between staff users and patient accounts. */
export function callerOf(req: FastifyRequest): Caller {
  const p = req.principal!;
  if (p.kind !== 'user' && p.kind !== 'patient') throw new AppError('SP_AUTH_FORBIDDEN');
  return {
    tenantId: p.tenantId,
    actor: p.actor,
    requestId: req.id,
    sourceIp: req.ip,
    person: { kind: p.kind, id: p.id },
    patientId: p.patientId,
    roles: p.roles,
  };
}

export const bytes = (b64: string, field: string): Uint8Array => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw new AppError('SP_MESSAGING_MLS_INVALID', `${field}: not base64`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
};

/** 409 with `currentEpoch` for a stale epoch; anything else goes to the common error handler. */
export async function orStale<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  fn: () => Promise<T>,
): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof EpochStaleError)) throw e;
    const { status, title } = ERROR_CODES[e.code];
    for (const [name, value] of Object.entries(securityHeaders(req.id)))
      if (!reply.hasHeader(name)) reply.header(name, value);
    return reply
      .code(status)
      .type('application/problem+json')
      .send({
        type: `https://sealpost.dev/errors/${e.code}`,
        title,
        status,
        code: e.code,
        detail: e.detail,
        requestId: req.id,
        currentEpoch: e.currentEpoch,
      });
  }
}
