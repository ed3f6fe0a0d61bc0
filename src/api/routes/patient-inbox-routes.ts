import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import type { Store } from '../../store/store.js';
import type { PatientAccountService, PatientReader } from '../../core/patient-account-service.js';
import type { PatientInboxFeed } from '../../core/patient-inbox-feed.js';
import { AppError } from '../../core/errors.js';
import type { SessionService } from '../../auth/session-service.js';

export interface PatientInboxRouteOptions {
  accounts: PatientAccountService;
  feed: PatientInboxFeed;
  store: Store;
  /** Re-checks the stream's session by the rules (and clock) of every request, without touching it. */
  sessions: SessionService;
  /** Interval of the stream's heartbeat comment; each beat also re-checks the session (default 15 s). */
  heartbeatMs?: number;
  /** Open streams one session may hold on this node; opening one more ends the oldest (default 3). */
  streamsPerSession?: number;
  /** Open streams one patient account may hold on this node, over all its sessions (default 5). */
  streamsPerAccount?: number;
  /** Failures of background reads: codes only (no content ever reaches here). */
  onError?: (e: unknown) => void;
}

const NotificationItem = Type.Object({
  id: Type.String(),
  type: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  status: Type.Union([Type.Literal('unread'), Type.Literal('read'), Type.Literal('acknowledged')]),
  title: Type.String(),
  body: Type.String(),
});
const InboxState = Type.Object({
  total: Type.Integer({ description: 'Notifications the patient can read' }),
  unread: Type.Integer(),
  newest: Type.Union([Type.String(), Type.Null()], { description: "The newest notification's id" }),
  acknowledged: Type.Integer(),
});

/** The reading patient and the session they read with (patient accounts only). */
function reader(req: FastifyRequest): PatientReader & { sessionId: string | null } {
  const p = req.principal!;
  if (p.kind !== 'patient' || !p.patientId) throw new AppError('SP_AUTH_FORBIDDEN');
  return {
    tenantId: p.tenantId,
    accountId: p.id,
    patientId: p.patientId,
    requestId: req.id,
    sourceIp: req.ip,
    sessionId: p.session?.id ?? null,
  };
}

/**
 * The signed-in patient's inbox beyond the list and the read (patient-account-routes.ts): its state
 * (counts and the newest id, no content), acknowledging a notification, and the live stream of state
 * changes (Server-Sent Events) that the portal page listens to. The stream carries counts and ids
 * only; the page fetches content through /v1/me/notifications, where each view is audited.
 */
