import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import type { AuditLog, Checkpoint } from '../../audit/audit-log.js';
import { AppError } from '../../core/errors.js';

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');
const CheckpointView = Type.Object({
  size: Type.Integer(),
  root: Type.String(),
  note: Type.String(),
  createdAt: Type.String(),
});
const view = (c: Checkpoint) => ({
  size: c.size,
  root: b64(c.root),
  note: c.note,
  createdAt: c.createdAt.toISOString(),
});
const audit = { permission: 'audit.read' as const };
const int = (o: Record<string, unknown> = {}) => Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, ...o });

export interface AuditLogRouteOptions {
  log: AuditLog;
}

/**
 * The transparency-log view of the audit trail: signed checkpoints, RFC 9162 proofs and raw entries,
 * so an outside party can keep a checkpoint and later prove the log was only ever appended to.
 */
export const auditLogRoutes: RoutePlugin<AuditLogRouteOptions> = async (app, { log }) => {
  app.get(
    '/checkpoint',
    {
      config: audit,
      schema: {
        tags: ['audit'],
        summary: 'Latest signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note), as text',
        produces: ['text/plain'],
      },
    },
    async (_req, reply) => {
      const c = (await log.latest()) ?? (await log.checkpoint());
      return reply.type('text/plain; charset=utf-8').send(c.note);
    },
  );

  app.get(
    '/checkpoints',
    {
      config: audit,
      schema: {
        tags: ['audit'],
        summary: 'Checkpoint history, oldest first',
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(CheckpointView),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
            verifierKey: Type.String(),
          }),
          ...problems(401, 403),
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const items = await log.history(req.query.cursor === undefined ? -1 : Number(req.query.cursor), limit);
      return {
        items: items.map(view),
        nextCursor: items.length === limit ? String(items[items.length - 1].size) : null,
        verifierKey: log.verifierKey(),
      };
    },
  );

  app.post(
    '/checkpoints',
    {
      config: { permission: 'audit.checkpoint' },
      schema: {
        tags: ['audit'],
        summary: 'Integrate everything appended so far and sign a checkpoint now',
        response: { 201: CheckpointView, ...problems(401, 403) },
      },
    },
    async (_req, reply) => reply.code(201).send(view(await log.checkpoint())),
  );

  app.get(
    '/proof/inclusion',
    {
      config: audit,
      schema: {
        tags: ['audit'],
        summary: 'RFC 9162 §2.1.3 inclusion proof of entry `index` in the tree of `size` entries',
        querystring: Type.Object({ index: int(), size: int({ minimum: 1 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            index: Type.Integer(),
            size: Type.Integer(),
            leafHash: Type.String(),
            proof: Type.Array(Type.String()),
            root: Type.String(),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const { index, size } = req.query;
      const p = await log.inclusion(index, size);
      return { index, size, leafHash: b64(p.leafHash), proof: p.proof.map(b64), root: b64(p.root) };
    },
  );

  app.get(
    '/proof/consistency',
    {
      config: audit,
      schema: {
        tags: ['audit'],
        summary: 'RFC 9162 §2.1.4 consistency proof between the trees of `from` and `to` entries',
        querystring: Type.Object(
          { from: int({ minimum: 1 }), to: int({ minimum: 1 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            from: Type.Integer(),
            to: Type.Integer(),
            proof: Type.Array(Type.String()),
            root1: Type.String(),
            root2: Type.String(),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const { from, to } = req.query;
      const p = await log.consistency(from, to);
      return { from, to, proof: p.proof.map(b64), root1: b64(p.root1), root2: b64(p.root2) };
    },
  );

  app.get(
    '/entries/:index',
    {
      config: audit,
      schema: {
        tags: ['audit'],
        summary: 'One audit entry: its canonical JSON (the leaf data) and leaf hash',
        params: Type.Object({ index: Type.String({ pattern: '^[0-9]{1,15}$' }) }),
        response: {
          200: Type.Object({ index: Type.Integer(), entry: Type.String(), leafHash: Type.String() }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (req) => {
      const e = await log.entry(Number(req.params.index));
      // One Merkle tree holds every tenant's entries, but an entry's content (actors, targets) is its
      // tenant's alone: another tenant's index is not found (ASVS 8.4.1). Proofs carry hashes only.
      if ((JSON.parse(e.entry) as { tenant?: string }).tenant !== req.principal!.tenantId)
        throw new AppError('SP_AUDIT_ENTRY_NOT_FOUND');
      return { index: e.index, entry: e.entry, leafHash: b64(e.leafHash) };
    },
  );
};
