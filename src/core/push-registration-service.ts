import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef } from './context.js';
import { AppError } from './errors.js';
import type { PatientReader } from './patient-account-service.js';
import {
  checkSubscription,
  checkToken,
  parseTarget,
  PushTargetInvalid,
  serialiseTarget,
  type PushKind,
  type PushTarget,
} from '../channels/push/push-target.js';
import { checkEndpointAddress } from '../channels/push/endpoint-address.js';
import type { ContactPointRow } from '../store/rows.js';
import type { StoreTx } from '../store/store.js';

/** Push registrations one patient may hold (browsers and app installs together). */
export const MAX_PUSH_REGISTRATIONS = 10;
/**
 * Rank of a push contact point: before the telecom staff keep (ranks from 1), so a patient who
 * registered a device is nudged there first and the next contact point takes over when it fails.
 */
export const PUSH_RANK = 0;

export interface PushRegistrationInput {
  kind: PushKind;
  /** `webpush`: the JSON of the browser's `PushSubscription`. */
  subscription?: unknown;
  /** `fcm` / `apns`: the token the app got. */
  token?: string;
  /** A name the patient recognises the device by ("Phone", "Laptop"): never sent anywhere. */
  label?: string;
}

/** A registration as its patient sees it: never the subscription or the token. */
export interface PushRegistrationView {
  id: string;
  kind: PushKind;
  label: string | null;
  /** Web Push: the push service's host (which browser vendor); apps: null. */
  service: string | null;
  createdAt: string;
}

/** The sealed value: the target plus what the list shows. */
interface Stored {
  target: PushTarget;
  label: string | null;
  createdAt: number;
}

/**
 * Patients' devices as contact points of system `push`: registered, listed and removed by the
 * signed-in patient only (staff, HL7 and FHIR never see or change them: core/patient-service.ts),
 * pruned when the push service says the device is gone (core/delivery-processor.ts) and removed by a
 * remote wipe (the patient account disabled: `removeAllInTx`). Every change is audited in its transaction.
 */
export class PushRegistrationService {
  constructor(private readonly deps: CoreDeps) {}

  /**
   * Registers a device; the same subscription endpoint or token again replaces the earlier
   * registration (a browser re-subscribing gets new keys for the same endpoint) instead of adding one.
   */
  async register(
    r: PatientReader,
    input: PushRegistrationInput,
  ): Promise<{ view: PushRegistrationView; created: boolean }> {
    const { store, cipher, clock, newId, config } = this.deps;
    const target = checkInput(input);
    if (target.kind === 'webpush')
      await checkEndpointAddress(target.subscription.endpoint, config.webhook.allowedHosts);
    const label = input.label?.trim() || null;
    const result = await store.transaction(async (tx) => {
      const now = clock();
      const key = await patientDataKey(this.deps, tx, r.tenantId, r.patientId);
      if (!key) throw new AppError('SP_PATIENT_NOT_FOUND');
      const mine = await this.stored(tx, r.tenantId, r.patientId, key);
      const same = mine.find((m) => sameDevice(m.stored.target, target));
      if (!same && mine.length >= MAX_PUSH_REGISTRATIONS) throw new AppError('SP_PUSH_TOO_MANY');
      const stored: Stored = { target, label, createdAt: now.getTime() };
      const value = serialiseStored(stored);
      const id = same?.row.id ?? newId();
      const sealed = cipher.encrypt(
        key,
        { tenantId: r.tenantId, table: 'contact_points', rowId: id, field: 'value' },
        value,
      );
      const bidx = cipher.blindIndex(r.tenantId, 'contact.push', value);
      if (same) await tx.contactPoints.update(id, { value_ct: sealed, value_bidx: bidx, opted_out_at: null });
      else
        await tx.contactPoints.insert({
          id,
          tenant_id: r.tenantId,
          patient_id: r.patientId,
          system: 'push',
          value_ct: sealed,
          value_bidx: bidx,
          rank: PUSH_RANK,
          opted_out_at: null,
        });
      await audit(tx, ctxOf(r), now, {
        action: same ? 'push.renewed' : 'push.registered',
        targetType: 'contact_point',
        targetId: id,
        patientRef: patientRef(this.deps, r.tenantId, r.patientId),
        details: { kind: target.kind },
      });
      return { view: viewOf(id, stored), created: !same };
    });
    await store.durable();
    return result;
  }

  /** The patient's registrations, newest first, without secrets. */
  async list(r: PatientReader): Promise<PushRegistrationView[]> {
    const { store } = this.deps;
    return store.transaction(async (tx) => {
      const key = await patientDataKey(this.deps, tx, r.tenantId, r.patientId);
      if (!key) return [];
      return (await this.stored(tx, r.tenantId, r.patientId, key))
        .map((m) => viewOf(m.row.id, m.stored))
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    });
  }

