import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import type { OutboundAddressPolicy } from './outbound-address.js';

/**
 * TLS of every outbound call: SMTP (nodemailer), Twilio and webhooks (fetch), the OIDC provider
 * (openid-client over fetch) and SMART clients' JWKS URLs (fetch). The peer certificate is verified
 * against Node's bundled trust store plus SEALPOST_OUTBOUND_CA_FILE (extra CAs, a PEM bundle).
 * SEALPOST_INSECURE_SKIP_TLS_VERIFY=true (logged as a warning at start, naming all five) turns
 * verification off for these calls only, never process-wide (NODE_TLS_REJECT_UNAUTHORIZED would also
 * disable it for the database and everything else).
 *
 * Node's global fetch is undici; a dispatcher from the same major version (6) is the supported way
 * to change its TLS options per request.
 */
export interface OutboundTls {
  /** Extra trusted CAs (PEM, possibly several), added to Node's bundled store, not replacing it. */
  ca?: string;
  /** Skip certificate verification (SEALPOST_INSECURE_SKIP_TLS_VERIFY; explicit and logged). */
  insecureSkipTlsVerify?: boolean;
}

/** The CA list for a TLS client: Node's bundled roots and the extra ones; undefined = Node's default. */
export function trustedCas(...extra: (string | Buffer | undefined)[]): string[] | undefined {
  const added = extra.filter((c): c is string | Buffer => c !== undefined && c.length > 0).map(String);
  return added.length ? [...rootCertificates, ...added] : undefined;
}

/**
 * The fetch dispatcher of these TLS settings, and of an address policy (outbound-address.ts: its
 * `lookup` resolves once and connects to the address it checked); undefined when Node's defaults apply.
 */
export function outboundDispatcher(tls: OutboundTls, policy?: OutboundAddressPolicy): Agent | undefined {
  const ca = tls.insecureSkipTlsVerify ? undefined : trustedCas(tls.ca);
  const connect = {
    ...(tls.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
    ...(ca ? { ca } : {}),
    ...(policy ? { lookup: policy.lookup } : {}),
  };
  return Object.keys(connect).length ? new Agent({ connect }) : undefined;
}

/** Everything SEALPOST_INSECURE_SKIP_TLS_VERIFY affects, for its start-up warning and the docs. */
export const INSECURE_TLS_WARNING =
  "SEALPOST_INSECURE_SKIP_TLS_VERIFY is on: certificates are NOT verified for SMTP, Twilio, webhooks, the OIDC provider and SMART clients' JWKS URLs";

/** OpenSSL/Node codes of a peer certificate that failed verification (any layer of the cause chain). */
export const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|INVALID_CA/;
