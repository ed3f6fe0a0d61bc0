import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { CIPHER_SUITES, DEFAULT_CIPHER_SUITE } from '../../messaging/messaging-types.js';
import type { Conversations } from '../../messaging/conversation-module.js';
import { callerOf, Id } from './conversation-schemas.js';

const Policy = Type.Object(
  {
    requirePostQuantum: Type.Boolean({
      description: 'New conversations must use MLS_256_XWING_AES256GCM_SHA512_Ed25519',
    }),
    defaultLifespanSeconds: Type.Union([Type.Integer({ minimum: 60, maximum: 10 * 365 * 86_400 }), Type.Null()], {
      description: 'Ciphertext of conversations without their own lifespan is purged after this long (null: kept)',
    }),
    archive: Type.Optional(
      Type.Boolean({
        description:
          "The tenant's archive member (sealpost archiver) joins the roster of every new conversation; absent in a PUT: unchanged",
      }),
    ),
  },
  { additionalProperties: false },
);

export interface MessagingPolicyRouteOptions {
  conversations: Conversations;
}

/** The tenant's messaging policy, its MLS external sender, and where a device has something to read. */
export const messagingPolicyRoutes: RoutePlugin<MessagingPolicyRouteOptions> = async (app, { conversations: m }) => {
  app.get(
    '/external-sender',
    {
      config: { permission: 'message.use' },
      schema: {
        tags: ['messaging'],
        summary: "The tenant's MLS external sender (goes in every group's external_senders extension)",
        querystring: Type.Object(
          { cipherSuite: Type.Optional(Type.Union(CIPHER_SUITES.map((s) => Type.Literal(s)))) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            signatureKey: Type.String({ description: 'base64 raw Ed25519 public key' }),
            identity: Type.String({ description: 'base64 of the basic credential identity' }),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const c = callerOf(req);
      const suite = req.query.cipherSuite ?? DEFAULT_CIPHER_SUITE;
      await m.deps.externalSenders.prepare(m.deps.store, c.tenantId, suite);
      const k = await m.deps.externalSenders.publicOf(m.deps.store.read, c.tenantId, suite);
      return {
        signatureKey: Buffer.from(k.signatureKey).toString('base64'),
        identity: Buffer.from(k.identity).toString('base64'),
      };
    },
  );

  app.get(
    '/policy',
    {
      config: { permission: 'message.use' },
      schema: {
        tags: ['messaging'],
        summary: "The tenant's messaging policy",
        response: { 200: Policy, ...problems(401, 403) },
      },
    },
    async (req) => m.policy.get(callerOf(req).tenantId),
  );

  app.put(
    '/policy',
    {
      config: { permission: 'message.manage' },
      schema: {
        tags: ['messaging'],
        summary: "Change the tenant's messaging policy (audited)",
        body: Policy,
        response: { 200: Policy, ...problems(400, 401, 403) },
      },
    },
    async (req) => m.policy.put(callerOf(req), req.body),
  );

  app.get(
    '/devices/:deviceId/conversations',
    {
      config: { permission: 'message.use' },
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
