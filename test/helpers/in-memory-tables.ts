import type { AccessLinkRepository } from '../../src/store/repositories/access-link-repository.js';
import type { AppointmentRepository } from '../../src/store/repositories/appointment-repository.js';
import type { ContactPointRepository } from '../../src/store/repositories/contact-point-repository.js';
import type { DataKeyRepository } from '../../src/store/repositories/data-key-repository.js';
import type { DeliveryRepository } from '../../src/store/repositories/delivery-repository.js';
import type { IdempotencyRepository } from '../../src/store/repositories/idempotency-repository.js';
import type { NotificationRepository } from '../../src/store/repositories/notification-repository.js';
import type { OutboxRepository } from '../../src/store/repositories/outbox-repository.js';
import type { PatientRepository } from '../../src/store/repositories/patient-repository.js';
import type {
  PatientIdentifierRepository,
  PatientIdentifierRow,
} from '../../src/store/repositories/patient-identifier-repository.js';
import type { SignerRepository } from '../../src/store/repositories/signer-repository.js';
import type {
  ConsentRepository,
  ConsentRow,
  ConsentSettingsRow,
} from '../../src/store/repositories/consent-repository.js';
import type {
  DeliverySendRow,
  PreferenceRepository,
  PreferenceRow,
  SendLedgerRepository,
} from '../../src/store/repositories/preference-repository.js';
import type { JobOutcome, JobQueue, Lease } from '../../src/queue/job-queue.js';
import type {
  AccessLinkRow,
  AppointmentRow,
  ContactPointRow,
  DeliveryRow,
  IdempotencyRow,
  NotificationRow,
  NotificationSignatureRow,
  OutboxRow,
  PatientRow,
} from '../../src/store/rows.js';
import { emptyIdentityTables, identityRepositories, type IdentityTables } from './in-memory-identity.js';

export interface DataKeyRow {
  tenant_id: string;
  patient_id: string;
  key_id: string;
  wrapped: Uint8Array;
  created_at: number;
}

/**
 * The tables the notification path and the identity paths (in-memory-identity.ts) touch. Rows are
 * never changed in place, only replaced, so a snapshot is a shallow copy of each Map; callers always
 * get copies, as they would get fresh rows.
 */
export interface Tables extends IdentityTables {
  patients: Map<string, PatientRow>;
  patientIdentifiers: Map<string, PatientIdentifierRow>;
  dataKeys: Map<string, DataKeyRow>;
  contactPoints: Map<string, ContactPointRow>;
  notifications: Map<string, NotificationRow>;
  signatures: Map<string, NotificationSignatureRow>;
  deliveries: Map<string, DeliveryRow>;
  accessLinks: Map<string, AccessLinkRow>;
  appointments: Map<string, AppointmentRow>;
  idempotency: Map<string, IdempotencyRow>;
  outbox: Map<string, OutboxRow>;
  consents: Map<string, ConsentRow>;
  consentSettings: Map<string, ConsentSettingsRow>;
  preferences: Map<string, PreferenceRow>;
  sends: Map<string, DeliverySendRow>;
}

export const emptyTables = (): Tables => ({
  patients: new Map(),
  patientIdentifiers: new Map(),
  dataKeys: new Map(),
  contactPoints: new Map(),
  notifications: new Map(),
  signatures: new Map(),
  deliveries: new Map(),
  accessLinks: new Map(),
  appointments: new Map(),
  idempotency: new Map(),
  outbox: new Map(),
  consents: new Map(),
  consentSettings: new Map(),
  preferences: new Map(),
  sends: new Map(),
  ...emptyIdentityTables(),
});

export const copyTables = (t: Tables): Tables =>
  Object.fromEntries(
    Object.entries(t).map(([name, m]: [string, Map<string, unknown>]) => [name, new Map(m)]),
  ) as unknown as Tables;

