import { Type } from 'typebox';
import websocket from '@fastify/websocket';
import type { WebSocket, RawData } from 'ws';
import type { FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import type { RoutePlugin } from '../types.js';
import type { Store } from '../../store/store.js';
import { problems } from '../schemas.js';
import { bearer } from '../authenticate.js';
import { AppError, isAppError } from '../../core/errors.js';
import type { LiveHub } from '../../messaging/live-hub.js';
import { CLOSE, type LiveConnection } from '../../messaging/live-connection.js';
import type { DeviceDirectory, Person } from '../../messaging/messaging-types.js';

export interface LiveRouteOptions {
  hub: LiveHub;
  devices: DeviceDirectory;
  store: Store;
  /** The installation's public URL: a cookie-authenticated upgrade must come from its origin. */
  publicUrl: string;
  /** Ping interval; a connection that did not answer the previous ping is dropped. */
  keepAliveMs?: number;
  /** Largest frame a client may send (acks are a few dozen bytes); a larger one closes with 1009. */
  maxFrameBytes?: number;
  onError?: (e: unknown) => void;
}

const DEVICE_ID = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The caller as a messaging person, or 403 for API keys and clients (people only). */
function person(req: FastifyRequest): Person {
  const p = req.principal!;
  if (p.kind !== 'user' && p.kind !== 'patient') throw new AppError('SP_AUTH_FORBIDDEN');
  return { kind: p.kind, id: p.id };
}

/**
 * `GET /v1/messaging/live?deviceId=`: the WebSocket of live delivery. Authenticated like every route
 * (the global onRequest hook); the checks below run before the upgrade, so a refusal is an HTTP
 * problem answer and no socket is opened. A session cookie rides along on cross-site requests and a
 * WebSocket handshake is not subject to CORS, so a cookie-authenticated upgrade must carry our own
 * Origin (cross-site WebSocket hijacking); a bearer token cannot be sent by another site's page.
 */
export const messagingLiveRoutes: RoutePlugin<LiveRouteOptions> = async (app, o) => {
  const publicOrigin = new URL(o.publicUrl).origin;
  const onError = o.onError ?? (() => {});
  // Registered here, in this plugin's scope: its upgrade handling and hooks serve these routes only.
  await app.register(websocket, { options: { maxPayload: o.maxFrameBytes ?? 4096 } });

  const accepted = new WeakMap<FastifyRequest, { tenantId: string; deviceId: string; sessionId: string | null }>();
  /** The session each connection was opened with: it ends when that session is signed out or expires. */
  const sessionOf = new WeakMap<LiveConnection, string>();
  // A refused upgrade is answered (401, 403…) over the raw socket, which Node's HTTP server no longer
  // manages after 'upgrade': without this it would stay half-open after the client left, and hold
  // the server's close. ws clears the timeout of a socket it takes over (an accepted upgrade).
  const upgraded = new WeakSet<object>();
  const onUpgrade = (_req: unknown, socket: Socket) => {
    socket.once('end', () => upgraded.has(socket) || socket.destroy());
    socket.setTimeout(10_000, () => upgraded.has(socket) || socket.destroy());
  };
  app.server.on('upgrade', onUpgrade);

  app.route({
    method: 'GET',
    url: '/live',
    config: { permission: 'message.use' },
    schema: {
      tags: ['messaging'],
      summary: 'Live delivery of conversation events to one of the caller’s devices (WebSocket)',
      description:
        'Upgrade to a WebSocket (RFC 6455). Server → client JSON frames: `{ type: "event", event }` ' +
        '(ConversationEvent), `{ type: "key-packages-low", deviceId, cipherSuite }`, `{ type: "revoked" }` ' +
        '(then close 4003). Client → server: `{ type: "ack", conversationId, seq }` (as POST …/cursor). On ' +
        'connect every event after the device’s cursors is sent. A client that reads too slowly is closed ' +
        '(4008) and re-syncs; frames over 4 KiB close with 1009; pings every 30 s. A plain GET answers 426.',
      querystring: Type.Object({ deviceId: DEVICE_ID }, { additionalProperties: false }),
      response: { ...problems(400, 401, 403, 426) },
    },
    preHandler: async (req) => {
      const who = person(req);
      if (!bearer(req)) {
        // Browsers always send Origin on a WebSocket handshake; its absence is not our page either.
        if (req.headers.origin !== publicOrigin) throw new AppError('SP_AUTH_FORBIDDEN');
      }
      const { deviceId } = req.query as { deviceId: string };
      const tenantId = req.principal!.tenantId;
      const d = await o.devices.device(o.store.read, tenantId, deviceId);
      if (!d || d.status !== 'active' || d.person.kind !== who.kind || d.person.id !== who.id)
        throw new AppError('SP_MESSAGING_DEVICE_FORBIDDEN');
      accepted.set(req, { tenantId, deviceId, sessionId: req.principal!.session?.id ?? null });
    },
    handler: async () => {
      throw new AppError('SP_MESSAGING_LIVE_UPGRADE_REQUIRED');
    },
    wsHandler: (socket: WebSocket, req: FastifyRequest) => {
      upgraded.add(req.raw.socket);
      const who = accepted.get(req)!;
      let conn: LiveConnection | null = null;
      socket.on('pong', () => {
        if (conn) conn.alive = true;
      });
      const attached = o.hub.attach(who.tenantId, who.deviceId, socket);
      socket.on('close', () => void attached.then((c) => c.ended()).catch(() => {}));
      socket.on('message', (data: RawData, isBinary: boolean) => {
        void attached.then((c) => onFrame(c, data, isBinary)).catch(onError);
      });
      void attached
        .then((c) => {
          conn = c;
          if (who.sessionId) sessionOf.set(c, who.sessionId);
        })
        .catch(onError);
    },
  });

  async function onFrame(c: LiveConnection, data: RawData, isBinary: boolean): Promise<void> {
    if (c.isClosed) return;
    const ack = isBinary ? null : parseAck(data);
    if (!ack) return c.close(CLOSE.invalidFrame, 'invalid frame');
    try {
      await c.acknowledge(ack.conversationId, ack.seq);
    } catch (e) {
      // A conversation the device may not read, or a seq the reader refuses: bad input, not ours.
      if (isAppError(e)) return c.close(CLOSE.invalidFrame, e.code);
      onError(e);
      c.close(CLOSE.internal, 'ack not recorded');
    }
  }

  // Keep-alive and revocation: each tick drops connections that did not answer the last ping and
  // tells devices revoked since (remote wipe) on this node; `hub.deviceRevoked` tells them at once.
  const tick = setInterval(() => {
    o.hub.forEach((c) => {
      const s = c.socket as WebSocket;
      if (!c.alive) return c.close(CLOSE.goingAway, 'no pong');
      c.alive = false;
      s.ping?.();
      void standing(c)
        .then((st) => {
          if (st === 'revoked') c.revoked();
          // Not a revocation of the device: the client keeps its keys and connects again once signed in.
          else if (st === 'session-ended') c.close(CLOSE.sessionEnded, 'session ended');
        })
        .catch(onError);
    });
  }, o.keepAliveMs ?? 30_000);
  tick.unref();

  /** Whether the device is still active and the session it connected with neither revoked nor expired. */
  async function standing(c: LiveConnection): Promise<'ok' | 'revoked' | 'session-ended'> {
    const d = await o.devices.device(o.store.read, c.tenantId, c.deviceId);
    if (!d || d.status !== 'active') return 'revoked';
    const sessionId = sessionOf.get(c);
    if (!sessionId) return 'ok';
    const s = await o.store.read.sessions.byId(c.tenantId, sessionId);
    return s && s.revoked_at == null && Number(s.expires_at) > Date.now() ? 'ok' : 'session-ended';
  }
  app.addHook('onClose', async () => {
    app.server.off('upgrade', onUpgrade);
    clearInterval(tick);
    o.hub.stop();
  });
};

/** `{ type: 'ack', conversationId, seq }` and nothing else, or null. */
function parseAck(data: RawData): { conversationId: string; seq: number } | null {
  let v: unknown;
  try {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const f = v as Record<string, unknown>;
  if (Object.keys(f).length !== 3 || f.type !== 'ack') return null;
  if (typeof f.conversationId !== 'string' || !ID.test(f.conversationId)) return null;
  if (typeof f.seq !== 'number' || !Number.isSafeInteger(f.seq) || f.seq < 0) return null;
  return { conversationId: f.conversationId, seq: f.seq };
}
