import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { securityHeaders } from '../error-handler.js';
import { AppError, ERROR_CODES } from '../../core/errors.js';
import { CIPHER_SUITES } from '../../messaging/messaging-types.js';
import type { Caller } from '../../messaging/conversation-access.js';
import type { Conversations } from '../../messaging/conversation-module.js';
import { EpochStaleError } from '../../messaging/conversation-log.js';
import { MAX_EVENTS_PAGE } from '../../messaging/conversation-events.js';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
const Mls = (description: string) => Type.String({ minLength: 4, maxLength: 1_400_000, description });
const Kind = Type.Union([Type.Literal('user'), Type.Literal('patient')]);
const Person = Type.Object({ kind: Kind, id: Id }, { additionalProperties: false });
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

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
const StaleProblem = Type.Object({
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

const bytes = (b64: string, field: string): Uint8Array => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw new AppError('SP_MESSAGING_MLS_INVALID', `${field}: not base64`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
};

/** 409 with `currentEpoch` for a stale epoch; anything else goes to the common error handler. */
async function orStale<T>(req: FastifyRequest, reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
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

export interface ConversationRouteOptions {
  conversations: Conversations;
}

const use = { permission: 'message.use' as const };
const ConvParam = Type.Object({ id: Id });

/** End-to-end encrypted conversations: the MLS Delivery Service (the server sees ciphertext only). */
export const conversationRoutes: RoutePlugin<ConversationRouteOptions> = async (app, { conversations: m }) => {
  app.post(
    '/conversations',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Start a conversation (the caller creates the MLS group locally and commits the adds)',
        body: Type.Object(
          {
            kind: Type.Union([Type.Literal('direct'), Type.Literal('group'), Type.Literal('patient')]),
            deviceId: Id,
            members: Type.Optional(Type.Array(Person, { maxItems: 101 })),
            patientId: Type.Optional(Id),
            cipherSuite: Type.Optional(Type.Union(CIPHER_SUITES.map((s) => Type.Literal(s)))),
            lifespanSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86_400 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: ConversationViewSchema, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await m.conversations.create(callerOf(req), req.body)),
  );

  app.get(
    '/conversations',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: "The caller's conversations, newest first",
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(ConversationViewSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => m.conversations.list(callerOf(req), { cursor: req.query.cursor, limit: req.query.limit ?? 50 }),
  );

  app.get(
    '/conversations/:id',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'One conversation (members only; 404 otherwise)',
        params: ConvParam,
        response: { 200: ConversationViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => m.conversations.get(callerOf(req), req.params.id),
  );

  app.post(
    '/conversations/:id/members',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Add a staff member to a group (a member then commits the adds of their devices)',
        params: ConvParam,
        body: Type.Object({ person: Person }, { additionalProperties: false }),
        response: { 200: ConversationViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => m.conversations.addMember(callerOf(req), req.params.id, req.body.person),
  );

  app.delete(
    '/conversations/:id/members/:kind/:personId',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary:
          'Remove a person from a group (their devices get no later events; the server proposes their MLS removal)',
        params: Type.Object({ id: Id, kind: Kind, personId: Id }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await m.conversations.removeMember(callerOf(req), req.params.id, {
        kind: req.params.kind,
        id: req.params.personId,
      });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/conversations/:id/commits',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Post the commit of the current epoch (one per epoch; 409 with currentEpoch when stale)',
        params: ConvParam,
        body: Type.Object(
          {
            deviceId: Id,
            epoch: Seq,
            commit: Mls('base64 MLSMessage (private or public message) of content type commit'),
            welcome: Type.Optional(Mls('base64 MLSMessage mls_welcome, delivered only to the added devices')),
            groupInfo: Mls('base64 MLSMessage mls_group_info of the new epoch, with the ratchet tree extension'),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ seq: Type.Integer(), epoch: Type.Integer() }),
          409: StaleProblem,
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) =>
      orStale(req, reply, async () => {
        const b = req.body;
        const out = await m.commits.commit(callerOf(req), req.params.id, {
          deviceId: b.deviceId,
          epoch: b.epoch,
          commit: bytes(b.commit, 'commit'),
          welcome: b.welcome === undefined ? undefined : bytes(b.welcome, 'welcome'),
          groupInfo: bytes(b.groupInfo, 'groupInfo'),
        });
        return reply.code(201).send(out);
      }),
  );

  app.post(
    '/conversations/:id/messages',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Post an application message of the current epoch (a repeated clientMessageId answers the first seq)',
        params: ConvParam,
        body: Type.Object(
          {
            deviceId: Id,
            epoch: Seq,
            message: Mls('base64 MLSMessage mls_private_message of content type application'),
            urgent: Type.Optional(Type.Boolean()),
            attachments: Type.Optional(Type.Array(Id, { maxItems: 20 })),
            clientMessageId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ seq: Type.Integer() }), 409: StaleProblem, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) =>
      orStale(req, reply, async () => {
        const b = req.body;
        const out = await m.commits.message(callerOf(req), req.params.id, {
          ...b,
          message: bytes(b.message, 'message'),
        });
        return reply.code(201).send(out);
      }),
  );

  app.get(
    '/conversations/:id/events',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: "Events one of the caller's devices may read (its window), oldest first",
        params: ConvParam,
        querystring: Type.Object(
          {
            deviceId: Id,
            after: Type.Optional(Seq),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENTS_PAGE })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ConversationEventSchema), nextCursor: Type.Integer() }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req) =>
      m.events.pull(callerOf(req), req.params.id, req.query.deviceId, req.query.after ?? 0, req.query.limit ?? 100),
  );

  app.post(
    '/conversations/:id/cursor',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Delivery receipt: the device stored everything up to seq',
        params: ConvParam,
        body: Type.Object({ deviceId: Id, seq: Seq }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await m.events.cursor(callerOf(req), req.params.id, req.body.deviceId, req.body.seq);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/conversations/:id/receipts',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Devices that stored the event seq (delivery receipts)',
        params: ConvParam,
        querystring: Type.Object({ seq: Seq }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            delivered: Type.Array(
              Type.Object({ deviceId: Type.String(), person: Type.Object({ kind: Kind, id: Type.String() }) }),
            ),
          }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req) => m.events.receipts(callerOf(req), req.params.id, req.query.seq),
  );

  app.post(
    '/conversations/:id/messages/:seq/recall',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Recall a message the caller sent (its ciphertext and attachments leave the server)',
        params: Type.Object({ id: Id, seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
        body: Type.Object({ deviceId: Id }, { additionalProperties: false }),
        response: {
          200: Type.Object({ seq: Type.Integer(), recalledSeq: Type.Integer() }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req) => m.recall.recall(callerOf(req), req.params.id, req.params.seq, req.body.deviceId),
  );

  app.get(
    '/messaging/devices/:deviceId/conversations',
    {
      config: use,
      schema: {
        tags: ['messaging'],
        summary: 'Where one of the caller’s devices has something to read (sync after being offline)',
        params: Type.Object({ deviceId: Id }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                conversationId: Type.String(),
                latestSeq: Type.Integer(),
                cursor: Type.Integer(),
                epoch: Type.Integer(),
              }),
            ),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => m.events.ofDevice(callerOf(req), req.params.deviceId),
  );
};
