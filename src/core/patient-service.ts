import { randomBytes } from 'node:crypto';
import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef, requestFingerprint } from './context.js';
import { AppError } from './errors.js';
import type { ChannelKind, Language, PatientIdentifier, PatientRecord } from './domain.js';
import { identifierIndexes, normaliseIdentifiers, readIdentifiers, syncIdentifiers } from './patient-identifiers.js';
import { mergePatients, type MergeResult } from './patient-merge.js';
import { isValidTimeZone } from './time-policy.js';
import { isValidBirthDate, normaliseContact } from './contact-validation.js';
import type { StoreTx } from '../store/store.js';
import { ErasureService, type ErasureOptions, type ErasureRecord, type ErasureResult } from './erasure-service.js';

export interface PatientInput {
  name: { given?: string[]; family?: string; text?: string };
  birthDate: string;
  telecom: { system: ChannelKind; value: string; rank?: number }[];
  language?: Language;
  timeZone: string;
  /** The patient's identifiers (MRNs…): given, they replace the stored set; undefined keeps it. */
  identifiers?: PatientIdentifier[];
}

export type { PatientIdentifier } from './domain.js';
export type { MergeResult } from './patient-merge.js';

/** Thrown for a retired (merged) patient id; the survivor's id is opaque, not PHI, and is named. */
export function mergedError(survivorId: string): AppError {
  return new AppError('SP_PATIENT_MERGED', `mergedInto: ${survivorId}`);
}

/** 1-64 of [A-Za-z0-9._-], never `.` or `..`: ids end up in paths, where those two mean something else. */
export const PATIENT_ID_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;

/** Registers or replaces a patient (PUT semantics). Every PHI field is stored encrypted. */
export class PatientService {
  readonly erasures: ErasureService;

  constructor(
    private readonly deps: CoreDeps,
    erasure: ErasureOptions = {},
  ) {
    this.erasures = new ErasureService(deps, erasure);
  }

  /**
   * An opaque, unguessable id for a patient created from HL7 or FHIR (never the MRN, which is an
   * identifier: ids appear in URLs). 128 random bits in hex: a valid REST patient id
   * (PATIENT_ID_PATTERN) and a valid FHIR id ([A-Za-z0-9.-]{1,64}) alike.
   */
  newPatientId(): string {
    return `p-${randomBytes(16).toString('hex')}`;
  }

  /**
   * The patient holding `identifier` in the tenant, following merges to the survivor; `erased: true`
   * when it belonged to an erased patient (its tombstone), so callers do not re-create them. Null when
   * no patient holds it. Throws SP_PATIENT_INVALID_IDENTIFIER for a malformed identifier.
   */
  async findByIdentifierInTx(
    tx: StoreTx,
    tenantId: string,
    identifier: PatientIdentifier,
  ): Promise<{ patientId: string; erased: boolean } | null> {
    const [id] = normaliseIdentifiers([identifier]);
    const x = identifierIndexes(this.deps, tenantId, id!);
    const rows = await tx.patientIdentifiers.findByIndexes(tenantId, [...x.live, x.tombstone]);
    const live = rows.find((r) => r.erased_at == null);
    if (!live) return rows.length ? { patientId: rows[0]!.patient_id, erased: true } : null;
    // Identifiers move to the survivor at a merge; following merged_into covers rows written otherwise.
    let patientId = live.patient_id;
    for (let hops = 0; hops < 16; hops++) {
      const p = await tx.patients.get(tenantId, patientId);
      if (!p) return { patientId, erased: true };
      if (!p.merged_into) return { patientId, erased: false };
      patientId = p.merged_into;
    }
    return { patientId, erased: false };
  }

  async findByIdentifier(
    ctx: RequestContext,
    identifier: PatientIdentifier,
  ): Promise<{ patientId: string; erased: boolean } | null> {
    return this.findByIdentifierInTx(this.deps.store.read, ctx.tenantId, identifier);
  }

