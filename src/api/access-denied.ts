import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Store } from '../store/store.js';
import type { ErrorCode } from '../core/errors.js';
import { certThumbprint } from '../auth/client-cert.js';

/** What a 403 answer was about, noted where it is decided (error handler, `problem`). */
interface Refusal {
  code: ErrorCode;
  patientRef?: string;
}

const refusals = new WeakMap<FastifyRequest, Refusal>();

/**
 * Notes why this request is refused. The first note wins: the error handler, which knows the
 * patient an AppError was about, notes before it renders the answer.
 */
export function noteRefusal(req: FastifyRequest, code: ErrorCode, patientRef?: string): void {
  if (!refusals.has(req)) refusals.set(req, patientRef ? { code, patientRef } : { code });
}

/** A credential that resolved to a real key or session and was refused before it became the principal. */
export interface RefusedCredential {
  tenantId: string;
  /** `api-key:<id>`, `user:<id>` or `patient-account:<id>`. */
  actor: string;
  /** The presented client certificate's thumbprint, when there was one. */
  certThumbprint?: string | null;
}

const refusedCredentials = new WeakMap<FastifyRequest, RefusedCredential & { code: ErrorCode }>();

/**
 * Notes that a genuine credential was refused before authentication finished (an mTLS-bound key
 * presented with another certificate or none, a real session cookie on a cross-site change), so
 * the refusal goes on the record under that credential's actor. Only authenticators call this,
 * and only once the key or session is known to exist: a made-up credential notes nothing.
 */
export function noteRefusedCredential(req: FastifyRequest, who: RefusedCredential, code: ErrorCode): void {
  refusedCredentials.set(req, { ...who, code });
}

export interface AccessDeniedDeps {
  store: Store;
  clock: () => Date;
}

/**
 * Puts every refused request of an authenticated caller on the record: one `access.denied` entry
 * (outcome failure) with the code, the method and the route TEMPLATE (never the URL: ids in paths
 * can be MRNs), and the pseudonymous patient reference when the refusal was about a known patient.
 * Privacy monitoring counts these (bursts of refused access, SP_AUTH_NO_RELATIONSHIP).
 *
 * Written in a transaction of its own after the route's own was rolled back, before the answer
 * leaves (onSend), so a client that sees its 403 finds the entry in the log. A genuine credential
 * refused before it became the principal (`noteRefusedCredential`: wrong client certificate, a
 * cross-site change with a real session cookie) is recorded the same way under its actor, whatever
 * the status (a bound key without any certificate answers 401). Requests without a valid credential
 * write nothing: an unauthenticated flood costs no log writes.
 */
export function installAccessDeniedAudit(app: FastifyInstance, deps: AccessDeniedDeps): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const p = req.principal;
    const early = p ? undefined : refusedCredentials.get(req);
    if (!p && !early) return payload;
    if (p && reply.statusCode !== 403) return payload;
    const refusal = refusals.get(req);
    const code = early?.code ?? refusal?.code ?? 'SP_AUTH_FORBIDDEN';
    const who = p
      ? { tenantId: p.tenantId, actor: p.actor, cert: p.clientCert ? certThumbprint(req.raw.socket) : null }
      : { tenantId: early!.tenantId, actor: early!.actor, cert: early!.certThumbprint ?? null };
    const cert = who.cert;
    try {
      await deps.store.transaction((tx) =>
        tx.audit.append({
          tenantId: who.tenantId,
          at: deps.clock(),
          actor: who.actor,
          action: 'access.denied',
          outcome: 'failure',
          patientRef: refusal?.patientRef ?? null,
          requestId: req.id,
          sourceIp: req.ip,
          details: {
            code,
            method: req.method,
            route: req.routeOptions.url ?? 'unmatched',
            ...(cert ? { certThumbprint: cert } : {}),
          },
        }),
      );
    } catch (e) {
      // The refusal stands either way; class and code only (driver messages can quote values).
      const cause = e as { name?: string; code?: string };
      req.log.error({ causeName: cause?.name, causeCode: cause?.code }, 'access.denied entry not written');
    }
    return payload;
  });
}