  /** Removes one of the patient's registrations; another patient's, or another kind of contact point, is "not found". */
  async remove(r: PatientReader, id: string): Promise<void> {
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      const row = await tx.contactPoints.get(id);
      if (!row || row.system !== 'push' || row.tenant_id !== r.tenantId || row.patient_id !== r.patientId)
        throw new AppError('SP_PUSH_NOT_FOUND');
      await tx.contactPoints.delete([id]);
      await audit(tx, ctxOf(r), clock(), {
        action: 'push.removed',
        targetType: 'contact_point',
        targetId: id,
        patientRef: patientRef(this.deps, r.tenantId, r.patientId),
      });
    });
    await store.durable();
  }

  private async stored(
    tx: StoreTx,
    tenantId: string,
    patientId: string,
    key: Buffer,
  ): Promise<{ row: ContactPointRow; stored: Stored }[]> {
    const { cipher } = this.deps;
    const out: { row: ContactPointRow; stored: Stored }[] = [];
    for (const row of await tx.contactPoints.list(tenantId, patientId)) {
      if (row.system !== 'push') continue;
      const value = cipher.decrypt(
        key,
        { tenantId, table: 'contact_points', rowId: row.id, field: 'value' },
        row.value_ct,
      );
      out.push({ row, stored: parseStored(value) });
    }
    return out;
  }
}

/**
 * Removes every push registration of a patient in `tx` (a remote wipe: the patient account was
 * disabled, its sessions and devices revoked in the same transaction); audited by the caller's
 * entry with the count, and here one entry per registration. Returns how many.
 */
export async function removePushRegistrationsInTx(
  deps: CoreDeps,
  tx: StoreTx,
  ctx: RequestContext,
  patientId: string,
  reason: string,
): Promise<number> {
  const ids = (await tx.contactPoints.list(ctx.tenantId, patientId))
    .filter((c) => c.system === 'push')
    .map((c) => c.id);
  if (!ids.length) return 0;
  await tx.contactPoints.delete(ids);
  const now = deps.clock();
  for (const id of ids)
    await audit(tx, ctx, now, {
      action: 'push.removed',
      targetType: 'contact_point',
      targetId: id,
      patientRef: patientRef(deps, ctx.tenantId, patientId),
      details: { reason },
    });
  return ids.length;
}

function checkInput(input: PushRegistrationInput): PushTarget {
  try {
    if (input.kind === 'webpush') {
      if (input.token !== undefined) throw new PushTargetInvalid('token: not for webpush');
      return { kind: 'webpush', subscription: checkSubscription(input.subscription) };
    }
    if (input.kind === 'fcm' || input.kind === 'apns') {
      if (input.subscription !== undefined) throw new PushTargetInvalid(`subscription: not for ${input.kind}`);
      return { kind: input.kind, token: checkToken(input.kind, input.token) };
    }
    throw new PushTargetInvalid('kind: one of webpush, fcm, apns');
  } catch (e) {
    if (e instanceof PushTargetInvalid) throw new AppError('SP_PUSH_INVALID_REGISTRATION', e.detail);
    throw e;
  }
}

function sameDevice(a: PushTarget, b: PushTarget): boolean {
  if (a.kind === 'webpush' && b.kind === 'webpush') return a.subscription.endpoint === b.subscription.endpoint;
  return a.kind === b.kind && a.kind !== 'webpush' && b.kind !== 'webpush' && a.token === b.token;
}

function serialiseStored(s: Stored): string {
  const target = JSON.parse(serialiseTarget(s.target)) as Record<string, unknown>;
  return JSON.stringify({ ...target, label: s.label, createdAt: s.createdAt });
}

function parseStored(value: string): Stored {
  const j = JSON.parse(value) as { label?: unknown; createdAt?: unknown };
  return {
    target: parseTarget(value),
    label: typeof j.label === 'string' ? j.label : null,
    createdAt: typeof j.createdAt === 'number' ? j.createdAt : 0,
  };
}

function viewOf(id: string, s: Stored): PushRegistrationView {
  return {
    id,
    kind: s.target.kind,
    label: s.label,
    service: s.target.kind === 'webpush' ? new URL(s.target.subscription.endpoint).host : null,
    createdAt: new Date(s.createdAt).toISOString(),
  };
}

const ctxOf = (r: PatientReader): RequestContext => ({
  tenantId: r.tenantId,
  actor: `patient-account:${r.accountId}`,
  requestId: r.requestId,
  sourceIp: r.sourceIp,
});
