import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientIdString, problems } from '../schemas.js';
import { ACTION_FILTER_PATTERN, parseRange, type AuditQueryService } from '../../core/audit-query-service.js';

const Cursor = Type.String({ pattern: '^[0-9]{1,15}$', description: 'nextCursor of the previous page (a leaf index)' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const AuditItem = Type.Object({
  index: Type.Integer({ description: 'RFC 9162 leaf index of the entry (use it with the proof routes)' }),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  outcome: Type.String(),
  target: Nullable(Type.Object({ type: Type.String(), id: Nullable(Type.String()) })),
  patientRef: Nullable(Type.String({ description: 'Pseudonymous patient reference (keyed hash), not the patient id' })),
  requestId: Nullable(Type.String()),
  sourceIp: Nullable(Type.String()),
  details: Nullable(Type.Record(Type.String(), Type.Unknown())),
  leafHash: Type.String({ description: 'Base64 SHA-256(0x00 ‖ entry)' }),
});

const DisclosureItem = Type.Object({
  index: Type.Integer(),
  at: Type.String(),
  actor: Type.String({ description: 'Who accessed (API key, verified portal link) or transmitted (the worker)' }),
  action: Type.String(),
  what: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
  deliveryId: Type.Optional(Type.String()),
  channel: Type.Optional(Type.String({ description: "Channel of the patient's contact point that received it" })),
  provider: Type.Optional(Type.String({ description: 'Provider that carried it (e.g. twilio, smtp)' })),
});

const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 }));

export interface AuditQueryRouteOptions {
  audit: AuditQueryService;
}

export const auditQueryRoutes: RoutePlugin<AuditQueryRouteOptions> = async (app, { audit }) => {
  app.get(
    '/audit/events',
    {
      config: { permission: 'audit.read' },
      schema: {
        tags: ['audit'],
        summary: 'Search the audit log (audit or admin scope)',
        description:
          'Entries in log order, filtered by patient (translated to its pseudonymous reference), actor (exact), action ' +
          '(exact, or a prefix such as `delivery.*`) and time (`from` inclusive, `to` exclusive). Entries hold identifiers, codes and hashes, never PHI.',
        querystring: Type.Object(
          {
            patientId: Type.Optional(PatientIdString),
            actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            action: Type.Optional(Type.String({ maxLength: 100, pattern: ACTION_FILTER_PATTERN })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Limit,
            cursor: Type.Optional(Cursor),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(AuditItem), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const { from, to, limit, ...rest } = req.query;
      return audit.events(requestContext(req), { ...rest, ...parseRange(from, to), limit: limit ?? 100 });
    },
  );

  app.get(
    '/patients/:id/disclosures',
    {
      config: { permission: 'disclosure.read' },
      schema: {
        tags: ['audit', 'patients'],
        summary: 'Accounting of disclosures of a patient (HIPAA 45 CFR 164.528; audit or admin scope)',
        description:
          "Who received or accessed which of the patient's information, when, and over which channel, derived from the audit log: " +
          "transmissions to the patient's contact points (channel and provider), portal reads, accesses and acknowledgements, and API reads of the record. " +
          'Insecure channels carry only a PHI-free nudge with a one-time link; a transmission is listed because it made the message accessible, ' +
          'and the portal read that follows it is where the content was disclosed. The range defaults to the six years before `to` (or now). ' +
          'An unknown or erased patient has an empty (not a missing) accounting.',
        params: Type.Object({ id: PatientIdString }),
        querystring: Type.Object(
          {
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Limit,
            cursor: Type.Optional(Cursor),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            patientRef: Type.String(),
            from: Type.String(),
            to: Type.String(),
            items: Type.Array(DisclosureItem),
            nextCursor: Nullable(Type.String()),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) =>
      audit.disclosures(requestContext(req), req.params.id, { ...req.query, limit: req.query.limit ?? 100 }),
  );
};
