import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef } from './context.js';
import { AppError } from './errors.js';
import type { StoreTx } from '../store/store.js';
import type { DeviceRow } from '../store/repositories/session-repository.js';
import type { DeviceRevocations } from './device-revocation.js';

export const DEVICE_PLATFORMS = ['ios', 'android', 'web', 'cli'] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

/** A person who owns devices: a staff user or a patient account (whose patient holds the data key). */
export interface DeviceOwner {
  tenantId: string;
  kind: 'user' | 'patient';
  /** User id or patient-account id: the subject `SessionService.revokeAll` revokes devices of. */
  id: string;
  patientId?: string;
  actor: string;
  requestId?: string;
  sourceIp?: string;
}

export interface DeviceView {
  id: string;
  platform: string;
  name: string;
  /** Whether a push token is held; the token itself is never returned. */
  hasPushToken: boolean;
  createdAt: string;
}

/** Live devices one person may hold; past it, registering asks to remove one first. */
export const MAX_DEVICES = 20;

/**
 * Device registrations of people (apps and their push tokens). Push tokens let anyone who holds
 * them address the device, and a device name is typed by a person ("Ana's phone"), so both are
 * encrypted at rest: under the patient's data key for patient accounts (erasure shreds them with
 * the rest), under a per-user data key (`data_keys.patient_id` = `user:<id>`) for staff. A remote
 * wipe (SessionService.revokeAll) revokes the rows and drops the tokens.
 */
export class DeviceService {
  constructor(
    private readonly deps: CoreDeps,
    /** Told inside the transaction of each revocation (messaging bindings); absent: nobody. */
    private readonly revocations?: DeviceRevocations,
  ) {}

  async register(
    o: DeviceOwner,
    input: { platform: DevicePlatform; name: string; pushToken?: string },
  ): Promise<DeviceView> {
    const { store, clock } = this.deps;
    const now = clock();
    const view = await store.transaction((tx) => this.registerInTx(tx, o, input, now));
    await store.durable();
    return view;
  }

  /** `register` in the caller's transaction (a messaging device commits with its MLS binding). */
  async registerInTx(
    tx: StoreTx,
    o: DeviceOwner,
    input: { platform: DevicePlatform; name: string; pushToken?: string },
    now: Date,
  ): Promise<DeviceView> {
    const { cipher, newId } = this.deps;
    const repo = tx.sessions;
    if ((await repo.liveDevices(o.tenantId, o.kind, o.id)).length >= MAX_DEVICES) throw new AppError('SP_DEVICE_LIMIT');
    const key = await this.ownerKey(tx, o, now.getTime());
    const id = newId();
    const ref = (field: string) => ({ tenantId: o.tenantId, table: 'devices', rowId: id, field });
    await repo.insertDevice({
      id,
      tenant_id: o.tenantId,
      subject_type: o.kind,
      subject_id: o.id,
      platform: input.platform,
      // A text column: the sealed name is kept as base64url.
      name: cipher.encrypt(key, ref('name'), input.name).toString('base64url'),
      push_token_ct: input.pushToken === undefined ? null : cipher.encrypt(key, ref('push_token'), input.pushToken),
      created_at: now.getTime(),
      revoked_at: null,
    });
    await audit(tx, ctxOf(o), now, {
      action: 'device.registered',
      targetType: 'device',
      targetId: id,
      patientRef: this.pref(o),
      details: { platform: input.platform, pushToken: input.pushToken !== undefined },
    });
    return {
      id,
      platform: input.platform,
      name: input.name,
      hasPushToken: input.pushToken !== undefined,
      createdAt: now.toISOString(),
    };
  }

  /** The owner's live devices, newest first, without push tokens. */
  async list(o: DeviceOwner): Promise<DeviceView[]> {
    const { store, cipher, clock } = this.deps;
    return store.transaction(async (tx) => {
      const rows = await tx.sessions.liveDevices(o.tenantId, o.kind, o.id);
      if (!rows.length) return [];
      const key = await this.ownerKey(tx, o, clock().getTime());
      return rows.map((d: DeviceRow) => ({
        id: d.id,
        platform: d.platform,
        name: cipher.decrypt(
          key,
          { tenantId: o.tenantId, table: 'devices', rowId: d.id, field: 'name' },
          Buffer.from(d.name, 'base64url'),
        ),
        hasPushToken: d.push_token_ct != null,
        createdAt: new Date(Number(d.created_at)).toISOString(),
      }));
    });
  }

  /** Revokes one of the owner's devices and drops its push token; another person's device is "not found". */
  async remove(o: DeviceOwner, id: string): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock();
    await store.transaction(async (tx) => {
      if (!(await tx.sessions.revokeDevice(o.tenantId, o.kind, o.id, id, now.getTime())))
        throw new AppError('SP_DEVICE_NOT_FOUND');
      await audit(tx, ctxOf(o), now, {
        action: 'device.revoked',
        targetType: 'device',
        targetId: id,
        patientRef: this.pref(o),
        details: { reason: 'removed_by_owner' },
      });
      await this.revocations?.revoked(tx, {
        tenantId: o.tenantId,
        owner: { kind: o.kind, id: o.id },
        deviceId: id,
        at: now.getTime(),
        actor: o.actor,
      });
    });
    await store.durable();
  }

  /** The patient's data key, or the user's (created on first use; KEK rotation re-wraps it like any other). */
  private async ownerKey(tx: StoreTx, o: DeviceOwner, now: number): Promise<Buffer> {
    const { cipher } = this.deps;
    if (o.kind === 'patient') {
      const key = o.patientId && (await patientDataKey(this.deps, tx, o.tenantId, o.patientId));
      if (!key) throw new AppError('SP_PATIENT_NOT_FOUND');
      return key;
    }
    const keyId = `user:${o.id}`;
    const existing = await patientDataKey(this.deps, tx, o.tenantId, keyId);
    if (existing) return existing;
    const dk = await cipher.newDataKey(o.tenantId, keyId);
    await tx.dataKeys.insert({
      tenant_id: o.tenantId,
      patient_id: keyId,
      key_id: dk.wrapped.keyId,
      wrapped: dk.wrapped.wrapped,
      created_at: now,
    });
    return dk.key;
  }

  private pref(o: DeviceOwner): string | null {
    return o.kind === 'patient' && o.patientId ? patientRef(this.deps, o.tenantId, o.patientId) : null;
  }
}

const ctxOf = (o: DeviceOwner): RequestContext => ({
  tenantId: o.tenantId,
  actor: o.actor,
  requestId: o.requestId,
  sourceIp: o.sourceIp,
});
