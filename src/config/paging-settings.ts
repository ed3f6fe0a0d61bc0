import { isIP } from 'node:net';
import { isLoopbackHost } from './loopback.js';

/** The SNPP paging gateway (docs/alerting.md, Paging over SNPP); without `snpp`, pages go to the dev outbox. */
export interface PagingSettings {
  /** SEALPOST_PAGING_SNPP_URL: `snpp://host[:port]` (plain TCP) or `snpps://host[:port]` (TLS from the first byte). */
  snpp?: { host: string; port: number; tls: boolean };
  /** SEALPOST_PAGING_SNPP_LOGIN and _PASSWORD: sent with the SNPP Level 2 `LOGIn` command when set. */
  login?: { id: string; password?: string };
  /** SEALPOST_PAGING_MAX_CHARS: a page's text is cut to this many characters (alphanumeric pagers hold ~240). */
  maxChars: number;
}

type Reader = {
  str: (name: string, def?: string) => string | undefined;
  secret: (name: string) => string | undefined;
  int: (name: string, def: number, min: number, max: number) => number;
};

/** RFC 1861 §2: SNPP's well-known port. */
export const SNPP_DEFAULT_PORT = 444;

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parses `snpp://host[:port]` or `snpps://host[:port]` (IPv6 in brackets); null when malformed. No user
 * info, path, query or fragment: credentials have their own variables (one may come from a file).
 */
export function parseSnppUrl(raw: string): { host: string; port: number; tls: boolean } | null {
  const m = /^(snpps?):\/\/(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]@\s?#]+))(?::(\d{1,5}))?\/?$/i.exec(raw.trim());
  if (!m) return null;
  const host = m[2] ?? m[3]!;
  const port = m[4] === undefined ? SNPP_DEFAULT_PORT : Number(m[4]);
  if (port < 1 || port > 65535) return null;
  if (m[2] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && !HOST_NAME.test(host)) return null;
  return { host, port, tls: m[1]!.toLowerCase() === 'snpps' };
}

/** A LOGIn argument: SNPP separates the login id and password by a space, so neither may hold one. */
const LOGIN_WORD = /^[\x21-\x7E]{1,128}$/;

/**
 * Reads SEALPOST_PAGING_*. Every variable is read whether paging is configured or not (so a
 * misspelling is reported and the configuration test sees them all). Checks, reported together:
 * - the URL is `snpp://` or `snpps://` with a host and an optional port;
 * - login id and password are single printable words, and a password needs a login id;
 * - a login over plain `snpp://` only to a loopback host: LOGIn puts the password on the wire in clear
 *   text (the rule of plaintext SMTP and Twilio over http). A plain `snpp://` gateway without a login is
 *   allowed anywhere: pages carry PHI-free text only, and hospital gateways often sit on the LAN without TLS.
 */
export function pagingSettings({ str, secret, int }: Reader, errors: string[]): PagingSettings {
  const rawUrl = str('PAGING_SNPP_URL');
  const id = str('PAGING_SNPP_LOGIN');
  const password = secret('PAGING_SNPP_PASSWORD');
  const settings: PagingSettings = { maxChars: int('PAGING_MAX_CHARS', 240, 16, 4000) };
  if (rawUrl !== undefined) {
    const snpp = parseSnppUrl(rawUrl);
    if (snpp) settings.snpp = snpp;
    else errors.push('SEALPOST_PAGING_SNPP_URL: expected snpp://host[:port] or snpps://host[:port]');
  }
  if (id !== undefined && !LOGIN_WORD.test(id))
    errors.push('SEALPOST_PAGING_SNPP_LOGIN: expected printable characters without spaces');
  if (password !== undefined && !LOGIN_WORD.test(password))
    errors.push('SEALPOST_PAGING_SNPP_PASSWORD: expected printable characters without spaces');
  if (password !== undefined && id === undefined)
    errors.push('SEALPOST_PAGING_SNPP_LOGIN: required when SEALPOST_PAGING_SNPP_PASSWORD is set');
  if (id !== undefined) {
    settings.login = password === undefined ? { id } : { id, password };
    if (settings.snpp && !settings.snpp.tls && !isLoopbackHost(settings.snpp.host))
      errors.push(
        'SEALPOST_PAGING_SNPP_LOGIN: a login over plain snpp:// is allowed only to a loopback host; use snpps://',
      );
  }
  return settings;
}
