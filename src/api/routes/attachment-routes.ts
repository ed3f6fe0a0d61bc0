import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import type { AttachmentCaller, AttachmentService } from '../../messaging/attachment-store.js';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
const OCTETS = 'application/octet-stream';

/** People only (staff and patient sessions): attachments belong to conversations between people. */
function caller(req: FastifyRequest): AttachmentCaller {
  const p = req.principal!;
  if (p.kind !== 'user' && p.kind !== 'patient') throw new AppError('SP_AUTH_FORBIDDEN');
  return {
    tenantId: p.tenantId,
    actor: p.actor,
    requestId: req.id,
    sourceIp: req.ip,
    person: { kind: p.kind, id: p.id },
  };
}

export interface AttachmentRouteOptions {
  attachments: AttachmentService;
}

/**
 * Encrypted attachments of a conversation (registered under `/v1/conversations`). The body is the
 * client's ciphertext (sdk/src/attachments.ts), read by a bounded parser: a body past
 * `SEALPOST_MESSAGING_MAX_ATTACHMENT_BYTES` is refused (413) as soon as it passes the limit, from
 * its Content-Length when declared, and the connection is closed instead of reading the rest.
 */
export const attachmentRoutes: RoutePlugin<AttachmentRouteOptions> = async (app, { attachments }) => {
  const max = attachments.limits.maxBytes;
  app.addContentTypeParser(OCTETS, (req, payload, done) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return done(new AppError('SP_MESSAGING_ATTACHMENT_TOO_LARGE'));
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    payload.on('data', (chunk: Buffer) => {
      if (over) return;
      n += chunk.length;
      if (n > max) {
        over = true;
        parts.length = 0;
        done(new AppError('SP_MESSAGING_ATTACHMENT_TOO_LARGE'));
        return;
      }
      parts.push(chunk);
    });
    payload.on('end', () => {
      if (!over) done(null, Buffer.concat(parts, n));
    });
    payload.on('error', (e) => {
      if (!over) done(e);
    });
  });
  // A refused upload's remaining bytes are not worth reading: close the connection after the answer.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode === 413) reply.header('connection', 'close');
    return payload;
  });

  app.post(
    '/:id/attachments',
    {
      config: { permission: 'message.use', binary: true },
      schema: {
        tags: ['messaging'],
        summary: 'Upload an encrypted attachment (ciphertext) to a conversation',
        description:
          'The body is the ciphertext the client made (application/octet-stream), at most ' +
          'SEALPOST_MESSAGING_MAX_ATTACHMENT_BYTES. `deviceId` is an active messaging device of the caller ' +
          'that is a member of the conversation. A message names the attachment by id within 24 hours, ' +
          'or it is deleted.',
        params: Type.Object({ id: Id }),
        querystring: Type.Object({ deviceId: Id }, { additionalProperties: false }),
        body: Type.Unsafe<Buffer>({
          content: { [OCTETS]: { schema: { description: 'The ciphertext', format: 'binary' } } },
        }),
        response: {
          201: Type.Object({ id: Type.String(), size: Type.Integer({ description: 'bytes stored' }) }),
          ...problems(400, 401, 403, 404, 409, 413, 415),
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const { deviceId } = req.query;
      const who = caller(req);
      const body: unknown = req.body;
      // No body at all is a validation error (400) before any lookup; a JSON body is the wrong media type.
      if (body === undefined || body === null || (body instanceof Buffer && body.length === 0))
        throw new AppError('SP_REQ_VALIDATION', 'body: an attachment is at least 1 byte');
      if (!(body instanceof Buffer)) throw new AppError('SP_REQ_UNSUPPORTED_MEDIA_TYPE');
      return reply.code(201).send(await attachments.upload(who, id, deviceId, body));
    },
  );

  app.get(
    '/:id/attachments/:attachmentId',
    {
      config: { permission: 'message.use' },
      schema: {
        tags: ['messaging'],
        summary: 'Download an attachment (the ciphertext as uploaded)',
        description: 'Members only: the caller has an active messaging device in the conversation.',
        params: Type.Object({ id: Id, attachmentId: Id }),
        response: {
          200: Type.Unsafe<Buffer>({ content: { [OCTETS]: { schema: { type: 'string', format: 'binary' } } } }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      const { id, attachmentId } = req.params;
      const data = await attachments.download(caller(req), id, attachmentId);
      return reply.type(OCTETS).send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    },
  );
};
