import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * A host that is this machine: a literal loopback address (127.0.0.0/8, ::1, or 127/8 mapped into
 * IPv6; brackets allowed) or the name `localhost` (RFC 6761). Only canonical literals count: `127.1`
 * or `2130706433` are not addresses to `isIP` and would go to the resolver, so they are not loopback here.
 * The one place plaintext credentials may go (SEALPOST_TWILIO_BASE_URL http, SEALPOST_SMTP_SECURITY=none,
 * an SNPP login over plain snpp://).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  const v = isIP(h);
  return v !== 0 && LOOPBACK.check(h, v === 4 ? 'ipv4' : 'ipv6');
}
