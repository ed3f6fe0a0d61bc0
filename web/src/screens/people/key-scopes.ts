import { API_KEY_SCOPES } from '../../../../src/auth/permissions';

/**
 * The API-key scopes and the permissions each grants: the server's own table (src/auth/permissions.ts),
 * bundled, not copied. A person can only hand a key permissions they hold themselves (the server checks
 * it: SP_AUTH_FORBIDDEN), so the form offers only scopes whose permissions this person holds.
 */
export const KEY_SCOPES: Record<string, readonly string[]> = API_KEY_SCOPES;

/** Whether a person holding these permissions may create a key or client with this scope. */
export const mayDelegate = (scope: string, can: (p: string) => boolean) => (KEY_SCOPES[scope] ?? []).every(can);
