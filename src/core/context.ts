import type { Config } from '../config/config.js';
import type { Store, StoreTx } from '../store/store.js';
import type { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import type { TemplateRegistry } from './templates/template-registry.js';
import type { AuditAppender, AuditEvent } from '../audit/audit-entry.js';
import type { PublishedSigningKey, Signer } from '../crypto/signer.js';
import canonicalize from 'canonicalize';
import { AppError } from './errors.js';
import type { DomainEvents } from './events.js';
import type { InboxSignal } from './patient-inbox-feed.js';

/** Who is acting and on whose behalf; carried into every audit entry. */
export interface RequestContext {
  tenantId: string;
  actor: string;
  requestId?: string;
  sourceIp?: string;
  /**
   * The break-glass grants that allowed this access (auth/patient-access.ts), when the care team did
   * not, by pseudonymous patient reference: an audit entry about such a patient names its grant
   * (`details.breakGlass`); one request may touch several patients under several grants (a batch).
   */
  breakGlassGrants?: Readonly<Record<string, string>>;
  /**
   * The client certificate (SHA-256 of its DER, base64url) when mTLS authenticated the request: its
   * audit entries carry it (`details.certThumbprint`), so a credential used with a new certificate shows.
   */
  certThumbprint?: string;
}

/** Everything core services need, injected by the composition root (app/services.ts). */
export interface CoreDeps {
  config: Config;
  store: Store;
  cipher: EnvelopeCipher;
  templates: TemplateRegistry;
  clock: () => Date;
  newId: () => string;
  /** Tells the local worker that a delivery became due now (no-op when no worker runs here). */
  wake: () => void;
  /**
   * The notary key that signs each notification at creation, and the published keys (current and
   * retired) proofs are checked against. app/services.ts always provides it; services built without it
   * (benches, store-level tests) create unsigned notifications, whose proof answers SP_PROOF_NOT_FOUND.
   */
  signing?: { signer: () => Signer; publishedKeys: () => PublishedSigningKey[] };
  /** Who hears core's state changes, inside their transactions (events.ts); absent: nobody. */
  events?: DomainEvents;
  /** Open patient inboxes, told when a patient's notifications change (patient-inbox-feed.ts); absent: nobody. */
  inbox?: InboxSignal;
}

export function audit(
  tx: AuditAppender,
  ctx: RequestContext,
  at: Date,
  e: Omit<AuditEvent, 'tenantId' | 'actor' | 'requestId' | 'sourceIp' | 'at' | 'outcome'> & {
    outcome?: AuditEvent['outcome'];
  },
): Promise<void> {
  const grant = e.patientRef ? ctx.breakGlassGrants?.[e.patientRef] : undefined;
  return tx.audit.append({
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    requestId: ctx.requestId,
    sourceIp: ctx.sourceIp,
    at,
    outcome: 'success',
    ...e,
    ...(grant || ctx.certThumbprint
      ? {
          details: {
            ...e.details,
            ...(grant ? { breakGlass: grant } : {}),
            ...(ctx.certThumbprint ? { certThumbprint: ctx.certThumbprint } : {}),
          },
        }
      : {}),
  });
}

/** The patient's data key, unwrapped; `null` when the patient has none (unknown or erased). */
export async function patientDataKey(
  deps: CoreDeps,
  tx: StoreTx,
  tenantId: string,
  patientId: string,
): Promise<Buffer | null> {
  const row = await tx.dataKeys.get(tenantId, patientId);
  if (!row) return null;
  return deps.cipher.dataKey(tenantId, patientId, { keyId: row.key_id, wrapped: Buffer.from(row.wrapped) });
}

/**
 * A tenant's own data key named `name` (kept beside the patients' keys, wrapped by the tenant KEK),
 * for sealing staff notes; made on first need when `create`, else `null` until then.
 */
export async function tenantDataKey(
  deps: CoreDeps,
  tx: StoreTx,
  tenantId: string,
  name: string,
  create: boolean,
): Promise<Buffer | null> {
  const existing = await patientDataKey(deps, tx, tenantId, name);
  if (existing || !create) return existing;
  const dk = await deps.cipher.newDataKey(tenantId, name);
  await tx.dataKeys.insert({
    tenant_id: tenantId,
    patient_id: name,
    key_id: dk.wrapped.keyId,
    wrapped: dk.wrapped.wrapped,
    created_at: deps.clock().getTime(),
  });
  return dk.key;
}

export async function requirePatientDataKey(
  deps: CoreDeps,
  tx: StoreTx,
  tenantId: string,
  patientId: string,
): Promise<Buffer> {
  const key = await patientDataKey(deps, tx, tenantId, patientId);
  if (!key) throw new AppError('SP_PATIENT_NOT_FOUND');
  return key;
}

/** Pseudonymous, stable patient reference for audit entries: a keyed hash, never the caller's id. */
export function patientRef(deps: CoreDeps, tenantId: string, patientId: string): string {
  return deps.cipher.blindIndex(tenantId, 'patient.id', patientId).slice(0, 32);
}

/**
 * Fingerprint of a request body for idempotency and replay checks. Keyed (HMAC via the blind-index
 * key): a plain hash of PHI in the database would let anyone with a copy confirm guesses offline.
 */
export function requestFingerprint(deps: CoreDeps, tenantId: string, op: string, value: unknown): string {
  return deps.cipher.blindIndex(tenantId, `request.${op}`, canonicalize(value)!);
}

/**
 * The stored form of a client's Idempotency-Key: a keyed hash (HMAC via the stable reference key,
 * like `requestFingerprint`). Clients put order numbers and the like in their keys; the database
 * holds only this. One HMAC per key; the key itself is never written.
 */
export function idempotencyKeyRef(deps: Pick<CoreDeps, 'cipher'>, tenantId: string, key: string): string {
  return deps.cipher.blindIndex(tenantId, 'idempotency.key', key);
}

/** Pseudonymous reference to a caller-supplied id (appointments) for audit entries. */
export function externalRef(deps: CoreDeps, tenantId: string, kind: string, id: string): string {
  return deps.cipher.blindIndex(tenantId, `${kind}.id`, id).slice(0, 32);
}
