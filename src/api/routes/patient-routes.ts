import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientBody, PatientParam, PatientView, problems } from '../schemas.js';
import { Type } from 'typebox';
import type { PatientService } from '../../core/patient-service.js';
import { AppError, ERROR_CODES, isAppError } from '../../core/errors.js';
import type { PatientAccess } from '../../auth/patient-access.js';

const Shredding = Type.Union([Type.Literal('pending'), Type.Literal('complete')], {
  description:
    '`pending` until the tenant key-encryption key was rotated and its old version destroyed (pre-erasure backups then open with no remaining key)',
});

const ErasureView = Type.Object({
  erasureId: Type.String(),
  erasedAt: Type.String({ format: 'date-time' }),
  shredding: Shredding,
  completedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  counts: Type.Object({
    notifications: Type.Integer(),
    deliveriesCancelled: Type.Integer(),
    contactPoints: Type.Integer(),
    portalLinks: Type.Integer(),
    idempotencyRecords: Type.Integer(),
    outboxMessages: Type.Integer(),
    patientAccounts: Type.Integer(),
    careTeamMembers: Type.Integer(),
    breakGlassGrantsEnded: Type.Integer(),
    appointments: Type.Integer(),
    identifiers: Type.Integer(),
  }),
});

export interface PatientRouteOptions {
  patients: PatientService;
  access: PatientAccess;
}

/** `access`: the patient relationship (care team or break-glass) for physicians and nurses. */
export const patientRoutes: RoutePlugin<PatientRouteOptions> = async (app, { patients, access }) => {
  /** 410 with the erasure's state as problem-details extension members (ids and times, no PHI). */
  const gone = async (req: FastifyRequest, reply: FastifyReply, id: string) => {
    const e = await patients.erasureStatus(requestContext(req), id);
    const { status, title } = ERROR_CODES.SP_PATIENT_ERASED;
    return reply.code(status).type('application/problem+json').send({
      type: 'https://sealpost.dev/errors/SP_PATIENT_ERASED',
      title,
      status,
      code: 'SP_PATIENT_ERASED',
      requestId: req.id,
      erasedAt: e?.erasedAt,
      shredding: e?.shredding,
    });
  };

  /** 410 naming the survivor of a merged (retired) id: ids are opaque, not PHI. */
  const merged = async (req: FastifyRequest, reply: FastifyReply, id: string) => {
    const { status, title } = ERROR_CODES.SP_PATIENT_MERGED;
    return reply
      .code(status)
      .type('application/problem+json')
      .send({
        type: 'https://sealpost.dev/errors/SP_PATIENT_MERGED',
        title,
        status,
        code: 'SP_PATIENT_MERGED',
        requestId: req.id,
        mergedInto: await patients.mergedInto(requestContext(req).tenantId, id),
      });
  };
  const isCode = (e: unknown, code: string) => isAppError(e) && e.code === code;

  app.put(
    '/:id',
    {
      config: { permission: 'patient.write' },
      schema: {
        tags: ['patients'],
        summary: 'Register or replace a patient (PHI is stored encrypted)',
        description:
          'Use an opaque id (not an MRN): ids appear in URLs and URLs are never PHI. MRNs go in `identifiers` ' +
          '(sealed; one patient per identifier: 409 `SP_PATIENT_IDENTIFIER_CONFLICT`). A merged id answers 410 ' +
          '`SP_PATIENT_MERGED` with `mergedInto` and changes nothing.',
        params: PatientParam,
        body: PatientBody,
        response: { 200: PatientView, 201: PatientView, ...problems(400, 401, 403, 409, 413) },
      },
    },
    async (req, reply) => {
      // A clinician registers or replaces only a patient on their care team (or under break-glass).
      const ctx = await access.patient(req.principal!, requestContext(req), req.params.id, true);
      try {
        const { created, patient } = await patients.upsert(ctx, req.params.id, req.body, {
          mayAddWebhooks: req.principal!.permissions.has('contact.webhook'),
        });
        return reply.code(created ? 201 : 200).send(patient);
      } catch (e) {
        if (isCode(e, 'SP_PATIENT_MERGED')) return merged(req, reply, req.params.id);
        throw e;
      }
    },
  );

  app.get(
    '/:id',
    {
      config: { permission: 'patient.read' },
      schema: {
        tags: ['patients'],
        summary: 'Read a patient (audited)',
        description:
          'An erased patient answers 410 `SP_PATIENT_ERASED` with `erasedAt` and `shredding` (`pending` | `complete`); ' +
          "a patient a merge retired answers 410 `SP_PATIENT_MERGED` with `mergedInto` (the surviving patient's id).",
        params: PatientParam,
        response: { 200: PatientView, ...problems(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const ctx = await access.patient(req.principal!, requestContext(req), req.params.id);
      try {
        return await patients.get(ctx, req.params.id);
      } catch (e) {
        if (isCode(e, 'SP_PATIENT_ERASED')) return gone(req, reply, req.params.id);
        if (isCode(e, 'SP_PATIENT_MERGED')) return merged(req, reply, req.params.id);
        throw e;
      }
    },
  );

  app.delete(
    '/:id',
    {
      config: { permission: 'patient.erase' },
      schema: {
        tags: ['patients'],
        summary: 'Erase a patient (crypto-shredding, right to erasure); needs ?erase=true and the `erasure` scope',
        description:
          "Deletes the patient's data key and everything derived from PHI in one transaction, cancels pending deliveries and keeps " +
          'content-free tombstones of notifications and deliveries. Answers 202 once that committed; the tenant key-encryption key is then ' +
          'rotated and its old version destroyed in the background (`shredding` turns from `pending` to `complete`, see GET). ' +
          'Erasing an erased patient answers 410 and changes nothing.',
        params: PatientParam,
        querystring: Type.Object({ erase: Type.Optional(Type.Boolean()) }),
        response: { 202: ErasureView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      if (req.query.erase !== true) throw new AppError('SP_PATIENT_ERASE_REQUIRED');
      try {
        return reply.code(202).send(await patients.erase(requestContext(req), req.params.id));
      } catch (e) {
        if (isAppError(e) && e.code === 'SP_PATIENT_ERASED') return gone(req, reply, req.params.id);
        throw e;
      }
    },
  );
};
