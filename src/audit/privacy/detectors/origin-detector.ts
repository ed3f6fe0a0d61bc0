import { actorKind, type AuditFact } from '../audit-fact.js';
import type { Detector, Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';

interface CredentialState {
  firstSeen: number;
  /** Origin → last seen (ms): `net:<prefix>` and `cert:<thumbprint>`. */
  origins: Record<string, number>;
}

/**
 * credential_new_origin: an API key or SMART client (`api-key:`, `client:`) used from a network it
 * has never been used from, or with a client certificate it never presented, once its first week
 * (`originLearnMs`) is over: everything seen in that week is learned, not alerted. Addresses are
 * compared by prefix (IPv4 /24, IPv6 /64), so a cloud integration moving within its pool stays quiet.
 * A stolen key replayed from elsewhere is the incident. Each new origin alerts once, then is learned.
 */
export class OriginDetector implements Detector {
  readonly ids = ['credential_new_origin'] as const;
  private creds = new Map<string, CredentialState>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    const kind = actorKind(f.actor);
    if (kind !== 'api-key' && kind !== 'client') return [];
    const key = `${f.tenant}|${f.actor}`;
    let s = this.creds.get(key);
    if (!s) this.creds.set(key, (s = { firstSeen: f.at, origins: {} }));
    const learning = f.at - s.firstSeen < this.p.originLearnMs;
    const out: Finding[] = [];
    const cert = typeof f.details?.certThumbprint === 'string' ? f.details.certThumbprint : null;
    const seen: [string, string][] = [];
    if (f.ip) seen.push([`net:${this.prefix(f.ip)}`, 'address']);
    if (cert) seen.push([`cert:${cert}`, 'client certificate']);
    for (const [origin, what] of seen) {
      const known = origin in s.origins;
      s.origins[origin] = f.at;
      if (known || learning) continue;
      out.push({
        detector: 'credential_new_origin',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: f.at,
        score: what === 'address' ? 0.7 : 0.8,
        reason: `${kind} used from a new ${what} after its learning period (${Object.keys(s.origins).length - 1} known)`,
        evidence: [f.idx],
        key: `credential_new_origin:${f.actor}:${origin}`,
      });
    }
    const names = Object.keys(s.origins);
    if (names.length > this.p.originMax) {
      // Least recently seen first out (ties by name, so the outcome never depends on insertion order).
      names.sort((a, b) => s.origins[a]! - s.origins[b]! || (a < b ? -1 : 1));
      for (const n of names.slice(0, names.length - this.p.originMax)) delete s.origins[n];
    }
    return out;
  }

  /** The network an address belongs to: IPv4 /24, IPv6 first four hextets (/64). */
  private prefix(ip: string): string {
    const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
    if (v4) {
      const bits: number = this.p.originV4PrefixBits;
      const n = ((+v4[1]! << 24) | (+v4[2]! << 16) | (+v4[3]! << 8) | +v4[4]!) >>> 0;
      const masked = bits === 0 ? 0 : (n & (~0 << (32 - bits))) >>> 0;
      return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${bits}`;
    }
    if (ip.includes(':')) {
      const [head = '', tail = ''] = ip.split('::');
      const h = head ? head.split(':') : [];
      const t = tail ? tail.split(':') : [];
      const full = ip.includes('::')
        ? [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
        : h;
      return `${full
        .slice(0, this.p.originV6PrefixHextets)
        .map((x) => x.toLowerCase().replace(/^0+(?=.)/, ''))
        .join(':')}::/${this.p.originV6PrefixHextets * 16}`;
    }
    return ip;
  }

  snapshot(): unknown {
    return { creds: [...this.creds] };
  }

  restore(state: unknown): void {
    this.creds = new Map(((state ?? { creds: [] }) as { creds: [string, CredentialState][] }).creds);
  }
}
