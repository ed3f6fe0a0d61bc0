import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { SignerService } from '../../core/signer-service.js';
import { PERSON_ALGS } from '../../crypto/signature-checks.js';

const Alg = Type.Union([Type.Literal(PERSON_ALGS[0]), Type.Literal(PERSON_ALGS[1])]);

export const SignerView = Type.Object({
  id: Type.String(),
  personId: Type.String(),
  alg: Alg,
  publicKeyJwk: Type.Record(Type.String(), Type.String()),
  thumbprint: Type.String({ description: 'RFC 7638 JWK thumbprint (SHA-256, base64url)' }),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const RegisterBody = Type.Object(
  {
    personId: Type.String({
      pattern: '^[A-Za-z0-9._:-]{1,128}$',
      description: 'Opaque external id of the person (a staff or directory id; never a name or e-mail address)',
    }),
    alg: Alg,
    publicKeyJwk: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'Public JWK: OKP/Ed25519 for EdDSA, EC/P-256 for ES256',
      }),
    ),
    publicKey: Type.Optional(
      Type.String({ maxLength: 512, description: 'base64url: Ed25519 raw 32 bytes or SPKI DER; P-256 SPKI DER' }),
    ),
  },
  { additionalProperties: false },
);

export interface SignerRouteOptions {
  signers: SignerService;
}

export const signerRoutes: RoutePlugin<SignerRouteOptions> = async (app, { signers }) => {
  app.post(
    '',
    {
      // Registering and revoking device keys changes who can sign for what.
      config: { permission: 'signer.manage' },
      schema: {
        tags: ['signatures'],
        summary: "Register a person's device-held public key (Ed25519 or P-256) for detached request signatures",
        description:
          'Ed25519 keys that are small-order points or non-canonical encodings are refused. Requests carrying ' +
          '`signature: { signerId, alg, signature }` must be signed with the matching private key over the RFC 8785 canonical ' +
          'form of the request body without `signature`. Admin API keys only.',
        body: RegisterBody,
        response: { 201: SignerView, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      return reply.code(201).send(await signers.register(requestContext(req), req.body));
    },
  );

  app.get(
    '/:id',
    {
      config: { permission: 'signer.manage' },
      schema: {
        tags: ['signatures'],
        summary: 'A registered signer key',
        params: IdParam,
        response: { 200: SignerView, ...problems(401, 404) },
      },
    },
    async (req) => signers.get(requestContext(req), req.params.id),
  );

  app.post(
    '/:id/revoke',
    {
      config: { permission: 'signer.manage' },
      schema: {
        tags: ['signatures'],
        summary:
          'Revoke a signer key (a lost device): later requests signed with it are refused; earlier signatures stay verifiable',
        params: IdParam,
        response: { 200: SignerView, ...problems(401, 403, 404) },
      },
    },
    async (req) => {
      return signers.revoke(requestContext(req), req.params.id);
    },
  );
};
