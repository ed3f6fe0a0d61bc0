import { Type } from 'typebox';
import type { RoutePlugin } from '../../types.js';
import { AppError } from '../../../core/errors.js';
import { capabilityStatement, notificationTypeCodeSystem } from '../../../ehr/fhir/capability.js';
import { FHIR_JSON, fhirDoc, installFhirSupport } from './fhir-support.js';

export interface FhirMetadataRouteOptions {
  publicUrl: string;
  /** The SMART Backend Services token endpoint (OAuthClientService.tokenUrl). */
  tokenUrl: string;
  version: string;
}

/**
 * The FHIR base's public routes (registered under `/fhir/R4`): the CapabilityStatement, the
 * CodeSystem of notification types, and the not-found answer of every unknown `/fhir/R4/…` path
 * as an OperationOutcome. Both resources are public, as FHIR servers publish them: they describe
 * the API and its vocabulary, never data.
 */
export const fhirMetadataRoutes: RoutePlugin<FhirMetadataRouteOptions> = async (app, o) => {
  installFhirSupport(app);
  // Built once: the statement describes the code, which does not change while the process runs.
  const statement = JSON.stringify(
    capabilityStatement({
      publicUrl: o.publicUrl,
      tokenUrl: o.tokenUrl,
      software: { version: o.version },
      date: new Date().toISOString(),
    }),
  );
  const codeSystem = JSON.stringify(notificationTypeCodeSystem());
  const query = Type.Object({ mode: Type.Optional(Type.Literal('full')) }, { additionalProperties: false });

  app.get(
    '/metadata',
    {
      config: { permission: 'public' },
      schema: { ...fhirDoc('The CapabilityStatement (public)'), security: [], querystring: query },
    },
    async (_req, reply) => reply.type(FHIR_JSON).send(statement),
  );

  app.get(
    '/CodeSystem/sealpost-notification-type',
    {
      config: { permission: 'public' },
      schema: {
        ...fhirDoc('The CodeSystem of notification types (CommunicationRequest.category; public)'),
        security: [],
        querystring: Type.Object({}, { additionalProperties: false }),
      },
    },
    async (_req, reply) => reply.type(FHIR_JSON).send(codeSystem),
  );

  app.setNotFoundHandler(async () => {
    throw new AppError('SP_REQ_NOT_FOUND');
  });
};
