/**
 * The API-key scopes a person may choose, and permissions each one grants (src/auth/permissions.ts,
 * API_KEY_SCOPES). A person can only hand a key permissions they hold themselves (the server checks
 * it: SP_AUTH_FORBIDDEN), so the form offers only scopes whose permissions this person holds. For
 * `admin` (every permission) the list below is a part of what it grants: enough to know nobody
 * without clinical access can delegate it; the server decides in every case.
 */
export const KEY_SCOPES: Record<string, readonly string[]> = {
  integration: [
    'patient.read',
    'patient.write',
    'consent.read',
    'consent.write',
    'contact.webhook',
    'notification.create.scheduling',
    'notification.create.clinical',
    'notification.create.billing',
    'notification.read',
    'notification.cancel',
    'appointment.read',
    'appointment.write',
    'inbound.read',
    'proof.read',
    'subscription.manage',
    'alert.trigger',
    'alert.read',
  ],
  paging: ['alert.read', 'alert.respond'],
  audit: ['audit.read', 'audit.checkpoint', 'disclosure.read'],
  erasure: ['patient.erase'],
  admin: ['patient.read', 'patient.write', 'notification.create.clinical', 'user.manage', 'apikey.manage'],
};

/** Whether a person holding these permissions may create a key or client with this scope. */
export const mayDelegate = (scope: string, can: (p: string) => boolean) => (KEY_SCOPES[scope] ?? []).every(can);
