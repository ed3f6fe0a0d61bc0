/**
 * The facts of a breach investigation report derived from its audit entries alone (plus two signed
 * lookup tables carried in the report), so `sealpost verify-report` recomputes them offline and a
 * reader can trust a count without trusting the server that printed it. Pure: no I/O, no clock.
 */

/** An audit entry as stored (src/audit/audit-entry.ts), parsed. */
export interface ParsedEntry {
  v: number;
  at: string;
  tenant: string;
  actor: string;
  action: string;
  outcome: 'success' | 'failure';
  target: { type: string; id: string | null } | null;
  patient: string | null;
  request: string | null;
  ip: string | null;
  details: Record<string, unknown> | null;
}

/** How the report files an entry: what it says about PHI and the people in scope. */
export type EntryCategory = 'disclosure' | 'access' | 'sign_in' | 'session' | 'account' | 'other';

/**
 * Actions that made a patient's information reach or be seen by someone outside the record (the
 * accounting of disclosures' list, core/audit-query-service.ts, plus exports and proofs with content).
 */
export const DISCLOSURE_ACTIONS: ReadonlySet<string> = new Set([
  'delivery.sent',
  'delivery.delivered',
  'notification.read',
  'notification.accessed',
  'notification.acknowledged',
  'notification.proof_read',
  'patient.read',
  'archive.exported',
]);

/**
 * What an action shows of a patient: the kinds of information (HIPAA 164.404(c)(1)(B) asks for the
 * types involved). `notification` means the content of the notification concerned, whose kinds come
 * from its template's variables (NOTIFICATION_FIELD_KINDS). Actions not listed show no PHI (ids only).
 */
export const ACTION_PHI_KINDS: Readonly<Record<string, readonly string[]>> = {
  'patient.read': ['demographics (name, date of birth, language)', 'contact details'],
  'patient.looked_up': ['demographics (name, date of birth, language)', 'patient identifiers (MRN)'],
  'patient.contact_points_read': ['contact details'],
  'patient.contact_point_revealed': ['contact details'],
  'appointment.read': ['appointment details (dates, location, clinician)'],
  'alert.details_read': ['clinical alert details'],
  'alert.notes_read': ['clinical notes'],
  'inbound_messages.read': ["patients' own messages"],
  'archive.exported': ['message archive (conversation content)'],
  'notification.created': ['notification'],
  'notification.read': ['notification'],
  'notification.accessed': ['notification'],
  'notification.acknowledged': ['notification'],
  'notification.proof_read': ['notification'],
  'delivery.sent': ['notification'],
  'delivery.delivered': ['notification'],
};

/** The kind of information each template variable carries (src/core/templates/built-in). */
export const NOTIFICATION_FIELD_KINDS: Readonly<Record<string, string>> = {
  start: 'dates of care',
  end: 'dates of care',
  doseTime: 'dates of care',
  dueDate: 'dates of care',
  pickupBy: 'dates of care',
  collectedOn: 'dates of care',
  location: 'places of care',
  pharmacyName: 'places of care',
  pharmacyAddress: 'places of care',
  clinicianName: 'clinician names',
  orderingClinician: 'clinician names',
  instructions: 'clinical instructions',
  reason: 'reason for care',
  medicationName: 'medications',
  dosage: 'medications',
  testName: 'tests',
  amount: 'billing information',
  statementId: 'billing information',
};

/** Lookups the facts need beyond the entries; carried (signed) in report.json. */
export interface FactLookups {
  /** notification id → notification type (from the entries, else the notifications table). */
  notificationTypes: Record<string, string>;
  /** notification type → its template's PHI variables. */
  templateFields: Record<string, string[]>;
}

