import type { Permission } from './permissions.js';
import type { Role } from '../core/domain.js';
import type { ClientCertBinding } from './client-cert.js';

/**
 * Who is calling, once authenticated: an API key, a SMART backend-services client, a staff user
 * or a patient account. Routes and services decide on `permissions` (from auth/permissions.ts) and,
 * for people, on the patient relationship (care team, break-glass).
 */
export interface Principal {
  kind: 'api-key' | 'client' | 'user' | 'patient';
  /** Key id, client id, user id or patient-account id. */
  id: string;
  tenantId: string;
  /** The audit actor: `api-key:<id>`, `client:<id>`, `user:<id>`, `patient-account:<id>`. */
  actor: string;
  /** People only. */
  roles: readonly Role[];
  /** Systems only (API-key scopes, SMART scopes). */
  scopes: readonly string[];
  permissions: ReadonlySet<Permission>;
  /** People: the session the request came with. */
  session?: {
    id: string;
    stage: SessionStage;
    amr: readonly string[];
    transport: 'cookie' | 'bearer';
    mfaAt: number | null;
  };
  /** Patient accounts: the patient whose messages they may read. */
  patientId?: string;
  /** API keys bound to a client certificate (mTLS). */
  clientCert?: ClientCertBinding | null;
}

/** `active`, or a sign-in step still to take: `mfa` (second factor due), `mfa_enrol` (none enrolled yet). */
export type SessionStage = 'active' | 'mfa' | 'mfa_enrol';
