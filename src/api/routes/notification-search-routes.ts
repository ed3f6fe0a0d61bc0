import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, PatientIdString, problems } from '../schemas.js';
import type { NotificationSearch, SearchScope } from '../../core/notification-search.js';
import type { PatientAccess } from '../../auth/patient-access.js';
import { needsRelationship } from '../../auth/patient-access.js';
import { mayReadNotificationType } from '../../auth/permissions.js';
import { NOTIFICATION_TYPES } from '../../core/domain.js';
import { AppError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const STATUSES = [
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'acknowledged',
  'cancelled',
  'suppressed',
  'failed',
  'dead',
] as const;

const ListItem = Type.Object({
  id: Type.String(),
  type: Type.String(),
  priority: Type.String(),
  status: Type.String(),
  patientId: Type.String({ description: 'Opaque patient id (never an MRN)' }),
  channels: Type.Array(Type.String()),
  sendAt: Type.String(),
  createdAt: Type.String(),
});

const AuditItem = Type.Object({
  index: Type.Integer({ description: 'RFC 9162 leaf index (use it with /v1/audit/proof/inclusion)' }),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  outcome: Type.String(),
  target: Nullable(Type.Object({ type: Type.String(), id: Nullable(Type.String()) })),
  details: Nullable(Type.Record(Type.String(), Type.Unknown())),
  leafHash: Type.String(),
});

export interface NotificationSearchRouteOptions {
  search: NotificationSearch;
  access: PatientAccess;
  store: Store;
  clock: () => Date;
}

/**
 * Finding notifications (ids, types and statuses; no content) and one notification's audit trail.
 * A person sees only the types they may send (a receptionist: appointment reminders) and, as a
 * physician or nurse, only patients of their care team or of a live break-glass grant: the same
 * rules as opening one notification by id.
 */
export const notificationSearchRoutes: RoutePlugin<NotificationSearchRouteOptions> = async (
  app,
  { search, access },
) => {
  app.get(
    '/v1/notifications',
    {
      config: { permission: 'notification.read' },
      schema: {
        tags: ['notifications'],
        summary: 'Search notifications by patient, type, status and creation time (no content)',
        description:
          'Newest first, cursor-paginated. `from` is inclusive, `to` exclusive (creation time). A page may hold fewer than ' +
          '`limit` items and still a `nextCursor` when many notifications did not match the status. Cursors are sealed to ' +
          'the caller and the filters (`SP_REQ_CURSOR_INVALID` otherwise). People see only the types they may send; ' +
          "physicians and nurses only their care team's patients, or with `patientId` also a patient of their live " +
          'break-glass grant (recorded as `access.break_glass_used`); a `patientId` outside the relationship answers an ' +
          'empty page, as an unknown one does. Every search is audited (`notification.searched`: a keyed hash of the ' +
          'filters, the number of results, the patient reference when `patientId` is given).',
        querystring: Type.Object(
          {
            patientId: Type.Optional(PatientIdString),
            type: Type.Optional(Type.Union(NOTIFICATION_TYPES.map((t) => Type.Literal(t)))),
            status: Type.Optional(Type.Union(STATUSES.map((s) => Type.Literal(s)))),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 300, pattern: '^[A-Za-z0-9_-]+$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ListItem), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const p = req.principal!;
      const q = req.query;
      const fromMs = q.from ? Date.parse(q.from) : undefined;
      const toMs = q.to ? Date.parse(q.to) : undefined;
      if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs)
        throw new AppError('SP_REQ_VALIDATION', 'from: must be before to');
      const system = p.kind === 'api-key' || p.kind === 'client';
      if (q.type && !system && !mayReadNotificationType(p.permissions, q.type))
        throw new AppError('SP_AUTH_FORBIDDEN', 'type: not a type this role may read');
      const scope: SearchScope = {
        principalId: `${p.kind}:${p.id}`,
        // People read only the types they may send; filtered in SQL, so hidden types are never scanned.
        types: system ? undefined : NOTIFICATION_TYPES.filter((t) => mayReadNotificationType(p.permissions, t)),
      };
      let ctx = requestContext(req);
      if (needsRelationship(p)) {
        if (q.patientId) {
          // A named patient goes through the same check as opening them by id, so a break-glass grant
          // that lets the caller in is recorded (`access.break_glass_used`). Outside the relationship
          // the answer is an empty page, as for an unknown id: no 403 tells whether the patient exists.
          try {
            ctx = await access.patient(p, ctx, q.patientId);
          } catch (e) {
            if (!(e instanceof AppError) || e.code !== 'SP_AUTH_NO_RELATIONSHIP') throw e;
            scope.none = true;
          }
        } else {
          // Without a named patient, only the care team's patients: a break-glass grant is for one
          // patient the clinician names, not for browsing (and each listed patient would need its own entry).
          scope.careTeamOf = p.id;
        }
      }
      const filter = { ...q, fromMs, toMs, limit: q.limit ?? 50, cursor: q.cursor };
      return search.list(ctx, filter, scope);
    },
  );

  app.get(
    '/v1/notifications/:id/audit',
    {
      config: { permission: 'notification.read' },
      schema: {
        tags: ['notifications', 'audit'],
        summary: "A notification's audit trail: every entry about it and its deliveries, in log order",
        description:
          'Created, attempts, sends, failures, reads, acknowledgement, cancellation and proof reads, with their RFC 9162 leaf ' +
          'indexes. Entries hold identifiers, codes and hashes, never PHI. Same access rules as GET /v1/notifications/{id}.',
        params: IdParam,
        response: { 200: Type.Object({ items: Type.Array(AuditItem) }), ...problems(401, 403, 404) },
      },
    },
    async (req) => {
      const ctx = await access.notification(req.principal!, requestContext(req), req.params.id);
      const items = await search.auditTrail(ctx, req.params.id);
      return {
        items: items.map((e) => ({
          index: e.index,
          at: e.at,
          actor: e.actor,
          action: e.action,
          outcome: e.outcome,
          target: e.target,
          details: e.details,
          leafHash: e.leafHash,
        })),
      };
    },
  );
};