export interface ReportFacts {
  entries: number;
  byCategory: Record<EntryCategory, number>;
  byAction: Record<string, number>;
  failures: number;
  actors: string[];
  addresses: string[];
  /**
   * Patients affected: distinct pseudonymous references of a successful access or disclosure. A
   * refused or failed attempt showed nothing and is counted under `refused` instead.
   */
  patientRefs: string[];
  /**
   * Refused attempts: `access.denied` entries and failed accesses and disclosures, and the distinct
   * patient references they were about (whether or not another entry affected the same patient).
   */
  refused: { attempts: number; patientRefs: string[] };
  phi: { kind: string; sources: string[]; entries: number }[];
  notifications: {
    id: string;
    type: string | null;
    created: boolean;
    deliveries: { id: string; channel: string | null; actions: string[] }[];
  }[];
  /** Deliveries that went out (`delivery.sent`), by channel kind: never an address. */
  sentByChannel: Record<string, number>;
  signIns: { attempts: number; succeeded: number; failed: number };
  sessions: { id: string; actor: string; first: string; last: string; actions: number }[];
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function categorise(e: ParsedEntry): EntryCategory {
  if (DISCLOSURE_ACTIONS.has(e.action)) return 'disclosure';
  if (e.action.startsWith('auth.login') || e.action.startsWith('auth.mfa') || e.action === 'user.sso_login')
    return 'sign_in';
  if (e.target?.type === 'session' || e.action.includes('session') || e.action === 'auth.logout') return 'session';
  if (e.patient) return 'access';
  if (e.action.startsWith('user.') || e.action.startsWith('mfa.') || e.action.startsWith('auth.')) return 'account';
  return 'other';
}

/** Whether an entry is a refused attempt: an `access.denied`, or a failed access or disclosure (it showed nothing). */
export function isRefusedAttempt(e: ParsedEntry, cat: EntryCategory = categorise(e)): boolean {
  return e.action === 'access.denied' || (e.outcome === 'failure' && (cat === 'access' || cat === 'disclosure'));
}

/** The notification an entry concerns, if any (its target, or the delivery's `notification` detail). */
export function notificationOf(e: ParsedEntry): string | null {
  if (e.target?.type === 'notification') return e.target.id;
  return str(e.details?.notification);
}

function deliveryChannel(e: ParsedEntry): string | null {
  return str(e.details?.channel);
}

/** Derives every fact from the entries in log order (the builder and the verifier both call this). */
export function deriveFacts(entries: readonly ParsedEntry[], lookups: FactLookups): ReportFacts {
  const byCategory: Record<EntryCategory, number> = {
    disclosure: 0,
    access: 0,
    sign_in: 0,
    session: 0,
    account: 0,
    other: 0,
  };
  const byAction: Record<string, number> = {};
  const actors = new Set<string>();
  const addresses = new Set<string>();
  const refs = new Set<string>();
  const refusedRefs = new Set<string>();
  let refusedAttempts = 0;
  const phi = new Map<string, { sources: Set<string>; entries: number }>();
  const notes = new Map<string, ReportFacts['notifications'][number]>();
  const sentByChannel: Record<string, number> = {};
  const signIns = { attempts: 0, succeeded: 0, failed: 0 };
  const sessions = new Map<string, ReportFacts['sessions'][number]>();
  let failures = 0;

  const addPhi = (kind: string, source: string) => {
    const p = phi.get(kind) ?? { sources: new Set<string>(), entries: 0 };
    p.sources.add(source);
    p.entries++;
    phi.set(kind, p);
  };

  for (const e of entries) {
    const cat = categorise(e);
    byCategory[cat]++;
    byAction[e.action] = (byAction[e.action] ?? 0) + 1;
    if (e.outcome === 'failure') failures++;
    actors.add(e.actor);
    if (e.ip) addresses.add(e.ip);
    if (isRefusedAttempt(e, cat)) {
      refusedAttempts++;
      if (e.patient) refusedRefs.add(e.patient);
    } else if (e.outcome === 'success' && e.patient && (cat === 'access' || cat === 'disclosure')) refs.add(e.patient);

    // Kinds of PHI: only what succeeded showed anything.
    if (e.outcome === 'success' && e.patient) {
      for (const kind of ACTION_PHI_KINDS[e.action] ?? []) {
        if (kind !== 'notification') {
          addPhi(kind, e.action);
          continue;
        }
        const id = notificationOf(e);
        const type = (id && lookups.notificationTypes[id]) || null;
        const fields = type ? (lookups.templateFields[type] ?? []) : [];
        if (!fields.length) addPhi('notification content (type unknown)', e.action);
        for (const f of fields) addPhi(NOTIFICATION_FIELD_KINDS[f] ?? 'other notification content', `${type}.${f}`);
      }
    }

    const nid = notificationOf(e);
    if (nid && (e.action.startsWith('notification.') || e.action.startsWith('delivery.'))) {
      const n = notes.get(nid) ?? {
        id: nid,
        type: lookups.notificationTypes[nid] ?? null,
        created: false,
        deliveries: [],
      };
      if (e.action === 'notification.created') n.created = true;
      if (e.action.startsWith('delivery.') && e.target?.id) {
        let d = n.deliveries.find((x) => x.id === e.target!.id);
        if (!d) n.deliveries.push((d = { id: e.target.id, channel: deliveryChannel(e), actions: [] }));
        d.channel ??= deliveryChannel(e);
        if (!d.actions.includes(e.action)) d.actions.push(e.action);
      }
      notes.set(nid, n);
    }
    if (e.action === 'delivery.sent' && e.outcome === 'success') {
      const ch = deliveryChannel(e) ?? 'unknown';
      sentByChannel[ch] = (sentByChannel[ch] ?? 0) + 1;
    }
    if (cat === 'sign_in' && e.action.startsWith('auth.login')) {
      signIns.attempts++;
      if (e.outcome === 'success') signIns.succeeded++;
      else signIns.failed++;
    }
    if (e.target?.type === 'session' && e.target.id) {
      const s = sessions.get(e.target.id) ?? { id: e.target.id, actor: e.actor, first: e.at, last: e.at, actions: 0 };
      s.last = e.at;
      s.actions++;
      sessions.set(e.target.id, s);
    }
  }

  const sorted = (s: Iterable<string>) => [...s].sort();
  return {
    entries: entries.length,
    byCategory,
    byAction: Object.fromEntries(Object.entries(byAction).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    failures,
    actors: sorted(actors),
    addresses: sorted(addresses),
    patientRefs: sorted(refs),
    refused: { attempts: refusedAttempts, patientRefs: sorted(refusedRefs) },
    phi: [...phi.entries()]
      .map(([kind, p]) => ({ kind, sources: sorted(p.sources), entries: p.entries }))
      .sort((a, b) => (a.kind < b.kind ? -1 : 1)),
    notifications: [...notes.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
    sentByChannel: Object.fromEntries(Object.entries(sentByChannel).sort(([a], [b]) => (a < b ? -1 : 1))),
    signIns,
    sessions: [...sessions.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}
