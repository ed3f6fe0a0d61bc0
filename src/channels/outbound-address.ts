import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { isLoopbackHost } from '../config/loopback.js';

/**
 * Where the server may connect when a URL comes from an API caller (a patient's webhook contact
 * point, a SMART client's JWKS URL): public unicast addresses only. Loopback, private (RFC 1918),
 * link-local (cloud metadata at 169.254.169.254 included), carrier-grade NAT (100.64/10, where
 * 100.100.100.200 serves metadata too), unique-local (fd00:ec2::254 included), unspecified, multicast,
 * broadcast, reserved and documentation ranges are refused, as are IPv6 forms that embed an IPv4
 * address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), which are judged by the address inside
 * or refused outright. Ranges come from ipaddr.js, not from hand-written parsing.
 *
 * The host is resolved once, every address it resolves to is checked, and the connection goes to
 * the address that was checked (the lookup below is the socket's own: no second resolution for a
 * rebinding DNS server to answer differently). An IP-literal host is checked before connecting
 * (Node does not call `lookup` for it).
 *
 * `allowedHosts` (SEALPOST_WEBHOOK_ALLOWED_HOSTS) names exceptions: a host name matches the URL's
 * host; an IP address or CIDR range matches the address it resolves to.
 */
export class OutboundAddressPolicy {
  private readonly names = new Set<string>();
  private readonly ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];

  constructor(allowedHosts: readonly string[] = []) {
    for (const raw of allowedHosts) {
      const entry = raw
        .trim()
        .toLowerCase()
        .replace(/^\[(.*)\]$/, '$1');
      if (!entry) continue;
      if (entry.includes('/')) this.ranges.push(ipaddr.parseCIDR(entry));
      else if (isIP(entry)) {
        const a = ipaddr.process(entry);
        this.ranges.push([a, a.kind() === 'ipv4' ? 32 : 128]);
      } else this.names.add(entry.replace(/\.$/, ''));
    }
  }

  /** Whether `address` (a resolved or literal IP) may be reached for `hostname` (the URL's host). */
  allows(hostname: string, address: string): boolean {
    const host = hostname
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1')
      .replace(/\.$/, '');
    if (this.names.has(host)) return true;
    if (!ipaddr.isValid(address)) return false;
    const a = ipaddr.process(address);
    if (this.ranges.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits))) return true;
    return isPublicUnicast(a);
  }

  /**
   * Checks a URL before a request: plain http only to a loopback host (and that only when allowed),
   * and an IP-literal host now. Throws an OutboundAddressRefused (no connection was attempted).
   */
  assertUrl(url: URL): void {
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) throw new OutboundAddressRefused('https required');
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundAddressRefused('https required');
    const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // A name (`localhost` for http) is checked by `lookup`, when the connection resolves it.
    if (isIP(literal) && !this.allows(url.hostname, literal)) throw new OutboundAddressRefused('address refused');
  }

  /**
   * A `lookup` for net/tls `connect` (and an undici Agent's `connect.lookup`): resolves once, refuses
   * unless every address is allowed, and hands the checked addresses to the socket.
   */
  readonly lookup = (
    hostname: string,
    options: { all?: boolean; family?: number | string; hints?: number } | ((...a: unknown[]) => void),
    callback?: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const cb = (typeof options === 'function' ? options : callback)!;
    const opts = typeof options === 'function' ? {} : options;
    const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : Number(opts.family ?? 0);
    dnsLookup(hostname, { all: true, family: family as 0 | 4 | 6, hints: opts.hints }, (err, addresses) => {
      if (err) return cb(err, []);
      if (!addresses.length || !addresses.every((a) => this.allows(hostname, a.address)))
        return cb(new OutboundAddressRefused('address refused'), []);
      if (opts.all) return cb(null, addresses);
      cb(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** A destination the address policy refused; nothing was sent (code: SP_CHANNEL_ADDRESS_REFUSED). */
export class OutboundAddressRefused extends Error {
  readonly code = 'SP_CHANNEL_ADDRESS_REFUSED';
  constructor(readonly reason: 'https required' | 'address refused') {
    super(`outbound ${reason}`);
    this.name = 'OutboundAddressRefused';
  }
}

/** True when `e` or a cause under it is an address-policy refusal. */
export function isAddressRefusal(e: unknown): boolean {
  for (let cur = e, depth = 0; cur && depth < 6; cur = (cur as { cause?: unknown }).cause, depth += 1) {
    if ((cur as { code?: unknown }).code === 'SP_CHANNEL_ADDRESS_REFUSED') return true;
  }
  return false;
}

/** ::/96, IPv4-compatible IPv6 (deprecated), which ipaddr.js files as plain unicast. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

function isPublicUnicast(a: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (a.kind() === 'ipv6' && a.match(IPV4_COMPATIBLE)) return false;
  // `process` has already turned IPv4-mapped addresses into the IPv4 they carry.
  return a.range() === 'unicast';
}