/** Puts `from`'s rows back into `into`'s Maps (the repositories keep references to those Maps). */
export function restoreTables(into: Tables, from: Tables): void {
  for (const name of Object.keys(into) as (keyof Tables)[]) {
    const m = into[name] as Map<string, unknown>;
    m.clear();
    for (const [k, v] of from[name] as Map<string, unknown>) m.set(k, v);
  }
}

const key = (...parts: string[]) => parts.join('\u0000');
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const copy = <T extends object>(r: T | undefined): T | undefined => (r ? { ...r } : undefined);
const copies = <T extends object>(rs: Iterable<T>): T[] => [...rs].map((r) => ({ ...r }));

/** What a unique index would refuse; the code is SQLite's, which `isUniqueViolation` callers recognise. */
function uniqueViolation(table: string): Error {
  return Object.assign(new Error(`in-memory store: unique violation on ${table}`), {
    code: 'SQLITE_CONSTRAINT_UNIQUE',
  });
}

/** Inserts all rows or, if any key exists already (or repeats), none: one statement's atomicity. */
function insertAll<T extends object>(
  m: Map<string, T>,
  table: string,
  rows: readonly T[],
  keyOf: (r: T) => string,
): void {
  const keys = rows.map(keyOf);
  if (new Set(keys).size !== keys.length || keys.some((k) => m.has(k))) throw uniqueViolation(table);
  rows.forEach((r, i) => m.set(keys[i], { ...r }));
}

function patch<T extends object>(m: Map<string, T>, k: string, set: Partial<T>): T | undefined {
  const row = m.get(k);
  if (!row) return undefined;
  const next = { ...row, ...set };
  m.set(k, next);
  return next;
}

/** The queue's lease condition (sql-job-queue.ts `HELD`): this claim's owner and lease end, still `sending`. */
const holds = (d: DeliveryRow | undefined, lease: Lease): d is DeliveryRow =>
  !!d && d.lease_owner === lease.owner && d.lease_until === lease.until && d.status === 'sending';

const OUTCOME_COLUMNS = [
  'status',
  'run_at',
  'attempts',
  'last_error_code',
  'provider',
  'provider_message_id',
  'sent_at',
  'delivered_at',
  'failed_at',
  'cancelled_at',
] as const;
const PENDING = ['scheduled', 'queued', 'sending'];