  /** The survivor of a retired (merged) id, else null (unknown ids and live patients alike). */
  async mergedInto(tenantId: string, id: string): Promise<string | null> {
    const p = await this.deps.store.read.patients.get(tenantId, id);
    return p?.merged_into ?? null;
  }

  /**
   * Merges `retiredId` into `survivorId` (HL7 A40) in the caller's transaction: identifiers and
   * appointments move to the survivor (re-sealed under its data key), reminders and notifications not
   * yet under way are re-created for the survivor, and the retired id answers SP_PATIENT_MERGED from
   * then on. See patient-merge.ts.
   */
  async mergeInTx(
    tx: StoreTx,
    ctx: RequestContext,
    o: { survivorId: string; retiredId: string },
  ): Promise<MergeResult> {
    if (!PATIENT_ID_PATTERN.test(o.survivorId) || !PATIENT_ID_PATTERN.test(o.retiredId))
      throw new AppError('SP_PATIENT_INVALID_ID');
    return mergePatients(this.deps, tx, ctx, o);
  }

  async merge(ctx: RequestContext, o: { survivorId: string; retiredId: string }): Promise<MergeResult> {
    const { store } = this.deps;
    const result = await store.transaction((tx) => this.mergeInTx(tx, ctx, o));
    await store.durable();
    if (result.notificationsMoved) this.deps.wake();
    return result;
  }

  /** Crypto-shreds a patient (see ErasureService); the tombstones and the audit entry stay. */
  async erase(ctx: RequestContext, id: string, o: { shredInBackground?: boolean } = {}): Promise<ErasureResult> {
    if (!PATIENT_ID_PATTERN.test(id)) throw new AppError('SP_PATIENT_INVALID_ID');
    return this.erasures.erase(ctx, id, o);
  }

  /** The latest erasure of this id; null if it was never erased. */
  erasureStatus(ctx: RequestContext, id: string): Promise<ErasureRecord | null> {
    return this.erasures.status(ctx.tenantId, id);
  }

  /**
   * `mayAddWebhooks`: the caller holds `contact.webhook` (integrations, admins). Without it, a webhook
   * contact point the patient does not already have is refused (SP_AUTH_FORBIDDEN) and nothing changes:
   * the server POSTs live portal links to that URL (server-side request forgery, disclosure).
   */
  async upsert(
    ctx: RequestContext,
    id: string,
    input: PatientInput,
    opts: { mayAddWebhooks?: boolean } = {},
  ): Promise<{ created: boolean; patient: PatientRecord }> {
    const { store } = this.deps;
    const result = await store.transaction((tx) => this.upsertInTx(tx, ctx, id, input, opts));
    await store.durable();
    return result;
  }

