import type { CoreDeps } from './context.js';
import { AppError } from './errors.js';
import type { PatientIdentifier } from './domain.js';
import type { StoreTx } from '../store/store.js';
import type { PatientIdentifierRow } from '../store/rows.js';

/** Limits of an identifier: an OID or URI names the system, an MRN or the like is the value. */
export const IDENTIFIER_LIMITS = { system: 256, value: 128, perPatient: 20 } as const;

// C0 and C1 controls and DEL: never part of an identifier, and PostgreSQL refuses NUL in text.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The purpose of an identifier's blind index: the system is part of it, so equal values of two systems differ. */
const purpose = (system: string) => `identifier.${system}`;
/** An erased patient's identifiers keep an index under the stable reference key (their value is gone, so it cannot be re-indexed). */
const tombstonePurpose = (system: string) => `identifier-erased.${system}`;
const TOMBSTONE = 't:';

/**
 * Validates identifiers (non-empty, bounded, no control characters) and drops exact repetitions,
 * keeping the first. Throws SP_PATIENT_INVALID_IDENTIFIER naming the position, never the value.
 */
export function normaliseIdentifiers(input: readonly PatientIdentifier[]): PatientIdentifier[] {
  if (input.length > IDENTIFIER_LIMITS.perPatient)
    throw new AppError('SP_PATIENT_INVALID_IDENTIFIER', `at most ${IDENTIFIER_LIMITS.perPatient} identifiers`);
  const out: PatientIdentifier[] = [];
  const seen = new Set<string>();
  input.forEach((id, i) => {
    for (const f of ['system', 'value'] as const) {
      const v = id?.[f];
      if (typeof v !== 'string' || v.length === 0 || v.length > IDENTIFIER_LIMITS[f] || CONTROL.test(v))
        throw new AppError(
          'SP_PATIENT_INVALID_IDENTIFIER',
          `identifiers[${i}].${f}: 1-${IDENTIFIER_LIMITS[f]} characters, no control characters`,
        );
    }
    const k = `${id.system}\u0000${id.value}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ system: id.system, value: id.value });
  });
  return out;
}

/** Every stored form an identifier's index may have: live ones (current key version first), then its tombstone. */
export function identifierIndexes(
  deps: Pick<CoreDeps, 'cipher'>,
  tenantId: string,
  id: PatientIdentifier,
): { current: string; live: string[]; tombstone: string } {
  const live = deps.cipher.blindIndexCandidates(tenantId, purpose(id.system), id.value);
  return { current: live[0]!, live, tombstone: tombstoneIndex(deps, tenantId, id) };
}

export function tombstoneIndex(deps: Pick<CoreDeps, 'cipher'>, tenantId: string, id: PatientIdentifier): string {
  return TOMBSTONE + deps.cipher.blindIndex(tenantId, tombstonePurpose(id.system), id.value);
}

const ref = (tenantId: string, rowId: string) => ({ tenantId, table: 'patient_identifiers', rowId, field: 'value' });

/** Decrypts the live identifiers of a patient with its data key, in rank order. */
export async function readIdentifiers(
  deps: Pick<CoreDeps, 'cipher'>,
  tx: StoreTx,
  tenantId: string,
  patientId: string,
  key: Buffer,
): Promise<PatientIdentifier[]> {
  const rows = await tx.patientIdentifiers.list(tenantId, patientId);
  return rows.map((r) => ({ system: r.system, value: decryptIdentifier(deps, tenantId, key, r) }));
}

export function decryptIdentifier(
  deps: Pick<CoreDeps, 'cipher'>,
  tenantId: string,
  key: Buffer,
  r: PatientIdentifierRow,
): string {
  if (!r.value_ct) throw new AppError('SP_PATIENT_ERASED');
  return deps.cipher.decrypt(key, ref(tenantId, r.id), r.value_ct);
}

export function encryptIdentifier(
  deps: Pick<CoreDeps, 'cipher'>,
  tenantId: string,
  key: Buffer,
  rowId: string,
  value: string,
): Buffer {
  return deps.cipher.encrypt(key, ref(tenantId, rowId), value);
}

/**
 * Makes the patient's identifiers exactly `wanted` (already normalised): keeps the rows whose index
 * matches (re-indexed under the current key version if a rotation has not reached them yet), inserts
 * new ones, deletes the others. Refuses, before writing anything, an identifier another patient holds
 * (SP_PATIENT_IDENTIFIER_CONFLICT) or an erased patient held (SP_PATIENT_IDENTIFIER_ERASED).
 */
export async function syncIdentifiers(
  deps: Pick<CoreDeps, 'cipher' | 'newId'>,
  tx: StoreTx,
  tenantId: string,
  patientId: string,
  key: Buffer,
  wanted: readonly PatientIdentifier[],
  now: number,
): Promise<{ identifiersAdded: number; identifiersRemoved: number }> {
  const current = await tx.patientIdentifiers.list(tenantId, patientId);
  const indexes = wanted.map((w) => identifierIndexes(deps, tenantId, w));
  const found = await tx.patientIdentifiers.findByIndexes(
    tenantId,
    indexes.flatMap((x) => [...x.live, x.tombstone]),
  );
  const byIndex = new Map(found.map((r) => [r.lookup_bidx, r]));
  const plan: { keep?: PatientIdentifierRow; index: string; id: PatientIdentifier; rank: number }[] = [];
  wanted.forEach((w, i) => {
    const x = indexes[i]!;
    if (byIndex.has(x.tombstone)) throw new AppError('SP_PATIENT_IDENTIFIER_ERASED', `identifiers[${i}]`);
    const hit = x.live.map((b) => byIndex.get(b)).find((r) => r !== undefined);
    if (hit && hit.patient_id !== patientId) throw new AppError('SP_PATIENT_IDENTIFIER_CONFLICT', `identifiers[${i}]`);
    plan.push({ keep: hit, index: x.current, id: w, rank: i + 1 });
  });
  const kept = new Set<string>();
  let added = 0;
  for (const p of plan) {
    if (p.keep) {
      kept.add(p.keep.id);
      if (p.keep.rank !== p.rank || p.keep.lookup_bidx !== p.index)
        await tx.patientIdentifiers.update(p.keep.id, { rank: p.rank, lookup_bidx: p.index });
      continue;
    }
    const id = deps.newId();
    await tx.patientIdentifiers.insert({
      id,
      tenant_id: tenantId,
      patient_id: patientId,
      system: p.id.system,
      value_ct: encryptIdentifier(deps, tenantId, key, id, p.id.value),
      lookup_bidx: p.index,
      rank: p.rank,
      created_at: now,
      erased_at: null,
    });
    added++;
  }
  const removed = current.filter((c) => !kept.has(c.id)).map((c) => c.id);
  await tx.patientIdentifiers.delete(removed);
  return { identifiersAdded: added, identifiersRemoved: removed.length };
}

/**
 * Turns the patient's identifiers into tombstones (value gone, index under the reference key) in the
 * erasure transaction, before its data key is deleted. Returns how many.
 */
export async function tombstoneIdentifiers(
  deps: Pick<CoreDeps, 'cipher'>,
  tx: StoreTx,
  tenantId: string,
  patientId: string,
  key: Buffer | null,
  now: number,
): Promise<number> {
  const rows = await tx.patientIdentifiers.list(tenantId, patientId);
  for (const r of rows) {
    // Without a key (never expected for a live patient) the value cannot be indexed again: the row goes.
    if (!key) {
      await tx.patientIdentifiers.delete([r.id]);
      continue;
    }
    const value = decryptIdentifier(deps, tenantId, key, r);
    await tx.patientIdentifiers.update(r.id, {
      value_ct: null,
      lookup_bidx: tombstoneIndex(deps, tenantId, { system: r.system, value }),
      erased_at: now,
    });
  }
  return rows.length;
}
