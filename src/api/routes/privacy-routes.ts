import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientParam, problems } from '../schemas.js';
import { PRIVACY_OUTCOMES, SENSITIVITY_KINDS, type PrivacyAlertService } from '../../core/privacy-alert-service.js';
import { DETECTOR_IDS } from '../../audit/privacy/detector.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Status = Type.Enum(['open', 'investigating', 'closed']);
const Outcome = Type.Enum([...PRIVACY_OUTCOMES], {
  description: 'false_positive, policy_reminder, sanction or breach',
});
const AlertId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });

const Alert = Type.Object({
  id: Type.String(),
  subject: Type.String({
    description: 'Who: an audit actor (`user:<id>`, `api-key:<id>`, `client:<id>`) or `ip:<address>`',
  }),
  detectors: Type.Array(Type.String()),
  score: Type.Number({ description: 'Combined score, 0..100' }),
  status: Status,
  outcome: Nullable(Outcome),
  firstAt: Type.String({ format: 'date-time' }),
  lastAt: Type.String({ format: 'date-time' }),
  reasons: Type.Array(Type.String(), { description: 'PHI-free: numbers and codes' }),
  evidence: Type.Array(Type.Integer(), { description: 'Audit indexes (1-based `idx`), at most 50' }),
  assignee: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const AlertDetail = Type.Intersect([
  Alert,
  Type.Object({
    entries: Type.Array(
      Type.Object({
        idx: Type.Integer(),
        entry: Type.String({ description: "The entry's canonical JSON, exactly as hashed into the log" }),
      }),
      {
        description: 'The evidence entries as the audit log holds them (identifiers and hashes, no PHI)',
      },
    ),
    notes: Type.Array(
      Type.Object({ at: Type.String({ format: 'date-time' }), author: Type.String(), text: Type.String() }),
    ),
    subjectPerson: Nullable(
      Type.Object(
        {
          displayName: Type.String(),
          email: Type.String(),
          roles: Type.Array(Type.String()),
          status: Type.String({ description: 'invited, active, locked or disabled' }),
        },
        { description: "The tenant's staff account the alert is about (subject `user:<id>`), else null" },
      ),
    ),
  }),
]);
const Suppression = Type.Object({
  id: Type.String(),
  detector: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  reason: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  expired: Type.Boolean(),
});
const Sensitive = Type.Object({
  patientRef: Type.String({
    description: "The patient's pseudonymous audit reference (the `patient` of audit entries)",
  }),
  kind: Type.Enum([...SENSITIVITY_KINDS]),
  setBy: Type.String(),
  setAt: Type.String({ format: 'date-time' }),
});
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

export interface PrivacyRouteOptions {
  privacy: PrivacyAlertService;
}

/**
 * Privacy monitoring for privacy officers and administrators: the alerts the monitor raised from
 * the audit log, their lifecycle, notes and suppression rules, and the sensitive-patient flags.
 * Registered under `/v1`. Every change is audited; nothing here answers PHI.
 */
export const privacyRoutes: RoutePlugin<PrivacyRouteOptions> = async (app, { privacy }) => {
  app.get(
    '/privacy/alerts',
    {
      config: { permission: 'privacy.read' },
      schema: {
        tags: ['privacy'],
        summary: 'Privacy alerts, ranked: open first, then investigating, then closed; by score within each',
        querystring: Type.Object(
          {
            status: Type.Optional(Status),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Alert), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) =>
      privacy.list(requestContext(req), {
        status: req.query.status,
        limit: req.query.limit ?? 100,
        cursor: req.query.cursor,
      }),
  );

  app.get(
    '/privacy/alerts/:id',
    {
      config: { permission: 'privacy.read' },
      schema: {
        tags: ['privacy'],
        summary: 'One privacy alert with its evidence entries and notes',
        params: AlertId,
        response: { 200: AlertDetail, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => privacy.get(requestContext(req), req.params.id),
  );

  app.post(
    '/privacy/alerts/:id/investigate',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary: 'Start investigating an open alert (assigned to the caller)',
        description: 'Only an open alert: anything else answers 409 SP_PRIVACY_TRANSITION_INVALID.',
        params: AlertId,
        response: { 200: Alert, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => privacy.investigate(requestContext(req), req.params.id),
  );

  app.post(
    '/privacy/alerts/:id/close',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary: 'Close an open or investigating alert with an outcome and a note (stored encrypted)',
        description: 'An alert is closed once: a second close answers 409 SP_PRIVACY_TRANSITION_INVALID.',
        params: AlertId,
        body: Type.Object({ outcome: Outcome, note: Text(4000) }, { additionalProperties: false }),
        response: { 200: Alert, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) =>
      privacy.close(requestContext(req), req.params.id, {
        outcome: req.body.outcome,
        note: req.body.note,
      }),
  );

  app.post(
    '/privacy/alerts/:id/notes',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary:
          'Add a note to an alert that is not closed (stored encrypted; the audit records only that one was written)',
        params: AlertId,
        body: Type.Object({ text: Text(4000) }, { additionalProperties: false }),
        response: { 201: AlertDetail, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await privacy.addNote(requestContext(req), req.params.id, req.body.text)),
  );

  app.get(
    '/privacy/suppressions',
    {
      config: { permission: 'privacy.read' },
      schema: {
        tags: ['privacy'],
        summary: 'Suppression rules in force (`expired=true`: expired ones too), newest first',
        querystring: Type.Object({ expired: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Suppression) }), ...problems(400, 401, 403) },
      },
    },
    async (req) => ({ items: await privacy.suppressions(requestContext(req), req.query.expired === true) }),
  );

  app.post(
    '/privacy/suppressions',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary: 'Suppress findings of a detector, of a subject, or of a detector for a subject, until an expiry',
        description:
          'Names a detector, a subject or both (neither: 400 SP_PRIVACY_SUPPRESSION_INVALID); `expiresAt` in the future, at most 366 days ahead. Suppressed findings raise no alert; the detectors still learn from the entries.',
        body: Type.Object(
          {
            detector: Type.Optional(Nullable(Type.String({ maxLength: 64, description: DETECTOR_IDS.join(', ') }))),
            subject: Type.Optional(
              Nullable(Type.String({ maxLength: 200, pattern: '^(user|api-key|client|ip):[^\\s]+$' })),
            ),
            reason: Text(2000),
            expiresAt: Type.String({ format: 'date-time' }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Suppression, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await privacy.suppress(requestContext(req), req.body)),
  );

  app.delete(
    '/privacy/suppressions/:id',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary: 'Remove a suppression rule (findings raise alerts again from now on)',
        params: AlertId,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await privacy.unsuppress(requestContext(req), req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/privacy/sensitive-patients',
    {
      config: { permission: 'privacy.read' },
      schema: {
        tags: ['privacy'],
        summary: 'Patients flagged as sensitive, by pseudonymous reference (no patient ids)',
        response: { 200: Type.Object({ items: Type.Array(Sensitive) }), ...problems(401, 403) },
      },
    },
    async (req) => ({ items: await privacy.sensitivePatients(requestContext(req)) }),
  );

  app.put(
    '/patients/:id/sensitivity',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary: 'Flag a patient as sensitive (a staff member, a VIP, or flagged): every access to them is reviewed',
        params: PatientParam,
        body: Type.Object({ kind: Type.Enum([...SENSITIVITY_KINDS]) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ patientRef: Type.String(), kind: Type.Enum([...SENSITIVITY_KINDS]) }),
          201: Type.Object({ patientRef: Type.String(), kind: Type.Enum([...SENSITIVITY_KINDS]) }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      const r = await privacy.setSensitivity(requestContext(req), req.params.id, req.body.kind);
      return reply.code(r.created ? 201 : 200).send({ patientRef: r.patientRef, kind: r.kind });
    },
  );

  app.delete(
    '/patients/:id/sensitivity',
    {
      config: { permission: 'privacy.manage' },
      schema: {
        tags: ['privacy'],
        summary: "Clear a patient's sensitivity flag (204 whether or not one was set; 404 for an unknown patient)",
        params: PatientParam,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await privacy.clearSensitivity(requestContext(req), req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/privacy/status',
    {
      config: { permission: 'privacy.read' },
      schema: {
        tags: ['privacy'],
        summary: "The monitor's progress: the last audit index read, entries behind, last run, open alerts",
        response: {
          200: Type.Object({
            enabled: Type.Boolean(),
            cursor: Type.Integer(),
            lag: Type.Integer(),
            lastRunAt: Nullable(Type.String({ format: 'date-time' })),
            openAlerts: Type.Integer(),
          }),
          ...problems(401, 403),
        },
      },
    },
    async (req) => privacy.status(requestContext(req)),
  );
};
