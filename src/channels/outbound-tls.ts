import { Agent } from 'undici';

/**
 * Outbound provider calls (Twilio, webhooks, SMTP) verify the peer certificate against the system
 * trust store by default. SEALPOST_INSECURE_SKIP_TLS_VERIFY=true (logged as a warning at start)
 * turns that off for these channels only, never process-wide (NODE_TLS_REJECT_UNAUTHORIZED would
 * also disable it for the database and everything else).
 *
 * Node's global fetch is undici; a dispatcher from the same major version (6) is the supported way
 * to change its TLS options per request.
 */
export function insecureFetchDispatcher(): Agent {
  return new Agent({ connect: { rejectUnauthorized: false } });
}

/** OpenSSL/Node codes of a peer certificate that failed verification (any layer of the cause chain). */
export const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|INVALID_CA/;
