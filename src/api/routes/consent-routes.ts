import { Type, type Static } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientParam, problems } from '../schemas.js';
import type { ConsentService, ConsentSource } from '../../core/consent-service.js';
import { CHANNEL_KINDS, LANGUAGES, PURPOSES } from '../../core/domain.js';
import { AppError } from '../../core/errors.js';
import { KEYWORD_ACTIONS, type KeywordSettings } from '../../core/consent-keywords.js';
import type { PatientAccessCheck } from './patient-account-routes.js';
import type { RequestContext } from '../../core/context.js';

const Channel = Type.Enum([...CHANNEL_KINDS, '*' as const]);
const Purpose = Type.Enum([...PURPOSES, '*' as const]);
const Decision = Type.Enum(['permit' as const, 'deny' as const]);

/** PUT body: decisions appended to the ledger in one transaction, in order (a later one wins). */
export const ConsentChanges = Type.Object(
  {
    consents: Type.Array(
      Type.Object(
        {
          channel: Channel,
          purpose: Type.Optional(Purpose),
          decision: Decision,
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 50 },
    ),
  },
  { additionalProperties: false },
);
export type ConsentChangesBody = Static<typeof ConsentChanges>;

/** GET (and PUT) answer: the state per channel and purpose, and the ledger newest first. */
export const ConsentViewSchema = Type.Object({
  patientId: Type.String(),
  state: Type.Array(
    Type.Object({
      channel: Type.Enum([...CHANNEL_KINDS]),
      purpose: Type.Enum([...PURPOSES]),
      decision: Decision,
      source: Type.Union([Type.String(), Type.Null()]),
      recordedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    }),
  ),
  history: Type.Array(
    Type.Object({
      id: Type.String(),
      channel: Channel,
      purpose: Purpose,
      decision: Decision,
      source: Type.String(),
      recordedBy: Type.String(),
      recordedAt: Type.String({ format: 'date-time' }),
      active: Type.Boolean(),
    }),
  ),
});

const PerLanguage = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Array>>(t: T) =>
  Type.Object(Object.fromEntries(LANGUAGES.map((l) => [l, t])) as Record<(typeof LANGUAGES)[number], T>, {
    additionalProperties: false,
  });
const PerAction = <T extends ReturnType<typeof PerLanguage>>(t: T) =>
  Type.Object(Object.fromEntries(KEYWORD_ACTIONS.map((a) => [a, t])) as Record<(typeof KEYWORD_ACTIONS)[number], T>, {
    additionalProperties: false,
  });
const KeywordSettingsSchema = Type.Object(
  {
    keywords: PerAction(PerLanguage(Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 20 }))),
    answers: PerAction(PerLanguage(Type.String({ minLength: 1, maxLength: 300 }))),
    organisation: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    contact: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);

export interface ConsentRouteOptions {
  consents: ConsentService;
  access: PatientAccessCheck;
}

/** The signed-in patient's context (patient accounts only) and patient id. */
function self(req: FastifyRequest): { ctx: RequestContext; patientId: string } {
  const p = req.principal!;
  if (p.kind !== 'patient' || !p.patientId) throw new AppError('SP_AUTH_FORBIDDEN');
  return { ctx: requestContext(req), patientId: p.patientId };
}

/**
 * The consent ledger over REST (docs/consent.md): staff and systems read and append a patient's
 * decisions per channel and purpose (with the patient-relationship check of every patient route;
 * source `staff` for a person, `api` for a system), the signed-in patient their own (source
 * `portal`), administrators the tenant's SMS keywords and answers.
 */
export const consentRestRoutes: RoutePlugin<ConsentRouteOptions> = async (app, { consents, access }) => {
  app.get(
    '/patients/:id/consents',
    {
      config: { permission: 'consent.read' },
      schema: {
        tags: ['consent'],
        summary: "A patient's consents: the decision per channel and purpose, and the ledger newest first",
        params: PatientParam,
        response: { 200: ConsentViewSchema, ...problems(401, 403, 404) },
      },
    },
    async (req) => {
      const ctx = await access.patient(req.principal!, requestContext(req), req.params.id);
      return consents.view(ctx, req.params.id);
    },
  );

  app.put(
    '/patients/:id/consents',
    {
      config: { permission: 'consent.write' },
      schema: {
        tags: ['consent'],
        summary: "Append decisions to a patient's consent ledger (in order, all or none); answers the new state",
        description:
          'Each decision covers one channel (or `*`: every channel) and one purpose (or `*`, the default: every purpose); ' +
          'the latest decision covering a channel and purpose is in force, at creation and at send time. ' +
          'Recorded with source `staff` when a person calls, `api` when a system does.',
        params: PatientParam,
        body: ConsentChanges,
        response: { 200: ConsentViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const ctx = await access.patient(req.principal!, requestContext(req), req.params.id);
      const source: ConsentSource = req.principal!.kind === 'user' ? 'staff' : 'api';
      await consents.recordMany(ctx, req.params.id, req.body.consents, source);
      return consents.view(ctx, req.params.id);
    },
  );

  app.get(
    '/me/consents',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: "The signed-in patient's consents: the decision per channel and purpose, and the ledger",
        response: { 200: ConsentViewSchema, ...problems(401, 403) },
      },
    },
    async (req) => {
      const { ctx, patientId } = self(req);
      return consents.view(ctx, patientId);
    },
  );

  app.put(
    '/me/consents',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: 'The signed-in patient changes their own consents (source `portal`); answers the new state',
        body: ConsentChanges,
        response: { 200: ConsentViewSchema, ...problems(400, 401, 403) },
      },
    },
    async (req) => {
      const { ctx, patientId } = self(req);
      await consents.recordMany(ctx, patientId, req.body.consents, 'portal');
      return consents.view(ctx, patientId);
    },
  );

  app.get(
    '/consent/keywords',
    {
      config: { permission: 'consent.manage' },
      schema: {
        tags: ['consent'],
        summary: "The tenant's SMS keywords (opt-out, opt-in, help, per language) and the answers sent back",
        response: { 200: KeywordSettingsSchema, ...problems(401, 403) },
      },
    },
    async (req) => consents.keywordSettings(req.principal!.tenantId),
  );

  app.put(
    '/consent/keywords',
    {
      config: { permission: 'consent.manage' },
      schema: {
        tags: ['consent'],
        summary: "Replace the tenant's SMS keywords and answers (the FCC 2024 / CTIA words cannot be removed)",
        description:
          'Answers may use `{organisation}` and `{contact}`; the HELP answers must tell how to stop. ' +
          'Bad settings answer 400 `SP_CONSENT_KEYWORDS_INVALID` and change nothing.',
        body: KeywordSettingsSchema,
        response: { 200: KeywordSettingsSchema, ...problems(400, 401, 403) },
      },
    },
    async (req) => consents.setKeywordSettings(requestContext(req), req.body as KeywordSettings),
  );
};
