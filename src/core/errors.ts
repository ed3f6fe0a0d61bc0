/**
 * The single error type of Sealpost. Every failure that reaches a caller carries a stable code
 * (`SP_<AREA>_<WHAT>`, listed in docs/errors.md), an HTTP status and a PHI-free message.
 */
export const ERROR_CODES = {
  SP_REQ_MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  SP_REQ_VALIDATION: { status: 400, title: 'The request does not match the schema' },
  SP_REQ_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  SP_REQ_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  SP_REQ_NOT_FOUND: { status: 404, title: 'No such route' },
  SP_REQ_BAD_URL: { status: 400, title: 'The URL is malformed or a path segment is too long' },
  SP_REQ_MALFORMED_HTTP: { status: 400, title: 'The request is not well-formed HTTP' },
  SP_REQ_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  SP_REQ_TIMEOUT: { status: 408, title: 'The request took too long to arrive' },
  SP_AUTH_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  SP_AUTH_FORBIDDEN: { status: 403, title: 'This credential lacks the permission the route needs' },
  SP_AUTH_MFA_STALE: { status: 401, title: 'Changing second factors needs a recent sign-in with a second factor' },
  SP_AUTH_MFA_REQUIRED: { status: 401, title: 'Sign-in is not complete: a second factor is required' },
  SP_AUTH_MFA_FAILED: { status: 401, title: 'The second factor was not accepted' },
  SP_AUTH_WEBAUTHN_FAILED: { status: 401, title: 'The security key or passkey was not accepted' },
  SP_AUTH_MFA_NOT_PENDING: { status: 409, title: 'This session is not waiting for a second factor' },
  SP_AUTH_MFA_NOT_ENROLLED: { status: 409, title: 'No second factor of this kind is enrolled' },
  SP_AUTH_CLIENT_CERT_REQUIRED: {
    status: 401,
    title: 'This API key is bound to a client certificate; present it in the TLS handshake',
  },
  SP_AUTH_CLIENT_CERT_MISMATCH: {
    status: 403,
    title: 'The client certificate is not the one this API key is bound to',
  },
  SP_AUTH_NO_RELATIONSHIP: { status: 403, title: "Not on this patient's care team (and no live break-glass grant)" },
  SP_CARETEAM_INVALID_MEMBER: { status: 400, title: 'Only an active user with a clinical role can join a care team' },
  SP_BREAK_GLASS_NOT_FOUND: { status: 404, title: 'No live break-glass grant with this id' },
  SP_ALERT_NOT_FOUND: { status: 404, title: 'Alert not found' },
  SP_TENANT_EXISTS: { status: 409, title: 'A tenant with this id already exists' },
  SP_TENANT_INVALID_ID: { status: 400, title: 'Tenant id must be 1-64 characters of [a-z0-9-]' },
  SP_APIKEY_NOT_FOUND: { status: 404, title: 'API key not found' },
  SP_APIKEY_INVALID_SCOPE: { status: 400, title: 'Unknown API key scope' },
  SP_APIKEY_INVALID_CLIENT_CERT: { status: 400, title: 'The client-certificate binding is invalid' },
  SP_APIKEY_INVALID_EXPIRY: { status: 400, title: 'An API key expires in 1 to 730 days' },
  SP_APIKEY_ALREADY_ROTATED: { status: 409, title: 'This API key was already rotated; rotate its successor' },
  SP_OAUTH_CLIENT_NOT_FOUND: { status: 404, title: 'OAuth client not found' },
  SP_OAUTH_INVALID_SCOPE: { status: 400, title: 'Scopes must be SMART system scopes that grant a permission' },
  SP_OAUTH_INVALID_JWKS: { status: 400, title: 'The JWKS is invalid or holds private key material' },
  SP_OAUTH_INVALID_JWKS_URL: { status: 400, title: 'The JWKS URL must be an https URL without credentials' },
  SP_AUTH_LOGIN_FAILED: { status: 401, title: 'Sign-in failed' },
  SP_AUTH_TOKEN_INVALID: { status: 401, title: 'This link is invalid, expired or already used' },
  SP_AUTH_SESSION_NOT_FOUND: { status: 404, title: 'Session not found' },
  SP_USER_EXISTS: { status: 409, title: 'A user with this e-mail address already exists in this tenant' },
  SP_USER_NOT_FOUND: { status: 404, title: 'User not found' },
  SP_USER_NOT_INVITED: {
    status: 409,
    title: 'The user has already enrolled (or is disabled); an enrolment link is only for invited users',
  },
  SP_USER_PASSWORD_WEAK: { status: 400, title: 'The password does not meet the password policy' },
  SP_USER_NO_PASSWORD: { status: 409, title: 'This user signs in through single sign-on and has no password here' },
  SP_USER_INVALID_ROLE: { status: 400, title: 'Unknown or not assignable role' },
  SP_USER_INVALID_EMAIL: { status: 400, title: 'The e-mail address is invalid' },
  SP_USER_INVALID_DISPLAY_NAME: { status: 400, title: 'The display name is invalid' },
  SP_IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency-Key was already used with a different request' },
  SP_PATIENT_NOT_FOUND: { status: 404, title: 'Patient not found' },
  SP_PATIENT_INVALID_ID: {
    status: 400,
    title: 'Patient id must be 1-64 characters of [A-Za-z0-9._-], and not . or ..',
  },
  SP_PATIENT_INVALID_PHONE: { status: 400, title: 'A contact point has an invalid phone number' },
  SP_PATIENT_INVALID_EMAIL: { status: 400, title: 'A contact point has an invalid e-mail address' },
  SP_PATIENT_INVALID_WEBHOOK: { status: 400, title: 'A contact point has an invalid webhook URL (https required)' },
  SP_PATIENT_INVALID_TIMEZONE: { status: 400, title: 'Unknown IANA time zone' },
  SP_PATIENT_INVALID_BIRTH_DATE: { status: 400, title: 'birthDate must be a real past date (YYYY-MM-DD)' },
  SP_PATIENT_ERASED: { status: 410, title: 'This patient was erased (crypto-shredded); the content is gone' },
  SP_PATIENT_ERASE_REQUIRED: { status: 400, title: 'A patient is removed only by erasure: DELETE with ?erase=true' },
  SP_AUTH_CODE_INVALID: { status: 401, title: 'The sign-in code is wrong, expired or already used' },
  SP_AUTH_SSO_FAILED: { status: 401, title: 'Single sign-on failed' },
  SP_AUTH_SSO_NO_ROLE: { status: 403, title: 'Your identity provider groups grant no role here' },
  SP_AUTH_SSO_UNAVAILABLE: { status: 502, title: 'The identity provider cannot be reached' },
  SP_PATIENT_ACCOUNT_EXISTS: { status: 409, title: 'This contact point or patient already has an account' },
  SP_PATIENT_ACCOUNT_NOT_FOUND: { status: 404, title: 'This patient has no active account' },
  SP_PATIENT_ACCOUNT_CONTACT_UNKNOWN: { status: 422, title: "The contact is not one of the patient's contact points" },
  SP_DEVICE_NOT_FOUND: { status: 404, title: 'Device not found' },
  SP_DEVICE_LIMIT: { status: 409, title: 'Too many devices registered; remove one first' },
  SP_NOTIFICATION_UNKNOWN_TYPE: { status: 400, title: 'Unknown notification type' },
  SP_NOTIFICATION_INVALID_DATA: {
    status: 400,
    title: 'Notification data is missing a required field or has a wrong type',
  },
  SP_NOTIFICATION_SEND_AT_PAST: { status: 400, title: 'sendAt is in the past' },
  SP_NOTIFICATION_NO_CHANNEL: { status: 422, title: 'The patient has no contact point for the requested channels' },
  SP_NOTIFICATION_NOT_FOUND: { status: 404, title: 'Notification not found' },
  SP_NOTIFICATION_NOT_CANCELLABLE: {
    status: 409,
    title: 'Every delivery has already been sent; nothing left to cancel',
  },
  SP_DELIVERY_NOT_FOUND: { status: 404, title: 'Delivery not found' },
  SP_CONSENT_NOT_FOUND: { status: 404, title: 'Consent record not found' },
  SP_CONSENT_DENIED: { status: 409, title: 'The patient has denied consent to this channel' },
  SP_FHIR_CONSENT_UNSUPPORTED: { status: 422, title: 'The Consent asks for something Sealpost cannot honour' },
  SP_FHIR_UNKNOWN_CODE: { status: 400, title: 'A coded element has no code Sealpost knows' },
  SP_FHIR_CHANGE_UNSUPPORTED: { status: 422, title: 'This change to the resource is not supported' },
  SP_FHIR_REFERENCE_NOT_FOUND: { status: 422, title: 'A reference names a resource that does not exist' },
  SP_SIGNER_INVALID_KEY: {
    status: 400,
    title: 'The public key is malformed, of another algorithm, or a weak (small-order or non-canonical) point',
  },
  SP_SIGNER_KEY_EXISTS: { status: 409, title: 'This public key is already registered' },
  SP_SIGNER_NOT_FOUND: { status: 404, title: 'Signer not found' },
  SP_SIGNATURE_UNKNOWN_SIGNER: { status: 422, title: 'The signature names an unknown or revoked signer' },
  SP_SIGNATURE_INVALID: { status: 422, title: 'The detached signature does not verify over the canonical request' },
  SP_SIGNATURE_REPLAYED: { status: 409, title: 'This signed request was already accepted' },
  SP_PROOF_NOT_FOUND: { status: 404, title: 'No signature proof exists for this notification' },
  SP_APPOINTMENT_NOT_FOUND: { status: 404, title: 'Appointment not found' },
  SP_APPOINTMENT_INVALID_TIME: { status: 400, title: 'Appointment start/end are invalid' },
  SP_TEMPLATE_PHI_IN_NUDGE: { status: 500, title: 'A nudge template uses a PHI variable' },
  SP_TEMPLATE_INVALID: { status: 500, title: 'A template is invalid' },
  SP_PORTAL_LINK_INVALID: { status: 404, title: 'This link is invalid, expired or has been used too many times' },
  SP_PORTAL_VERIFICATION_FAILED: { status: 401, title: 'The answer did not match' },
  SP_PORTAL_SESSION_REQUIRED: { status: 401, title: 'Verify your identity first' },
  SP_PORTAL_LINK_GONE: { status: 410, title: 'This message is no longer available' },
  SP_CHANNEL_SEND_FAILED: { status: 502, title: 'The channel provider rejected or failed the message' },
  SP_CHANNEL_TIMEOUT: { status: 504, title: 'The channel provider did not answer in time' },
  SP_CHANNEL_TLS_REJECTED: { status: 502, title: "The provider's TLS certificate did not verify" },
  SP_CHANNEL_ADDRESS_REFUSED: { status: 502, title: 'The destination address is not allowed' },
  SP_CHANNEL_INVALID_SIGNATURE: { status: 403, title: 'Provider callback signature is invalid' },
  SP_AUDIT_PROOF_INVALID: { status: 400, title: 'The proof request is invalid for this log' },
  SP_AUDIT_ENTRY_NOT_FOUND: { status: 404, title: 'No audit entry at this index' },
  SP_AUDIT_PENDING: { status: 409, title: 'The log reaches this index with entries not yet numbered; retry shortly' },
  SP_CRYPTO_DECRYPT_FAILED: { status: 500, title: 'Decryption failed' },
  SP_CRYPTO_KEYRING_INVALID: { status: 500, title: 'The keyring file is invalid or unsafe' },
  SP_CRYPTO_CIPHERTEXT_MALFORMED: { status: 500, title: 'The ciphertext is truncated or of an unknown format' },
  SP_CRYPTO_KEY_UNKNOWN: { status: 500, title: 'The ciphertext names a key the key provider does not hold' },
  SP_CRYPTO_KEY_IN_USE: { status: 409, title: 'The key is current or still used by stored data' },
  SP_CRYPTO_PASSPHRASE_REQUIRED: { status: 500, title: 'The keyring is sealed with a passphrase and none was given' },
  SP_CRYPTO_PASSPHRASE_INVALID: { status: 500, title: 'The keyring passphrase is wrong' },
  SP_CRYPTO_HSM_UNAVAILABLE: { status: 500, title: 'The PKCS#11 module, slot or token is unavailable' },
  SP_CRYPTO_HSM_LOGIN_FAILED: { status: 500, title: 'The PKCS#11 token refused the PIN' },
  SP_CRYPTO_KEYRING_MISMATCH: { status: 500, title: 'The database was written with another keyring' },
  SP_AUDIT_CHECKPOINT_INVALID: { status: 400, title: 'The checkpoint is malformed or its signature does not verify' },
  SP_TLS_CERT_INVALID: { status: 500, title: 'The TLS certificate or key is unusable' },
  SP_TRANSFER_FORMAT_UNKNOWN: { status: 400, title: 'The file is not a Sealpost export of a supported version' },
  SP_TRANSFER_FILE_CORRUPT: { status: 400, title: 'The export file is truncated or altered' },
  SP_TRANSFER_FILE_UNREADABLE: { status: 400, title: 'The export file cannot be read or created' },
  SP_TRANSFER_OUTPUT_EXISTS: { status: 409, title: 'The output file already exists' },
  SP_TRANSFER_MIGRATIONS_MISMATCH: { status: 409, title: 'The export and the database are at different migrations' },
  SP_TRANSFER_TARGET_NOT_EMPTY: { status: 409, title: 'The target database already holds data' },
  SP_CONFIG_INVALID: { status: 500, title: 'Configuration is invalid' },
  SP_CONFIG_NO_INSTALLATION: { status: 500, title: 'No installation where the configuration points' },
  SP_CONFIG_PATH_UNUSABLE: { status: 500, title: 'A configured file or directory cannot be used' },
  SP_SERVER_LISTEN_FAILED: { status: 500, title: 'The server cannot listen on its address and port' },
  SP_STORE_UNAVAILABLE: { status: 503, title: 'The database is unavailable' },
  SP_SERVER_INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra PHI-free detail safe to show to the caller (field names, limits), never values. */
  readonly detail?: string;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ERROR_CODES[code].title}: ${detail}` : ERROR_CODES[code].title, options);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.detail = detail;
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
