import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { ProofService } from '../../core/proof-service.js';
import type { PatientAccess } from '../../auth/patient-access.js';

const Jwk = Type.Record(Type.String(), Type.String());

const Proof = Type.Object({
  format: Type.Literal('sealpost-proof-v1'),
  notificationId: Type.String(),
  alg: Type.Literal('EdDSA'),
  keyId: Type.String(),
  signature: Type.String({ description: 'base64url Ed25519 signature over the UTF-8 bytes of `signed`' }),
  signed: Type.String({ description: 'The exact signed text: RFC 8785 canonical JSON of `fields`' }),
  fields: Type.Record(Type.String(), Type.Unknown()),
  publicKey: Jwk,
  salt: Type.Union([Type.String(), Type.Null()], {
    description: 'base64url salt of contentHash (HMAC-SHA256 over canonical {patientId, data}); null after erasure',
  }),
  sender: Type.Union([
    Type.Null(),
    Type.Object({
      signerId: Type.String(),
      personId: Type.String(),
      alg: Type.String(),
      signature: Type.Union([Type.String(), Type.Null()]),
      publicKey: Jwk,
    }),
  ]),
  content: Type.Optional(Type.Object({ patientId: Type.String(), data: Type.Unknown() })),
  request: Type.Optional(Type.String({ description: 'The canonical request the sender signed (PHI)' })),
  anchor: Type.Optional(
    Type.Union(
      [
        Type.Object({
          status: Type.Literal('anchored'),
          entry: Type.String({
            description:
              'The notification.created audit entry (canonical JSON, no PHI); its details.signedHash is the base64url SHA-256 of `signed`',
          }),
          index: Type.Integer({ description: 'Its RFC 9162 leaf index' }),
          treeSize: Type.Integer(),
          inclusion: Type.Array(Type.String(), { description: 'RFC 9162 audit path, bottom-up, base64' }),
          checkpoint: Type.String({ description: 'C2SP signed note of the checkpoint (audit-log key)' }),
        }),
        Type.Object({ status: Type.Literal('pending') }),
      ],
      {
        description:
          "The proof's anchoring in the audit log; `pending` while its creation entry has no index yet (fetch the proof again). Absent for notifications created before anchoring existed",
      },
    ),
  ),
});

const KeySet = Type.Object({
  keys: Type.Array(Type.Record(Type.String(), Type.String())),
  checkpointKey: Type.Optional(
    Type.String({ description: "C2SP verifier key of the audit log's checkpoints (distinct from the notary keys)" }),
  ),
});

export interface ProofRouteOptions {
  proofs: ProofService;
  access: PatientAccess;
}

/** Proofs of notifications and the published notary keys they are checked against. */
export const proofRoutes: RoutePlugin<ProofRouteOptions> = async (app, { proofs, access }) => {
  app.get(
    '/v1/notifications/:id/proof',
    {
      config: { permission: 'proof.read' },
      schema: {
        tags: ['signatures'],
        summary: 'Offline-verifiable proof of a notification (check it with `sealpost verify <file>`)',
        description:
          'Without `include=content` the proof holds identifiers, hashes and signatures only. With it, it also holds the content ' +
          'and the signed request (PHI: store such a file like the record itself); that read is audited. `anchor` is the ' +
          "notification's creation audit entry with its inclusion in a signed checkpoint (one is signed at once when none covers it yet).",
        params: IdParam,
        querystring: Type.Object({ include: Type.Optional(Type.Literal('content')) }, { additionalProperties: false }),
        response: { 200: Proof, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const content = req.query.include === 'content';
      // Content is PHI: it needs the notification type's permission too (an auditor reads proofs without it).
      const ctx = await access.notification(req.principal!, requestContext(req), req.params.id, content);
      return proofs.proof(ctx, req.params.id, content);
    },
  );

  app.get(
    '/.well-known/sealpost-keys.json',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['signatures'],
        summary:
          'Notary signing public keys, current and retired, as a JWK Set (kid, alg EdDSA, crv Ed25519, use sig, status, createdAt, notBefore, retiredAt once retired), and the checkpoint verifier key (checkpointKey)',
        security: [],
        response: { 200: KeySet },
      },
    },
    async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return proofs.keys();
    },
  );
};
