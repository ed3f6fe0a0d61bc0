import { SIGN_IN_FAILURE, SIGN_IN_SUCCESS, signInAccount, type AuditFact } from '../audit-fact.js';
import { capEvidence, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01 } from './stats.js';

interface AddressState {
  /** Sign-in attempts from the address: [at, idx, failed 1|0, account or ''] */
  recent: [number, number, number, string][];
  firedStart: number;
  firedAt: number;
}

interface AccountState {
  /** Failed attempts on the account: [at, idx, address] */
  recent: [number, number, string][];
  firedStart: number;
  firedAt: number;
}

/**
 * credential_stuffing and account_many_addresses, over failed password sign-ins (staff and patient
 * portal). Stuffing: one address failing on many distinct accounts within an hour, while failures are
 * most of that address's attempts (a hospital's shared NAT address sees many people mistype, but
 * many more succeed). The other way round: one account failing from many addresses (a botnet working
 * through one account, or a password spray spread over addresses).
 */
export class SignInDetector implements Detector {
  readonly ids = ['credential_stuffing', 'account_many_addresses'] as const;
  private addresses = new Map<string, AddressState>();
  private accounts = new Map<string, AccountState>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    const failed = SIGN_IN_FAILURE.has(f.action);
    if (!failed && !SIGN_IN_SUCCESS.has(f.action)) return [];
    const out: Finding[] = [];
    const account = failed ? signInAccount(f) : null;
    if (f.ip) {
      const stuffing = this.byAddress(f, failed, account);
      if (stuffing) out.push(stuffing);
    }
    if (failed && account && f.ip) {
      const spread = this.byAccount(f, account, f.ip);
      if (spread) out.push(spread);
    }
    return out;
  }

  private byAddress(f: AuditFact, failed: boolean, account: string | null): Finding | null {
    const p = this.p;
    const key = `${f.tenant}|${f.ip}`;
    let s = this.addresses.get(key);
    if (!s) {
      if (!failed) return null; // successes alone need no state
      this.addresses.set(key, (s = { recent: [], firedStart: 0, firedAt: 0 }));
    }
    s.recent.push([f.at, f.idx, failed ? 1 : 0, account ?? '']);
    while (s.recent.length > 0 && (s.recent[0]![0] <= f.at - p.stuffingWindowMs || s.recent.length > p.signInRing))
      s.recent.shift();
    if (!failed) return null;
    const accounts = new Set<string>();
    let failures = 0;
    for (const r of s.recent)
      if (r[2]) {
        failures++;
        if (r[3]) accounts.add(r[3]);
      }
    const n = accounts.size;
    const share = failures / s.recent.length;
    if (n < p.stuffingAccounts || share < p.stuffingFailureShare) {
      if (s.firedAt && f.at - s.firedStart > p.stuffingWindowMs) s.firedAt = 0;
      return null;
    }
    if (s.firedAt && n < 2 * s.firedAt) return null;
    if (!s.firedAt) s.firedStart = s.recent[0]![0];
    s.firedAt = n;
    return {
      detector: 'credential_stuffing',
      tenantId: f.tenant,
      subject: `ip:${f.ip}`,
      at: f.at,
      windowStart: s.recent[0]![0],
      score: clamp01(0.7 + (0.3 * (n - p.stuffingAccounts)) / (4 * p.stuffingAccounts)),
      reason: `${failures} failed sign-ins on ${n} accounts from one address in ${p.stuffingWindowMs / 60_000} min (${Math.round(share * 100)}% of its attempts)`,
      evidence: capEvidence(s.recent.filter((r) => r[2]).map((r) => r[1])),
      key: `credential_stuffing:${f.ip}:${s.firedStart}`,
    };
  }

  private byAccount(f: AuditFact, account: string, ip: string): Finding | null {
    const p = this.p;
    const key = `${f.tenant}|${account}`;
    let s = this.accounts.get(key);
    if (!s) this.accounts.set(key, (s = { recent: [], firedStart: 0, firedAt: 0 }));
    s.recent.push([f.at, f.idx, ip]);
    while (s.recent.length > 0 && (s.recent[0]![0] <= f.at - p.manyAddressesWindowMs || s.recent.length > p.signInRing))
      s.recent.shift();
    const n = new Set(s.recent.map((r) => r[2])).size;
    if (n < p.manyAddresses) {
      if (s.firedAt && f.at - s.firedStart > p.manyAddressesWindowMs) s.firedAt = 0;
      return null;
    }
    if (s.firedAt && n < 2 * s.firedAt) return null;
    if (!s.firedAt) s.firedStart = s.recent[0]![0];
    s.firedAt = n;
    return {
      detector: 'account_many_addresses',
      tenantId: f.tenant,
      subject: account,
      at: f.at,
      windowStart: s.recent[0]![0],
      score: clamp01(0.65 + (0.35 * (n - p.manyAddresses)) / (3 * p.manyAddresses)),
      reason: `${s.recent.length} failed sign-ins on one account from ${n} addresses in ${p.manyAddressesWindowMs / 60_000} min`,
      evidence: capEvidence(s.recent.map((r) => r[1])),
      key: `account_many_addresses:${account}:${s.firedStart}`,
    };
  }

  advance(nowMs: number): Finding[] {
    const p = this.p;
    for (const [k, s] of this.addresses)
      if (s.recent.length === 0 || s.recent[s.recent.length - 1]![0] <= nowMs - p.stuffingWindowMs)
        this.addresses.delete(k);
    for (const [k, s] of this.accounts)
      if (s.recent.length === 0 || s.recent[s.recent.length - 1]![0] <= nowMs - p.manyAddressesWindowMs)
        this.accounts.delete(k);
    return [];
  }

  snapshot(): unknown {
    return { addresses: [...this.addresses], accounts: [...this.accounts] };
  }

  restore(state: unknown): void {
    const st = (state ?? { addresses: [], accounts: [] }) as {
      addresses: [string, AddressState][];
      accounts: [string, AccountState][];
    };
    this.addresses = new Map(st.addresses);
    this.accounts = new Map(st.accounts);
  }
}
