import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { AlertService } from '../../alerting/alert-service.js';
import type { AlertDetailView } from '../../alerting/alert-views.js';
import { responder, viewerOf } from './clinical-alert-routes.js';

/** No script at all: the page is plain HTML with two same-origin forms. */
const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}' +
  '.high{color:#b00020}.details{white-space:pre-wrap;border-left:3px solid #999;padding-left:.75rem}' +
  'form{display:inline-block;margin-right:.5rem}button{font-size:1.1rem;padding:.5rem 1.25rem}';

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function render(a: AlertDetailView, done?: string): string {
  const open = a.state === 'triggered' || a.state === 'notified' || a.state === 'escalated';
  const id = encodeURIComponent(a.id);
  const actions = open
    ? `<form method="post" action="/alerts/${id}/acknowledge"><button type="submit">Acknowledge</button></form>` +
      `<form method="post" action="/alerts/${id}/decline"><button type="submit">Decline (pass on)</button></form>`
    : '';
  const details =
    a.details === undefined
      ? '<p>Details are shown to the clinicians the alert was sent to and to the patient’s care team.</p>'
      : `<h2>Details</h2><p class="details">${escape(a.details)}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>Alert · Sealpost</title><style>${STYLE}</style></head><body><main>
<h1 class="${a.priority === 'high' ? 'high' : ''}">${escape(a.summary)}</h1>
<p>Priority <strong>${escape(a.priority)}</strong> · state <strong id="state">${escape(a.state)}</strong> · raised ${escape(a.createdAt)}${a.count > 1 ? ` · ${a.count} times` : ''}</p>
${done ? `<p role="status">${escape(done)}</p>` : ''}
${details}
${actions}
</main></body></html>`;
}

export interface AlertPageOptions {
  alerts: AlertService;
}

/**
 * Where a browser without a session is sent: the sign-in page, back to this alert afterwards. The
 * `next` path is built here from the fixed `/alerts/` prefix (never taken from the request as is), so
 * it is always a same-site relative path.
 */
export function loginRedirect(id: string): string {
  return `/login?next=${encodeURIComponent(`/alerts/${encodeURIComponent(id)}`)}`;
}

/**
 * The signed-in alert page the nudges link to (`/alerts/<id>`): summary, details (for recipients
 * and the care team; that read is audited) and Acknowledge / Decline as plain form posts. The
 * session cookie is SameSite=Strict and a cookie-authenticated POST must come from our own origin
 * (api/authenticate.ts), so the forms need no token of their own. The page asks for
 * `referrer: same-origin`: with `no-referrer` browsers send `Origin: null` on the form post, which the
 * origin check must refuse on browsers without Sec-Fetch-Site.
 */
export const alertPages: RoutePlugin<AlertPageOptions> = async (app, { alerts }) => {
  app.get(
    '/alerts/:id',
    {
      config: { permission: 'alert.read' },
      schema: {
        tags: ['alerts'],
        summary:
          'The signed-in alert page (HTML) the nudges link to: summary, details for recipients, Acknowledge and Decline',
        params: IdParam,
        querystring: Type.Object(
          { done: Type.Optional(Type.String({ maxLength: 20 })) },
          { additionalProperties: false },
        ),
        description: 'Without a session: 303 to `/login?next=/alerts/{id}` (a same-site path).',
        response: problems(400, 401, 403, 404),
      },
      // The authorization hook answers a request without credentials 401 before the handler runs;
      // a browser following a nudge's link is better sent to sign in and brought back.
      onSend: async (req, reply, payload) => {
        if (reply.statusCode !== 401 || req.headers.authorization) return payload;
        const id = (req.params as { id?: string }).id ?? '';
        reply.code(303).header('location', loginRedirect(id)).removeHeader('content-type');
        reply.header('content-length', 0);
        return '';
      },
    },
    async (req, reply) => {
      const view = await alerts.get(requestContext(req), req.params.id, viewerOf(req.principal!));
      const done = { acknowledged: 'You acknowledged this alert.', declined: 'You passed this alert on.' }[
        req.query.done ?? ''
      ];
      return reply
        .header('content-security-policy', CSP)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(render(view, done));
    },
  );

  for (const action of ['acknowledge', 'decline'] as const)
    app.post(
      `/alerts/:id/${action}`,
      {
        config: { permission: 'alert.respond', form: true },
        schema: {
          tags: ['alerts'],
          summary: `The alert page's ${action} button (a same-origin form post; 303 back to the page)`,
          params: IdParam,
          response: { 303: Type.Null(), ...problems(400, 401, 403, 404, 409) },
        },
      },
      async (req, reply) => {
        const { by, onlyRecipient, person } = responder(req.principal!, undefined);
        await alerts.respond(
          requestContext(req),
          req.params.id,
          action,
          { ...by, via: 'page' },
          { onlyRecipient, person },
        );
        const done = action === 'acknowledge' ? 'acknowledged' : 'declined';
        return reply
          .code(303)
          .header('location', `/alerts/${encodeURIComponent(req.params.id)}?done=${done}`)
          .send(null);
      },
    );
};