  /**
   * `upsert` inside the caller's transaction (HL7, FHIR): validates, writes and audits in `tx`; the
   * caller commits and awaits `store.durable()` before it answers.
   */
  async upsertInTx(
    tx: StoreTx,
    ctx: RequestContext,
    id: string,
    input: PatientInput,
    { mayAddWebhooks = false }: { mayAddWebhooks?: boolean } = {},
  ): Promise<{ created: boolean; patient: PatientRecord }> {
    const { cipher, clock } = this.deps;
    const now = clock();
    if (!PATIENT_ID_PATTERN.test(id)) throw new AppError('SP_PATIENT_INVALID_ID');
    if (!isValidTimeZone(input.timeZone)) throw new AppError('SP_PATIENT_INVALID_TIMEZONE', 'timeZone');
    if (!isValidBirthDate(input.birthDate, now)) throw new AppError('SP_PATIENT_INVALID_BIRTH_DATE', 'birthDate');
    const telecom = input.telecom.map((t, i) => ({
      system: t.system,
      value: normaliseContact(t.system, t.value, i),
      rank: t.rank ?? i + 1,
    }));
    const identifiers = input.identifiers && normaliseIdentifiers(input.identifiers);
    const record = {
      id,
      name: input.name,
      birthDate: input.birthDate,
      telecom,
      language: input.language ?? 'en',
      timeZone: input.timeZone,
    } satisfies Omit<PatientRecord, 'identifiers'>;
    // Without identifiers the fingerprint is the one written before identifiers existed.
    const requestHash = requestFingerprint(this.deps, ctx.tenantId, 'patients.put', { ...record, identifiers });

    const existing = await tx.patients.get(ctx.tenantId, id);
    if (existing?.merged_into) throw mergedError(existing.merged_into);
    if (existing && existing.request_hash === requestHash) {
      // Identical replay: nothing to write.
      const key = identifiers ? null : await patientDataKey(this.deps, tx, ctx.tenantId, id);
      const stored = identifiers ?? (key ? await readIdentifiers(this.deps, tx, ctx.tenantId, id, key) : []);
      return { created: false, patient: { ...record, identifiers: stored } };
    }
    let key: Buffer;
    const wrappedRow = await tx.dataKeys.get(ctx.tenantId, id);
    if (wrappedRow) {
      key = await cipher.dataKey(ctx.tenantId, id, {
        keyId: wrappedRow.key_id,
        wrapped: Buffer.from(wrappedRow.wrapped),
      });
    } else {
      const dk = await cipher.newDataKey(ctx.tenantId, id);
      key = dk.key;
      await tx.dataKeys.insert({
        tenant_id: ctx.tenantId,
        patient_id: id,
        key_id: dk.wrapped.keyId,
        wrapped: dk.wrapped.wrapped,
        created_at: now.getTime(),
      });
    }
    const ref = { tenantId: ctx.tenantId, table: 'patients', rowId: id };
    const row = {
      name_ct: cipher.encryptJson(key, { ...ref, field: 'name' }, record.name),
      birth_date_ct: cipher.encrypt(key, { ...ref, field: 'birth_date' }, record.birthDate),
      language: record.language,
      time_zone: record.timeZone,
      request_hash: requestHash,
      updated_at: now.getTime(),
    };
    if (existing) await tx.patients.update(ctx.tenantId, id, row);
    else
      await tx.patients.insert({
        ...row,
        tenant_id: ctx.tenantId,
        id,
        pseudonym: patientRef(this.deps, ctx.tenantId, id),
        created_at: now.getTime(),
      });
    const changes = {
      ...(await this.syncContactPoints(tx, ctx.tenantId, id, key, telecom, mayAddWebhooks)),
      ...(identifiers ? await syncIdentifiers(this.deps, tx, ctx.tenantId, id, key, identifiers, now.getTime()) : {}),
    };
    const stored = identifiers ?? (await readIdentifiers(this.deps, tx, ctx.tenantId, id, key));
    await audit(tx, ctx, now, {
      action: existing ? 'patient.updated' : 'patient.created',
      targetType: 'patient',
      targetId: patientRef(this.deps, ctx.tenantId, id),
      patientRef: patientRef(this.deps, ctx.tenantId, id),
      details: changes,
    });
    return { created: !existing, patient: { ...record, identifiers: stored } };
  }

