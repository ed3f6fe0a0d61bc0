import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientParam, problems } from '../schemas.js';
import type { PatientPreferencesService, PreferencesInput } from '../../core/patient-preferences.js';
import type { PatientAccess } from '../../auth/patient-access.js';
import type { RequestContext } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import { CHANNEL_KINDS, LANGUAGES, NOTIFICATION_TYPES } from '../../core/domain.js';

const Time = Type.String({
  maxLength: 5,
  description: "Local wall-clock time HH:MM (24 h) in the patient's time zone",
});

/**
 * The body of PUT: the whole set (a field left out is cleared). Loose on purpose where the service
 * answers with a precise code (SP_PREFERENCE_*), so that a bad value names its field.
 */
export const PreferencesBody = Type.Object(
  {
    channels: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Array(Type.String({ maxLength: 16 }), { maxItems: 8 }), {
        description: `Per notification type (${NOTIFICATION_TYPES.join(', ')}), channel kinds in the patient's order (${CHANNEL_KINDS.join(', ')}); used when the sender names no channels`,
      }),
    ),
    language: Type.Optional(
      Type.Union([Type.String({ maxLength: 8, description: LANGUAGES.join(' | ') }), Type.Null()]),
    ),
    quietHours: Type.Optional(
      Type.Union([Type.Object({ start: Time, end: Time }, { additionalProperties: false }), Type.Null()], {
        description: 'Personal quiet hours for routine messages (may cross midnight); null: none',
      }),
    ),
    noTextAfter: Type.Optional(
      Type.Union([Time, Type.Null()], {
        description: 'No routine SMS after this time; it waits for the next morning (end of quiet hours, else 08:00)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const PreferencesAnswer = Type.Object({
  patientId: Type.String(),
  channels: Type.Record(Type.String(), Type.Array(Type.String())),
  language: Type.Union([Type.String(), Type.Null()]),
  quietHours: Type.Union([Type.Object({ start: Type.String(), end: Type.String() }), Type.Null()]),
  noTextAfter: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export interface PreferenceRouteOptions {
  preferences: PatientPreferencesService;
  access: PatientAccess;
}

/** The signed-in patient's own context (patient account sessions only). */
function patientSelf(req: FastifyRequest): { ctx: RequestContext; patientId: string } {
  const p = req.principal!;
  if (p.kind !== 'patient' || !p.patientId) throw new AppError('SP_AUTH_FORBIDDEN');
  return {
    ctx: { tenantId: p.tenantId, actor: `patient-account:${p.id}`, requestId: req.id, sourceIp: req.ip },
    patientId: p.patientId,
  };
}

/**
 * Patients' delivery preferences: staff (with the patient relationship check of every patient route)
 * at /v1/patients/{id}/preferences, the signed-in patient at /v1/me/preferences. Registered under /v1.
 */
export const preferenceRoutes: RoutePlugin<PreferenceRouteOptions> = async (app, { preferences, access }) => {
  const staffCtx = (req: FastifyRequest, patientId: string) =>
    access.patient(req.principal!, requestContext(req), patientId);

  app.get(
    '/patients/:id/preferences',
    {
      config: { permission: 'patient.read' },
      schema: {
        tags: ['preferences'],
        summary: "A patient's delivery preferences (channel per type, language, quiet hours, no texts after)",
        params: PatientParam,
        response: { 200: PreferencesAnswer, ...problems(400, 401, 403, 404, 410) },
      },
    },
    async (req) => preferences.get(await staffCtx(req, req.params.id), req.params.id),
  );

  app.put(
    '/patients/:id/preferences',
    {
      config: { permission: 'patient.write' },
      schema: {
        tags: ['preferences'],
        summary: "Replace a patient's delivery preferences (audited; a field left out is cleared)",
        description: 'A bad value answers 400 with an `SP_PREFERENCE_*` code naming the field and changes nothing.',
        params: PatientParam,
        body: PreferencesBody,
        response: { 200: PreferencesAnswer, ...problems(400, 401, 403, 404, 410) },
      },
    },
    async (req) =>
      preferences.put(
        await staffCtx(req, req.params.id),
        req.params.id,
        req.body as PreferencesInput,
        req.principal!.kind === 'user' ? 'staff' : 'api',
      ),
  );

  app.get(
    '/me/preferences',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['preferences'],
        summary: "The signed-in patient's delivery preferences",
        response: { 200: PreferencesAnswer, ...problems(401, 403) },
      },
    },
    async (req) => {
      const me = patientSelf(req);
      return preferences.get(me.ctx, me.patientId);
    },
  );

  app.put(
    '/me/preferences',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['preferences'],
        summary: "Replace the signed-in patient's delivery preferences (audited; a field left out is cleared)",
        description: 'A bad value answers 400 with an `SP_PREFERENCE_*` code naming the field and changes nothing.',
        body: PreferencesBody,
        response: { 200: PreferencesAnswer, ...problems(400, 401, 403) },
      },
    },
    async (req) => {
      const me = patientSelf(req);
      return preferences.put(me.ctx, me.patientId, req.body as PreferencesInput, 'portal');
    },
  );
};
