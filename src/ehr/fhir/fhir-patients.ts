import type { Patient } from 'fhir/r4.js';
import type { CoreDeps, RequestContext } from '../../core/context.js';
import { AppError, isAppError } from '../../core/errors.js';
import type { PatientIdentifier } from '../../core/domain.js';
import type { PatientService } from '../../core/patient-service.js';
import type { StoreTx } from '../../store/store.js';
import { mergedPatientToFhir, patientFromFhir, patientToFhir } from './patient.js';

export interface FhirPatientsDeps {
  core: CoreDeps;
  patients: PatientService;
}

/** A token (`system|value`) of an `identifier` search; `system` undefined: any system. */
export interface IdentifierToken {
  system?: string;
  value: string;
}

/**
 * The FHIR Patient interactions over the same core service as `PUT/GET /v1/patients` (so the same
 * validation, encryption and audit entries), each in one transaction made durable before the
 * answer. Ids are the server's (`PatientService.newPatientId`): an update never creates.
 */
export class FhirPatients {
  constructor(private readonly deps: FhirPatientsDeps) {}

  /**
   * A new patient id that is also a FHIR id ([A-Za-z0-9.-]: no `_`, which newPatientId's base64url
   * may hold); drawn again when it is not, so every patient created through FHIR can be PUT back.
   */
  newId(): string {
    for (let i = 0; i < 50; i++) {
      const id = this.deps.patients.newPatientId();
      if (/^[A-Za-z0-9.-]{1,64}$/.test(id)) return id;
    }
    throw new Error('no FHIR-compatible patient id drawn');
  }

  /** A patient as R4 (audited as a read); a merged one as its inactive stub; erased: 410 SP_PATIENT_ERASED. */
  async read(ctx: RequestContext, id: string): Promise<Patient> {
    return this.inTx((tx) => this.readInTx(tx, ctx, id));
  }

  private async readInTx(tx: StoreTx, ctx: RequestContext, id: string): Promise<Patient> {
    const row = await tx.patients.get(ctx.tenantId, id);
    if (row?.merged_into) return mergedPatientToFhir(id, row.merged_into);
    try {
      const record = await this.deps.patients.getInTx(tx, ctx, id);
      return patientToFhir(record, Number(row!.updated_at));
    } catch (e) {
      if (isAppError(e) && e.code === 'SP_PATIENT_NOT_FOUND') throw new AppError('SP_FHIR_NOT_FOUND', 'Patient');
      throw e;
    }
  }

  /**
   * Creates a patient under `id` (from `newId()`, checked by the caller's access rule first).
   * Answers the stored resource.
   */
  async create(ctx: RequestContext, id: string, body: Patient, o: { mayAddWebhooks: boolean }): Promise<Patient> {
    const input = patientFromFhir(body, { now: this.deps.core.clock() });
    return this.inTx(async (tx) => {
      await this.deps.patients.upsertInTx(tx, ctx, id, input, { mayAddWebhooks: o.mayAddWebhooks });
      return this.readInTx(tx, ctx, id);
    });
  }

  /**
   * Replaces a patient. Unknown id: 404 SP_FHIR_NOT_FOUND (no update-as-create); merged: 410
   * SP_PATIENT_MERGED; `ifMatch` (a versionId) not current: 412 SP_FHIR_VERSION_CONFLICT.
   */
  async update(
    ctx: RequestContext,
    id: string,
    body: Patient,
    o: { mayAddWebhooks: boolean; ifMatch?: string },
  ): Promise<Patient> {
    return this.inTx(async (tx) => {
      const row = await tx.patients.get(ctx.tenantId, id);
      if (!row) {
        if (await tx.erasures.latest(ctx.tenantId, id)) throw new AppError('SP_PATIENT_ERASED');
        throw new AppError('SP_FHIR_NOT_FOUND', 'Patient: updates never create; POST to create');
      }
      if (row.merged_into) throw new AppError('SP_PATIENT_MERGED', `mergedInto: ${row.merged_into}`);
      if (o.ifMatch !== undefined && o.ifMatch !== String(Number(row.updated_at)))
        throw new AppError('SP_FHIR_VERSION_CONFLICT');
      const input = patientFromFhir(body, { now: this.deps.core.clock(), current: { timeZone: row.time_zone } });
      await this.deps.patients.upsertInTx(tx, ctx, id, input, { mayAddWebhooks: o.mayAddWebhooks });
      return this.readInTx(tx, ctx, id);
    });
  }

  /**
   * The ids of the live patients matching an `identifier` search: each parameter is an OR of tokens
   * (`a|1,b|2`), parameters are ANDed. A token needs its system: identifiers are indexed (blind
   * index) per system, so "any system" cannot be looked up (SP_FHIR_INVALID_SEARCH); a token with an
   * empty system (`|value`) matches nothing, as every Sealpost identifier has one.
   */
  async matchIdentifiers(ctx: RequestContext, params: IdentifierToken[][]): Promise<string[]> {
    let result = null as Set<string> | null;
    for (const anyOf of params) {
      const ids = new Set<string>();
      for (const t of anyOf) {
        if (t.system === undefined)
          throw new AppError('SP_FHIR_INVALID_SEARCH', 'identifier: give the system as system|value');
        if (t.system === '') continue;
        const hit = await this.find(ctx, { system: t.system, value: t.value });
        if (hit) ids.add(hit);
      }
      result = result === null ? ids : new Set([...result].filter((x) => ids.has(x)));
    }
    return [...(result ?? [])];
  }

  private async find(ctx: RequestContext, identifier: PatientIdentifier): Promise<string | null> {
    try {
      const hit = await this.deps.patients.findByIdentifier(ctx, identifier);
      return hit && !hit.erased ? hit.patientId : null;
    } catch (e) {
      // A malformed identifier (too long, control characters) matches nothing rather than failing.
      if (isAppError(e) && e.code === 'SP_PATIENT_INVALID_IDENTIFIER')
        throw new AppError('SP_FHIR_INVALID_SEARCH', 'identifier: 1-256 characters of system, 1-128 of value');
      throw e;
    }
  }

  /** Reads several patients (each read audited) in one transaction. */
  async readMany(ctx: RequestContext, ids: readonly string[]): Promise<Patient[]> {
    if (!ids.length) return [];
    return this.inTx(async (tx) => {
      const out: Patient[] = [];
      for (const id of ids) out.push(await this.readInTx(tx, ctx, id));
      return out;
    });
  }

  private async inTx<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const { store } = this.deps.core;
    const result = await store.transaction(fn);
    await store.durable();
    return result;
  }
}