  /**
   * Keeps contact point ids stable when a value stays (pending deliveries point at them), inserts new
   * ones and deletes removed ones. Equality is on the blind index, so no plaintext is compared in SQL.
   */
  private async syncContactPoints(
    tx: StoreTx,
    tenantId: string,
    patientId: string,
    key: Buffer,
    telecom: PatientRecord['telecom'],
    mayAddWebhooks: boolean,
  ) {
    const { cipher, newId } = this.deps;
    const current = await tx.contactPoints.list(tenantId, patientId);
    await cipher.holdIndexVersionsOf(current.map((c) => c.value_bidx));
    const byIndex = new Map(current.map((c) => [`${c.system}:${c.value_bidx}`, c]));
    const keep = new Set<string>();
    let added = 0;
    for (const t of telecom) {
      // The current stored form first; older ones match rows a blind-index rotation has not re-indexed yet.
      const [bidx, ...older] = cipher.blindIndexCandidates(tenantId, `contact.${t.system}`, t.value) as [
        string,
        ...string[],
      ];
      const found = [bidx, ...older].map((b) => byIndex.get(`${t.system}:${b}`)).find((c) => c && !keep.has(c.id));
      if (found) {
        keep.add(found.id);
        if (found.rank !== t.rank || found.value_bidx !== bidx)
          await tx.contactPoints.update(found.id, { rank: t.rank, value_bidx: bidx });
        continue;
      }
      if (t.system === 'webhook' && !mayAddWebhooks)
        throw new AppError('SP_AUTH_FORBIDDEN', 'adding a webhook contact point needs the contact.webhook permission');
      const id = newId();
      keep.add(id);
      added++;
      await tx.contactPoints.insert({
        id,
        tenant_id: tenantId,
        patient_id: patientId,
        system: t.system,
        value_ct: cipher.encrypt(key, { tenantId, table: 'contact_points', rowId: id, field: 'value' }, t.value),
        value_bidx: bidx,
        rank: t.rank,
        opted_out_at: null,
      });
    }
    // Push registrations are the patient's devices (core/push-registration-service.ts): a PUT or an HL7
    // update of the telecom never names them, so it never removes them.
    const removed = current.filter((c) => !keep.has(c.id) && c.system !== 'push').map((c) => c.id);
    await tx.contactPoints.delete(removed);
    return { contactPointsAdded: added, contactPointsRemoved: removed.length };
  }

  /** Decrypts a patient for an authorised caller; the access itself is audited. */
  async get(ctx: RequestContext, id: string): Promise<PatientRecord> {
    const { store } = this.deps;
    const record = await store.transaction((tx) => this.getInTx(tx, ctx, id));
    await store.durable();
    return record;
  }

  /** `get` inside the caller's transaction (the read is audited in `tx`). */
  async getInTx(tx: StoreTx, ctx: RequestContext, id: string): Promise<PatientRecord> {
    const { cipher, clock } = this.deps;
    const row = await tx.patients.get(ctx.tenantId, id);
    const wrapped = row && (await tx.dataKeys.get(ctx.tenantId, id));
    if (!row || !wrapped) {
      // An erased patient is gone, not unknown: the caller learns the erasure happened (410).
      if (!row && (await tx.erasures.latest(ctx.tenantId, id))) throw new AppError('SP_PATIENT_ERASED');
      throw new AppError('SP_PATIENT_NOT_FOUND');
    }
    if (row.merged_into) throw mergedError(row.merged_into);
    const key = await cipher.dataKey(ctx.tenantId, id, {
      keyId: wrapped.key_id,
      wrapped: Buffer.from(wrapped.wrapped),
    });
    const ref = { tenantId: ctx.tenantId, table: 'patients', rowId: id };
    // A push registration's value is a device secret: the patient lists their devices, staff never read them.
    const contacts = (await tx.contactPoints.list(ctx.tenantId, id)).filter((c) => c.system !== 'push');
    const pref = patientRef(this.deps, ctx.tenantId, id);
    await audit(tx, ctx, clock(), {
      action: 'patient.read',
      targetType: 'patient',
      targetId: pref,
      patientRef: pref,
    });
    return {
      id,
      name: cipher.decryptJson<PatientRecord['name']>(key, { ...ref, field: 'name' }, row.name_ct),
      birthDate: cipher.decrypt(key, { ...ref, field: 'birth_date' }, row.birth_date_ct),
      telecom: contacts.map((c) => ({
        system: c.system as ChannelKind,
        value: cipher.decrypt(
          key,
          { tenantId: ctx.tenantId, table: 'contact_points', rowId: c.id, field: 'value' },
          c.value_ct,
        ),
        rank: c.rank,
      })),
      language: row.language as Language,
      timeZone: row.time_zone,
      identifiers: await readIdentifiers(this.deps, tx, ctx.tenantId, id, key),
    };
  }
}