/** The repositories over `t`, each implementing only what the notification and identity paths use. */
export function memoryRepositories(t: Tables) {
  const patients = {
    get: async (tenantId, id) => copy(t.patients.get(key(tenantId, id))),
    insert: async (row) => insertAll(t.patients, 'patients', [row as PatientRow], (r) => key(r.tenant_id, r.id)),
    update: async (tenantId, id, set) => void patch(t.patients, key(tenantId, id), set as Partial<PatientRow>),
    updateUnlessMerged: async (tenantId, id, set) => {
      const p = t.patients.get(key(tenantId, id));
      if (!p || p.merged_into != null) return false;
      patch(t.patients, key(tenantId, id), set as Partial<PatientRow>);
      return true;
    },
    getWithKeys: async (tenantId, ids) =>
      [...new Set(ids)].flatMap((id) => {
        const p = t.patients.get(key(tenantId, id));
        const k = t.dataKeys.get(key(tenantId, id));
        return p && k
          ? [
              {
                id,
                language: p.language,
                time_zone: p.time_zone,
                key_id: k.key_id,
                wrapped: k.wrapped,
                merged_into: p.merged_into ?? null,
              },
            ]
          : [];
      }),
    getForSending: async (tenantId, id, idempotencyKey = null) => {
      const p = t.patients.get(key(tenantId, id));
      const k = t.dataKeys.get(key(tenantId, id));
      const idempotency = idempotencyKey === null ? undefined : copy(t.idempotency.get(key(tenantId, idempotencyKey)));
      if (!p || !k) return { patient: undefined, contacts: [], idempotency };
      const contacts = copies(
        [...t.contactPoints.values()]
          .filter((c) => c.tenant_id === tenantId && c.patient_id === id)
          .sort((a, b) => a.rank - b.rank || cmp(a.id, b.id)),
      );
      return {
        patient: {
          id,
          language: p.language,
          time_zone: p.time_zone,
          key_id: k.key_id,
          wrapped: k.wrapped,
          merged_into: p.merged_into ?? null,
        },
        contacts,
        idempotency,
      };
    },
    listLiveNotifications: async (tenantId, patientId) =>
      copies(
        [...t.notifications.values()]
          .filter(
            (n) =>
              n.tenant_id === tenantId && n.patient_id === patientId && n.cancelled_at == null && n.data_ct.length > 0,
          )
          .sort((a, b) => a.created_at - b.created_at || cmp(a.id, b.id)),
      ),
  } satisfies Partial<PatientRepository>;

  const patientIdentifiers = {
    list: async (tenantId, patientId) =>
      copies(
        [...t.patientIdentifiers.values()]
          .filter((r) => r.tenant_id === tenantId && r.patient_id === patientId && r.erased_at == null)
          .sort((a, b) => a.rank - b.rank || cmp(a.id, b.id)),
      ),
    findByIndexes: async (tenantId, bidxs) =>
      copies(
        [...t.patientIdentifiers.values()].filter((r) => r.tenant_id === tenantId && bidxs.includes(r.lookup_bidx)),
      ),
    insert: async (row) => {
      const r = { erased_at: null, ...row } as PatientIdentifierRow;
      // The unique index (tenant_id, lookup_bidx).
      if (
        [...t.patientIdentifiers.values()].some((x) => x.tenant_id === r.tenant_id && x.lookup_bidx === r.lookup_bidx)
      )
        throw uniqueViolation('patient_identifiers');
      insertAll(t.patientIdentifiers, 'patient_identifiers', [r], (x) => x.id);
    },
    update: async (id, set) => void patch(t.patientIdentifiers, id, set as Partial<PatientIdentifierRow>),
    delete: async (ids) => ids.forEach((id) => t.patientIdentifiers.delete(id)),
  } satisfies PatientIdentifierRepository;

  const dataKeys = {
    get: async (tenantId, patientId) => {
      const k = t.dataKeys.get(key(tenantId, patientId));
      return k && { key_id: k.key_id, wrapped: k.wrapped };
    },
    insert: async (row) =>
      insertAll(t.dataKeys, 'data_keys', [row as DataKeyRow], (r) => key(r.tenant_id, r.patient_id)),
  } satisfies Partial<DataKeyRepository>;

  const contactPoints = {
    list: async (tenantId, patientId) =>
      copies(
        [...t.contactPoints.values()]
          .filter((c) => c.tenant_id === tenantId && c.patient_id === patientId)
          .sort((a, b) => a.rank - b.rank || cmp(a.id, b.id)),
      ),
    getMany: async (ids) => copies(ids.flatMap((id) => t.contactPoints.get(id) ?? [])),
    get: async (id) => copy(t.contactPoints.get(id)),
    insert: async (row) => insertAll(t.contactPoints, 'contact_points', [row as ContactPointRow], (r) => r.id),
    update: async (id, set) => void patch(t.contactPoints, id, set as Partial<ContactPointRow>),
    delete: async (ids) => ids.forEach((id) => t.contactPoints.delete(id)),
    setOptOutByIndex: async (tenantId, system, bidx, optedOutAt) => {
      const hit = [...t.contactPoints.values()].filter(
        (c) => c.tenant_id === tenantId && c.system === system && c.value_bidx === bidx,
      );
      for (const c of hit) patch(t.contactPoints, c.id, { opted_out_at: optedOutAt });
      return copies(hit.map((c) => t.contactPoints.get(c.id)!));
    },
  } satisfies Partial<ContactPointRepository>;

  const notifications = {
    insertMany: async (rows) => insertAll(t.notifications, 'notifications', rows as NotificationRow[], (r) => r.id),
    get: async (tenantId, id) => copy([t.notifications.get(id)].find((n) => n?.tenant_id === tenantId)),
    getMany: async (ids) => copies([...new Set(ids)].flatMap((id) => t.notifications.get(id) ?? [])),
    update: async (id, set) => void patch(t.notifications, id, set as Partial<NotificationRow>),
    // Order unspecified by the contract: creation order here, as an unordered scan usually gives.
    listForAppointment: async (tenantId, appointmentId) =>
      copies(
        [...t.notifications.values()].filter((n) => n.tenant_id === tenantId && n.appointment_id === appointmentId),
      ),
  } satisfies Partial<NotificationRepository>;

  const deliveries = {
    insertMany: async (rows) => insertAll(t.deliveries, 'deliveries', rows as DeliveryRow[], (r) => r.id),
    list: async (notificationId) =>
      copies(
        [...t.deliveries.values()]
          .filter((d) => d.notification_id === notificationId)
          .sort((a, b) => a.seq - b.seq || cmp(a.id, b.id)),
      ),
    get: async (id) => copy(t.deliveries.get(id)),
    findByProviderId: async (provider, messageId) =>
      copy([...t.deliveries.values()].find((d) => d.provider === provider && d.provider_message_id === messageId)),
    update: async (id, set, lease) => {
      const d = t.deliveries.get(id);
      if (!d || (lease && !holds(d, lease))) return 0;
      patch(t.deliveries, id, set as Partial<DeliveryRow>);
      return 1;
    },
    cancelPending: async (notificationId, now) => {
      const pending = [...t.deliveries.values()].filter(
        (d) => d.notification_id === notificationId && PENDING.includes(d.status),
      );
      pending.forEach((d) =>
        patch(t.deliveries, d.id, {
          status: 'cancelled',
          cancelled_at: now,
          updated_at: now,
          lease_owner: null,
          lease_until: null,
        }),
      );
      return pending.map((d) => d.id);
    },
  } satisfies Partial<DeliveryRepository>;

  const queue = {
    claim: async (owner, now, leaseUntil, limit) =>
      [...t.deliveries.values()]
        .filter((d) => (d.status === 'scheduled' || d.status === 'queued') && d.run_at <= now)
        .sort((a, b) => a.run_at - b.run_at || cmp(a.id, b.id))
        .slice(0, limit)
        .map((d) => ({
          ...patch(t.deliveries, d.id, {
            status: 'sending',
            lease_owner: owner,
            lease_until: leaseUntil,
            attempts: d.attempts + 1,
            updated_at: now,
          })!,
        })),
    releaseExpired: async (now) => {
      const expired = [...t.deliveries.values()].filter(
        (d) => d.status === 'sending' && d.lease_until != null && d.lease_until < now,
      );
      expired.forEach((d) =>
        patch(t.deliveries, d.id, { status: 'queued', lease_owner: null, lease_until: null, updated_at: now }),
      );
      return expired.length;
    },
    nextRunAt: async () => {
      const waiting = [...t.deliveries.values()]
        .filter((d) => d.status === 'scheduled' || d.status === 'queued')
        .map((d) => d.run_at);
      return waiting.length ? Math.min(...waiting) : null;
    },
    setLinks: async (lease, links) => {
      const held = new Set<string>();
      for (const l of links) {
        if (!holds(t.deliveries.get(l.id), lease)) continue;
        patch(t.deliveries, l.id, { link_ct: l.link_ct });
        held.add(l.id);
      }
      return held;
    },
    finish: async (lease, now, outcomes: readonly JobOutcome[]) => {
      const held = new Set<string>();
      for (const o of outcomes) {
        if (!holds(t.deliveries.get(o.id), lease)) continue;
        const set: Partial<DeliveryRow> = Object.fromEntries(OUTCOME_COLUMNS.map((c) => [c, o[c]]));
        patch(t.deliveries, o.id, { ...set, lease_owner: null, lease_until: null, updated_at: now });
        held.add(o.id);
      }
      return held;
    },
  } satisfies Partial<JobQueue>;

  const idempotency = {
    get: async (tenantId, k) => copy(t.idempotency.get(key(tenantId, k))),
    getMany: async (tenantId, keys) =>
      copies([...new Set(keys)].flatMap((k) => t.idempotency.get(key(tenantId, k)) ?? [])),
    insertMany: async (rows) => insertAll(t.idempotency, 'idempotency_keys', rows, (r) => key(r.tenant_id, r.key)),
  } satisfies Partial<IdempotencyRepository>;

  const signers = {
    insertSignatures: async (rows) => {
      const senderKey = (r: NotificationSignatureRow) =>
        key(r.tenant_id, r.sender_signer_id ?? '', r.sender_request_bidx ?? '');
      const signed = [...t.signatures.values(), ...(rows as NotificationSignatureRow[])].filter(
        (r) => r.sender_request_bidx,
      );
      if (new Set(signed.map(senderKey)).size !== signed.length)
        throw uniqueViolation('notification_signatures (sender request)');
      insertAll(t.signatures, 'notification_signatures', rows as NotificationSignatureRow[], (r) => r.notification_id);
    },
    getSignature: async (tenantId, notificationId) =>
      copy([t.signatures.get(notificationId)].find((s) => s?.tenant_id === tenantId)),
  } satisfies Partial<SignerRepository>;

  const accessLinks = {
    insertMany: async (rows) => insertAll(t.accessLinks, 'access_links', rows, (r) => r.token_hash),
    get: async (tokenHash) => copy(t.accessLinks.get(tokenHash)),
  } satisfies Partial<AccessLinkRepository>;

  const appointments = {
    get: async (tenantId, externalId) => copy(t.appointments.get(key(tenantId, externalId))),
    insert: async (row) =>
      insertAll(t.appointments, 'appointments', [row as AppointmentRow], (r) => key(r.tenant_id, r.external_id)),
    update: async (tenantId, externalId, set) =>
      void patch(t.appointments, key(tenantId, externalId), set as Partial<AppointmentRow>),
    listForPatient: async (tenantId, patientId) =>
      copies([...t.appointments.values()].filter((a) => a.tenant_id === tenantId && a.patient_id === patientId)).sort(
        (a, b) => cmp(a.external_id, b.external_id),
      ),
    getMany: async (tenantId, ids) =>
      copies([...new Set(ids)].flatMap((id) => t.appointments.get(key(tenantId, id)) ?? [])),
  } satisfies Partial<AppointmentRepository>;

  const outbox = {
    deleteOfErasedDelivery: async (deliveryId, erasedCode) =>
      t.deliveries.get(deliveryId)?.last_error_code === erasedCode && t.outbox.delete(deliveryId) ? 1 : 0,
  } satisfies Partial<OutboxRepository>;

  // The consent ledger: oldest first (recorded_at, then id), as the SQL repository orders it.
  const byRecorded = (a: ConsentRow, b: ConsentRow) => a.recorded_at - b.recorded_at || cmp(a.id, b.id);
  const consents = {
    insertMany: async (rows) => insertAll(t.consents, 'consents', rows, (r) => r.id),
    get: async (tenantId, id) => copy([t.consents.get(id)].find((c) => c?.tenant_id === tenantId)),
    listForPatient: async (tenantId, patientId) =>
      copies([...t.consents.values()].filter((c) => c.tenant_id === tenantId && c.patient_id === patientId)).sort(
        byRecorded,
      ),
    listForPatients: async (tenantId, patientIds) =>
      copies(
        [...t.consents.values()].filter((c) => c.tenant_id === tenantId && patientIds.includes(c.patient_id)),
      ).sort(byRecorded),
    deleteForPatient: async (tenantId, patientId) => {
      let n = 0;
      for (const [id, c] of t.consents)
        if (c.tenant_id === tenantId && c.patient_id === patientId && t.consents.delete(id)) n++;
      return n;
    },
    contactsByIndex: async (tenantId, system, bidxs) =>
      [...t.contactPoints.values()]
        .filter((c) => c.tenant_id === tenantId && c.system === system && bidxs.includes(c.value_bidx))
        .map((c) => ({ id: c.id, patient_id: c.patient_id, opted_out_at: c.opted_out_at })),
    getSettings: async (tenantId) => copy(t.consentSettings.get(tenantId)),
    putSettings: async (row) => void t.consentSettings.set(row.tenant_id, { ...row }),
    // One process: the store's in-process send locks do this (see in-memory-store.ts).
    lockPatients: async () => undefined,
  } satisfies ConsentRepository;

  // Preferences and the send ledger (one writer here, so `lockPatients` has nothing to do).
  const preferences = {
    get: async (tenantId, patientId) => copy(t.preferences.get(key(tenantId, patientId))),
    getMany: async (tenantId, patientIds) =>
      copies([...new Set(patientIds)].flatMap((p) => t.preferences.get(key(tenantId, p)) ?? [])),
    put: async (row) => void t.preferences.set(key(row.tenant_id, row.patient_id), { ...row }),
    deleteForPatient: async (tenantId, patientId) => (t.preferences.delete(key(tenantId, patientId)) ? 1 : 0),
  } satisfies PreferenceRepository;
  const ofPatients = (tenantId: string, patientIds: readonly string[]) =>
    [...t.sends.values()].filter((r) => r.tenant_id === tenantId && patientIds.includes(r.patient_id));
  const sendLedger = {
    lockPatients: async () => undefined,
    listSince: async (tenantId, patientIds, since) =>
      copies(ofPatients(tenantId, patientIds).filter((r) => r.at >= since)),
    insertMany: async (rows) => {
      for (const r of rows) {
        const k = key(r.tenant_id, r.delivery_id);
        if (!t.sends.has(k)) t.sends.set(k, { ...r });
      }
    },
    prune: async (tenantId, patientIds, before) => {
      const old = ofPatients(tenantId, patientIds).filter((r) => r.at < before);
      for (const r of old) t.sends.delete(key(r.tenant_id, r.delivery_id));
      return old.length;
    },
    dueSoon: async (tenantId, patientIds, after, until) =>
      [...t.deliveries.values()]
        .filter(
          (d) =>
            d.tenant_id === tenantId &&
            patientIds.includes(d.patient_id) &&
            d.status === 'scheduled' &&
            d.priority === 'routine' &&
            d.run_at > after &&
            d.run_at <= until,
        )
        .map((d) => ({ id: d.id, patient_id: d.patient_id, channel: d.channel, run_at: d.run_at })),
    digestMembers: async (tenantId, leadDeliveryId) => [
      ...new Set(
        [...t.deliveries.values()]
          .filter(
            (d) => d.tenant_id === tenantId && d.provider === 'digest' && d.provider_message_id === leadDeliveryId,
          )
          .sort((a, b) => a.created_at - b.created_at || cmp(a.id, b.id))
          .map((d) => d.notification_id),
      ),
    ],
    deleteForPatient: async (tenantId, patientId) => {
      const mine = ofPatients(tenantId, [patientId]);
      for (const r of mine) t.sends.delete(key(r.tenant_id, r.delivery_id));
      return mine.length;
    },
    deleteDeliveries: async (tenantId, deliveryIds) => {
      let n = 0;
      for (const id of new Set(deliveryIds)) if (t.sends.delete(key(tenantId, id))) n++;
      return n;
    },
  } satisfies SendLedgerRepository;

  return {
    preferences,
    sendLedger,
    patients,
    patientIdentifiers,
    dataKeys,
    contactPoints,
    notifications,
    deliveries,
    queue,
    idempotency,
    signers,
    accessLinks,
    appointments,
    outbox,
    consents,
    // No HL7 messages are ever stored in this fake: an erasure or a merge finds none to forget or move.
    hl7Messages: { forgetPatient: async () => [], reassignPatient: async () => undefined },
    ...identityRepositories(t),
  };
}
