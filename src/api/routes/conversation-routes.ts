import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { CIPHER_SUITES } from '../../messaging/messaging-types.js';
import type { Conversations } from '../../messaging/conversation-module.js';
import { MAX_EVENTS_PAGE } from '../../messaging/conversation-events.js';
import {
  bytes,
  callerOf,
  ConversationEventSchema,
  ConversationViewSchema,
  Id,
  Kind,
  Mls,
  orStale,
  Person,
  Seq,
  StaleProblem,
} from './conversation-schemas.js';

export { callerOf } from './conversation-schemas.js';

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
      // A commit adding a large group carries every new device's key package, its Welcome and the
      // GroupInfo with the whole ratchet tree (~70 KB of JSON for 49 devices; up to 100 people of
      // 20 devices each with X-Wing packages): above the server's 64 KiB default.
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: ['messaging'],
        summary: 'Post the commit of the current epoch (one per epoch; 409 with currentEpoch when stale)',
        params: ConvParam,
        body: Type.Object(
          {
            deviceId: Id,
            epoch: Seq,
            commit: Mls('base64 MLSMessage mls_public_message of content type commit, signed by the posting device'),
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
};