export const patientInboxRoutes: RoutePlugin<PatientInboxRouteOptions> = async (app, o) => {
  const onError = o.onError ?? (() => {});
  const heartbeatMs = o.heartbeatMs ?? 15_000;
  const perSession = o.streamsPerSession ?? 3;
  const perAccount = o.streamsPerAccount ?? 5;
  /** Open streams on this node: ended when the server closes. */
  const open = new Set<ServerResponse>();
  /**
   * Open streams by session and by account, oldest first. Beyond a limit the oldest is ended with a
   * `superseded` event: the newest stream is the one a person is looking at, and an older one is
   * most often a connection that died unnoticed (a phone that changed networks) or a forgotten tab.
   */
  const bySession = new Map<string, Set<Stream>>();
  const byAccount = new Map<string, Set<Stream>>();
  const join = (index: Map<string, Set<Stream>>, key: string, s: Stream, limit: number) => {
    const set = index.get(key) ?? new Set<Stream>();
    index.set(key, set);
    set.add(s);
    for (const old of [...set].slice(0, Math.max(0, set.size - limit))) old.end('superseded');
  };
  const leave = (index: Map<string, Set<Stream>>, key: string, s: Stream) => {
    const set = index.get(key);
    if (set?.delete(s) && set.size === 0) index.delete(key);
  };

  app.get(
    '/me/inbox',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: "The signed-in patient's inbox at a glance: counts, the newest id and their language (no content)",
        response: {
          200: Type.Object({ ...InboxState.properties, language: Type.String() }),
          ...problems(401, 403),
        },
      },
    },
    async (req) => o.accounts.inboxState(reader(req)),
  );

  app.post(
    '/me/notifications/:id/acknowledge',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: 'Acknowledge one of the signed-in patient’s notifications (marks it read too; audited once)',
        description:
          "Acknowledging again changes nothing. Another patient's notification answers 404, as an unknown id does.",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: NotificationItem, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => o.accounts.acknowledgeNotification(reader(req), req.params.id),
  );

  app.get(
    '/me/inbox/events',
    {
      config: { permission: 'self.messages' },
      schema: {
        tags: ['patient-accounts'],
        summary: "Live changes of the signed-in patient's inbox (Server-Sent Events; counts and ids only)",
        description:
          'A `text/event-stream` (the request must accept it). Each `inbox` event carries the state ' +
          '`{ total, unread, newest, acknowledged }`, sent at once and then whenever it changes (a new ' +
          'notification, a read, an acknowledgement, a cancellation; on any node). Heartbeat comments ' +
          'keep it open; when the session is signed out, revoked, idle past its timeout or expired (or the ' +
          'account disabled), a `signed-out` event is sent and the stream ends. One session holds at most 3 ' +
          'open streams and one account at most 5 (on each node): opening one more ends the oldest with a ' +
          '`superseded` event (a client should not reopen it by itself).',
        headers: Type.Object({ accept: Type.String({ pattern: 'text/event-stream' }) }),
        response: { 200: Type.String({ description: 'text/event-stream' }), ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const r = reader(req);
      // The first state before the stream opens: a failure is an ordinary problem answer.
      let last = JSON.stringify(stateOf(await o.accounts.inboxState(r)));
      // The security headers every answer gets (set on `reply` by the onRequest hook) go out with the stream.
      const headers: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
      });
      open.add(res);
      let closed = false;
      const write = (text: string) => {
        if (!closed) res.write(text);
      };
      write(`retry: 5000\n\nevent: inbox\ndata: ${last}\n\n`);

      /**
       * The session would still pass verification (revoked, absolute deadline, idle timeout: the
       * rules and clock of every request, without counting as activity) and the account is active.
       */
      const standing = async (): Promise<boolean> => {
        if (r.sessionId && !(await o.sessions.live(r.tenantId, r.sessionId))) return false;
        const a = await o.store.read.sessions.patientAccount(r.tenantId, r.accountId);
        return !!a && a.status === 'active';
      };
      const end = (why: 'signed-out' | 'superseded' | null) => {
        if (closed) return;
        if (why) write(`event: ${why}\ndata: {}\n\n`);
        closed = true;
        cleanup();
        res.end();
      };
      const stream: Stream = { end };
      const sessionKey = r.sessionId ? `${r.tenantId}/${r.sessionId}` : null;
      const accountKey = `${r.tenantId}/${r.accountId}`;

      // One read at a time; signals arriving meanwhile make one more read after it.
      let busy = false;
      let again = false;
      const look = async () => {
        if (closed) return;
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        try {
          do {
            again = false;
            if (!(await standing())) return end('signed-out');
            const now = JSON.stringify(stateOf(await o.accounts.inboxState(r)));
            if (now !== last) {
              last = now;
              write(`event: inbox\ndata: ${now}\n\n`);
            }
          } while (again && !closed);
        } catch (e) {
          onError(e);
        } finally {
          busy = false;
        }
      };
      const unwatch = o.feed.watch(r.tenantId, r.patientId, () => void look());
      const beat = setInterval(() => {
        write(': heartbeat\n\n');
        void standing()
          .then((ok) => ok || end('signed-out'))
          .catch(onError);
      }, heartbeatMs);
      const cleanup = () => {
        clearInterval(beat);
        unwatch();
        open.delete(res);
        if (sessionKey) leave(bySession, sessionKey, stream);
        leave(byAccount, accountKey, stream);
      };
      res.on('close', () => {
        closed = true;
        cleanup();
      });
      // Gone while the first state was read: the 'close' above will not come again.
      if (res.destroyed || !res.socket || res.socket.destroyed) {
        closed = true;
        return cleanup();
      }
      // This stream counts from now; beyond a limit the oldest of the session (then of the account) ends.
      if (sessionKey) join(bySession, sessionKey, stream, perSession);
      join(byAccount, accountKey, stream, perAccount);
      // Whatever changed between the first read and the watch is seen by this read.
      void look();
    },
  );

  app.addHook('onClose', async () => {
    for (const res of [...open]) res.end();
    open.clear();
  });
};

/** One open stream, as the limits see it. */
interface Stream {
  end(why: 'signed-out' | 'superseded' | null): void;
}

const stateOf = (s: { total: number; unread: number; newest: string | null; acknowledged: number }) => ({
  total: s.total,
  unread: s.unread,
  newest: s.newest,
  acknowledged: s.acknowledged,
});
